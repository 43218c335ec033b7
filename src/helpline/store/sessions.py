"""Agent login sessions (seed 002 "Login"): they expire, and each agent has a cap.

A login creates a session and revokes the agent's oldest live sessions beyond the cap, so old
sessions stop working once an agent has logged in more often than the limit. Only the token's
sha256 is stored (it is the primary key).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update

from helpline.store.base import Clock, SessionScope, hash_secret, new_secret, rowcount
from helpline.store.models import AgentSession
from helpline.store.tenants import require_tenant


@dataclass(frozen=True, slots=True)
class NewAgentSession:
    """A new session: `token` is shown this once; `revoked` older sessions fell to the cap."""

    token: str
    session: AgentSession
    revoked: int


class AgentSessionsRepository:
    def __init__(self, scope: SessionScope, clock: Clock) -> None:
        self._scope = scope
        self._clock = clock

    async def create_session(
        self, tenant_id: str, agent_id: str, *, ttl_s: float, max_live: int
    ) -> NewAgentSession:
        """Log an agent in for `ttl_s` seconds, keeping at most `max_live` live sessions.

        The new session always survives; the oldest of the others are revoked. Two logins of
        one agent at the same instant on PostgreSQL may leave one session above the cap until
        the next login.
        """
        if max_live < 1:
            raise ValueError("max_live must be at least 1")
        now = self._clock()
        token = new_secret("ses")
        token_hash = hash_secret(token)
        async with self._scope.begin() as s:
            await require_tenant(s, tenant_id)
            row = AgentSession(
                token_hash=token_hash,
                tenant_id=tenant_id,
                agent_id=agent_id,
                created_at=now,
                expires_at=now + ttl_s,
                revoked_at=None,
            )
            s.add(row)
            await s.flush()
            others = (
                select(AgentSession.token_hash)
                .where(
                    AgentSession.tenant_id == tenant_id,
                    AgentSession.agent_id == agent_id,
                    AgentSession.revoked_at.is_(None),
                    AgentSession.expires_at > now,
                    AgentSession.token_hash != token_hash,
                )
                .order_by(AgentSession.created_at.desc(), AgentSession.token_hash.desc())
                .offset(max_live - 1)
            )
            excess = list((await s.scalars(others)).all())
            if excess:
                await s.execute(
                    update(AgentSession)
                    .where(AgentSession.token_hash.in_(excess))
                    .values(revoked_at=now)
                    .execution_options(synchronize_session=False)
                )
        return NewAgentSession(token, row, len(excess))

    async def verify_session(self, token: str) -> AgentSession | None:
        """The session of `token` while it is live (not revoked, not expired); else None."""
        async with self._scope.begin() as s:
            row = await s.get(AgentSession, hash_secret(token))
        if row is None or row.revoked_at is not None or row.expires_at <= self._clock():
            return None
        return row

    async def list_sessions(self, tenant_id: str, agent_id: str) -> list[AgentSession]:
        """The agent's live sessions, newest first."""
        stmt = (
            select(AgentSession)
            .where(
                AgentSession.tenant_id == tenant_id,
                AgentSession.agent_id == agent_id,
                AgentSession.revoked_at.is_(None),
                AgentSession.expires_at > self._clock(),
            )
            .order_by(AgentSession.created_at.desc(), AgentSession.token_hash.desc())
        )
        async with self._scope.begin() as s:
            return list((await s.scalars(stmt)).all())

    async def revoke_session(self, tenant_id: str, token: str) -> bool:
        """Log out one session; False when it is not a live session of this tenant."""
        stmt = (
            update(AgentSession)
            .where(
                AgentSession.tenant_id == tenant_id,
                AgentSession.token_hash == hash_secret(token),
                AgentSession.revoked_at.is_(None),
            )
            .values(revoked_at=self._clock())
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            return bool(rowcount(await s.execute(stmt)))

    async def revoke_agent(self, tenant_id: str, agent_id: str) -> int:
        """Log an agent out everywhere; the number of live sessions revoked."""
        now = self._clock()
        stmt = (
            update(AgentSession)
            .where(
                AgentSession.tenant_id == tenant_id,
                AgentSession.agent_id == agent_id,
                AgentSession.revoked_at.is_(None),
                AgentSession.expires_at > now,
            )
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            return int(rowcount(await s.execute(stmt)))

    async def purge(self, before: float) -> int:
        """Delete sessions that expired or were revoked before `before` (housekeeping)."""
        stmt = delete(AgentSession).where(
            or_(AgentSession.expires_at < before, AgentSession.revoked_at < before)
        )
        async with self._scope.begin() as s:
            return int(rowcount(await s.execute(stmt)))
