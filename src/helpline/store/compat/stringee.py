"""Tables of the /compat/stringee API (issue 5, seed 000): projects, API keys, id mappings.

- A Stringee *project* is a Helpline tenant: one row per tenant, with the integer project id
  Stringee puts in every answer (`"project": 246`) and in the `get_list_agents_url` body
  (seed 000 Step 5a `projectId`), the project's event URL and its `callout_answer_url`
  (seed 000 Step 6).
- A Stringee *API key* (sid + secret) signs the JWT access tokens of the REST API with
  HMAC-SHA256. Verifying an HMAC needs the secret itself, so unlike Helpline's own API keys
  (stored as hashes) the secret is kept in clear, in a table of its own.
- *Ids*: Stringee answers a create with ids of its own (`agentID`, `numberID`, ...). A row per
  resource maps that id onto the center document's id (`ref`) and keeps the Stringee fields
  the center document has no place for (`extra`: a number's nickname, a node's voice, ...).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, UniqueConstraint, delete, func, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from helpline.core.errors import Conflict, NotFound
from helpline.store.base import Clock, SessionScope, rowcount
from helpline.store.models import Base, BigId, Text


class StringeeProject(Base):
    """A tenant's Stringee project: its integer id and where its call events go."""

    __tablename__ = "stringee_projects"

    project_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), unique=True
    )
    event_url: Mapped[str | None] = mapped_column(Text)
    callout_answer_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float]


class StringeeKey(Base):
    """An API key sid and its secret (in clear: it verifies HMAC signatures)."""

    __tablename__ = "stringee_keys"

    sid: Mapped[str] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    secret: Mapped[str]
    label: Mapped[str]
    created_at: Mapped[float]
    revoked_at: Mapped[float | None]


class StringeeId(Base):
    """One Stringee id of a tenant's resource of one kind, and the center document's id."""

    __tablename__ = "stringee_ids"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "ref"),
        Index(None, "tenant_id", "kind", "created_at"),
    )

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(primary_key=True)
    stringee_id: Mapped[str] = mapped_column(primary_key=True)
    ref: Mapped[str]
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float]


@dataclass(frozen=True, slots=True)
class NewStringeeKey:
    """A new key: `secret` is shown this once (it is kept, but never listed)."""

    sid: str
    secret: str
    project_id: int


_ID_ALPHABET = string.ascii_uppercase + string.digits


def stringee_id(prefix: str) -> str:
    """An id in Stringee's style: `AG_X7K2...` (16 characters, ~82 bits)."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


class StringeeRepository:
    """Projects, keys and id mappings; every read but the key lookup filters by tenant."""

    def __init__(self, scope: SessionScope, clock: Clock) -> None:
        self._scope = scope
        self._clock = clock

    # -- projects and keys --------------------------------------------------------------------

    async def ensure_project(
        self, tenant_id: str, project_id: int | None = None
    ) -> StringeeProject:
        """The tenant's project, created on first use: with `project_id` (a business keeps
        its Stringee project id) or the next integer. `Conflict` when another tenant has it."""
        async with self._scope.begin() as s:
            found = await s.scalar(
                select(StringeeProject).where(StringeeProject.tenant_id == tenant_id)
            )
            if found is not None:
                return found
            if project_id is None:  # explicit ids: no sequence to fall behind explicit ones
                project_id = int(await s.scalar(select(func.max(StringeeProject.project_id))) or 0)
                project_id += 1
            elif await s.get(StringeeProject, project_id) is not None:
                raise Conflict(
                    f"project_id {project_id} belongs to another tenant",
                    details={"field": "project_id"},
                )
            stmt = (
                self._scope.insert(StringeeProject)
                .values(
                    project_id=project_id,
                    tenant_id=tenant_id,
                    event_url=None,
                    callout_answer_url=None,
                    created_at=self._clock(),
                )
                .on_conflict_do_nothing()
            )
            await s.execute(stmt)
            found = await s.scalar(
                select(StringeeProject).where(StringeeProject.tenant_id == tenant_id)
            )
            if found is None:
                raise Conflict(
                    "project_id taken meanwhile: try again", details={"field": "project_id"}
                )
            return found

    async def get_project(self, tenant_id: str) -> StringeeProject | None:
        stmt = select(StringeeProject).where(StringeeProject.tenant_id == tenant_id)
        async with self._scope.begin() as s:
            return await s.scalar(stmt)

    async def list_projects(self) -> list[StringeeProject]:
        async with self._scope.begin() as s:
            return list((await s.scalars(select(StringeeProject))).all())

    async def update_project(self, tenant_id: str, **urls: str | None) -> StringeeProject:
        """Set the project's `event_url` and/or `callout_answer_url` (None clears one)."""
        unknown = set(urls) - {"event_url", "callout_answer_url"}
        if unknown:
            raise ValueError(f"not a project setting: {sorted(unknown)}")
        project = await self.ensure_project(tenant_id)
        if urls:
            stmt = (
                update(StringeeProject)
                .where(StringeeProject.tenant_id == tenant_id)
                .values(**urls)
                .execution_options(synchronize_session=False)
            )
            async with self._scope.begin() as s:
                await s.execute(stmt)
        for name, value in urls.items():
            setattr(project, name, value)
        return project

    async def create_key(
        self, tenant_id: str, label: str, *, project_id: int | None = None
    ) -> NewStringeeKey:
        """A new key sid (`SK...`) and secret for the tenant's project (created if needed)."""
        project = await self.ensure_project(tenant_id, project_id)
        sid = "SK" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(30))
        secret = secrets.token_urlsafe(32)
        row = StringeeKey(
            sid=sid,
            tenant_id=tenant_id,
            secret=secret,
            label=label,
            created_at=self._clock(),
            revoked_at=None,
        )
        async with self._scope.begin() as s:
            s.add(row)
        return NewStringeeKey(sid=sid, secret=secret, project_id=project.project_id)

    async def find_key(self, sid: str) -> StringeeKey | None:
        """The live key with this sid, of whichever tenant: how a token finds its tenant."""
        stmt = select(StringeeKey).where(StringeeKey.sid == sid, StringeeKey.revoked_at.is_(None))
        async with self._scope.begin() as s:
            return await s.scalar(stmt)

    async def revoke_key(self, tenant_id: str, sid: str) -> None:
        stmt = (
            update(StringeeKey)
            .where(
                StringeeKey.tenant_id == tenant_id,
                StringeeKey.sid == sid,
                StringeeKey.revoked_at.is_(None),
            )
            .values(revoked_at=self._clock())
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            if not rowcount(await s.execute(stmt)):
                raise NotFound(f"key {sid} not found", details={"field": "sid"})

    # -- id mappings --------------------------------------------------------------------------

    async def get_id(self, tenant_id: str, kind: str, sid: str) -> StringeeId | None:
        async with self._scope.begin() as s:
            return await s.get(StringeeId, (tenant_id, kind, sid), populate_existing=True)

    async def list_ids(self, tenant_id: str, kind: str) -> list[StringeeId]:
        stmt = (
            select(StringeeId)
            .where(StringeeId.tenant_id == tenant_id, StringeeId.kind == kind)
            .order_by(StringeeId.created_at, StringeeId.stringee_id)
        )
        async with self._scope.begin() as s:
            return list((await s.scalars(stmt)).all())

    async def put_id(
        self, tenant_id: str, kind: str, sid: str, ref: str, extra: dict[str, Any]
    ) -> StringeeId:
        """Map `sid` onto `ref`; a mapping of the same `ref` (e.g. left by a native delete
        and create) is replaced, so each document item has one Stringee id."""
        async with self._scope.begin() as s:
            await s.execute(
                delete(StringeeId).where(
                    StringeeId.tenant_id == tenant_id,
                    StringeeId.kind == kind,
                    or_(StringeeId.ref == ref, StringeeId.stringee_id == sid),
                )
            )
            row = StringeeId(
                tenant_id=tenant_id,
                kind=kind,
                stringee_id=sid,
                ref=ref,
                extra=dict(extra),
                created_at=self._clock(),
            )
            s.add(row)
        return row

    async def adopt(self, tenant_id: str, kind: str, ref: str, sid: str) -> None:
        """Give `ref` the id `sid` unless it has one (listing what the native API made)."""
        stmt = (
            self._scope.insert(StringeeId)
            .values(
                tenant_id=tenant_id,
                kind=kind,
                stringee_id=sid,
                ref=ref,
                extra={},
                created_at=self._clock(),
            )
            .on_conflict_do_nothing()
        )
        async with self._scope.begin() as s:
            await s.execute(stmt)

    async def update_id(
        self, tenant_id: str, kind: str, sid: str, *, ref: str, extra: dict[str, Any]
    ) -> None:
        stmt = (
            update(StringeeId)
            .where(
                StringeeId.tenant_id == tenant_id,
                StringeeId.kind == kind,
                StringeeId.stringee_id == sid,
            )
            .values(ref=ref, extra=dict(extra))
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            await s.execute(stmt)

    async def delete_id(self, tenant_id: str, kind: str, sid: str) -> None:
        stmt = delete(StringeeId).where(
            StringeeId.tenant_id == tenant_id,
            StringeeId.kind == kind,
            StringeeId.stringee_id == sid,
        )
        async with self._scope.begin() as s:
            await s.execute(stmt)

    async def delete_ref(self, tenant_id: str, kind: str, ref: str) -> None:
        """Forget the Stringee id of a document item that is gone."""
        stmt = delete(StringeeId).where(
            StringeeId.tenant_id == tenant_id, StringeeId.kind == kind, StringeeId.ref == ref
        )
        async with self._scope.begin() as s:
            await s.execute(stmt)
