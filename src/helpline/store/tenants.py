"""Tenants and their credentials: API keys (seed 004) and application tokens (seed 002).

Secrets are 256-bit random tokens shown once, at creation; only their sha256 is stored and
compared in constant time. Lookups by credential (`verify_*`) are the one kind of read that
does not start from a tenant: they are how a request finds its tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.core.errors import Conflict, NotFound
from helpline.store.base import (
    Clock,
    SessionScope,
    hash_secret,
    new_id,
    new_secret,
    rowcount,
    secret_matches,
)
from helpline.store.models import ApiKey, AppToken, Tenant


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A new API key: `secret` is shown this once and never stored."""

    key_id: str
    secret: str
    key: ApiKey


@dataclass(frozen=True, slots=True)
class NewAppToken:
    """A new application token: `token` is shown this once and never stored."""

    token: str
    app_token: AppToken


async def require_tenant(s: AsyncSession, tenant_id: str) -> Tenant:
    tenant = await s.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id!r} not found", details={"tenant_id": tenant_id})
    return tenant


class TenantsRepository:
    def __init__(self, scope: SessionScope, clock: Clock) -> None:
        self._scope = scope
        self._clock = clock

    # -- tenants -----------------------------------------------------------------------------

    async def create_tenant(self, name: str, *, tenant_id: str | None = None) -> Tenant:
        """A new tenant; `Conflict` when `tenant_id` is taken."""
        values = {"id": tenant_id or new_id("ten"), "name": name, "created_at": self._clock()}
        stmt = self._scope.insert(Tenant).values(values).on_conflict_do_nothing()
        async with self._scope.begin() as s:
            if not rowcount(await s.execute(stmt)):
                raise Conflict(
                    f"tenant {values['id']!r} exists", details={"tenant_id": values["id"]}
                )
            tenant = await s.get(Tenant, values["id"])
            assert tenant is not None
            return tenant

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        async with self._scope.begin() as s:
            return await s.get(Tenant, tenant_id)

    async def list_tenants(self) -> list[Tenant]:
        async with self._scope.begin() as s:
            return list((await s.scalars(select(Tenant).order_by(Tenant.id))).all())

    async def delete_tenant(self, tenant_id: str) -> bool:
        """Delete a tenant and, by cascade, everything it owns."""
        stmt = delete(Tenant).where(Tenant.id == tenant_id)
        async with self._scope.begin() as s:
            return bool(rowcount(await s.execute(stmt)))

    # -- API keys (HTTP Basic: key id as the user, secret as the password) -------------------

    async def create_api_key(self, tenant_id: str, label: str = "") -> NewApiKey:
        secret = new_secret("sk")
        async with self._scope.begin() as s:
            await require_tenant(s, tenant_id)
            key = ApiKey(
                id=new_id("key"),
                tenant_id=tenant_id,
                secret_hash=hash_secret(secret),
                label=label,
                created_at=self._clock(),
                revoked_at=None,
            )
            s.add(key)
            await s.flush()
        return NewApiKey(key.id, secret, key)

    async def verify_api_key(self, key_id: str, secret: str) -> ApiKey | None:
        """The key when `secret` is its secret and it is not revoked; None otherwise."""
        async with self._scope.begin() as s:
            key = await s.get(ApiKey, key_id)
        if key is None or key.revoked_at is not None:
            return None
        return key if secret_matches(secret, key.secret_hash) else None

    async def get_api_key(self, tenant_id: str, key_id: str) -> ApiKey | None:
        stmt = select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id)
        async with self._scope.begin() as s:
            return (await s.scalars(stmt)).one_or_none()

    async def list_api_keys(self, tenant_id: str) -> list[ApiKey]:
        stmt = (
            select(ApiKey)
            .where(ApiKey.tenant_id == tenant_id)
            .order_by(ApiKey.created_at, ApiKey.id)
        )
        async with self._scope.begin() as s:
            return list((await s.scalars(stmt)).all())

    async def revoke_api_key(self, tenant_id: str, key_id: str) -> bool:
        """Revoke a live key; False when there is no such live key in this tenant."""
        stmt = (
            update(ApiKey)
            .where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=self._clock())
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            return bool(rowcount(await s.execute(stmt)))

    # -- application tokens (with an agent's e-mail they log the agent in) -------------------

    async def create_app_token(self, tenant_id: str, label: str = "") -> NewAppToken:
        token = new_secret("apt")
        async with self._scope.begin() as s:
            await require_tenant(s, tenant_id)
            row = AppToken(
                id=new_id("tok"),
                tenant_id=tenant_id,
                token_hash=hash_secret(token),
                label=label,
                created_at=self._clock(),
                revoked_at=None,
            )
            s.add(row)
            await s.flush()
        return NewAppToken(token, row)

    async def verify_app_token(self, token: str) -> AppToken | None:
        """The live token whose hash matches; its `tenant_id` names the tenant to log in to."""
        stmt = select(AppToken).where(AppToken.token_hash == hash_secret(token))
        async with self._scope.begin() as s:
            row = (await s.scalars(stmt)).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        return row

    async def list_app_tokens(self, tenant_id: str) -> list[AppToken]:
        stmt = (
            select(AppToken)
            .where(AppToken.tenant_id == tenant_id)
            .order_by(AppToken.created_at, AppToken.id)
        )
        async with self._scope.begin() as s:
            return list((await s.scalars(stmt)).all())

    async def revoke_app_token(self, tenant_id: str, token_id: str) -> bool:
        stmt = (
            update(AppToken)
            .where(
                AppToken.tenant_id == tenant_id,
                AppToken.id == token_id,
                AppToken.revoked_at.is_(None),
            )
            .values(revoked_at=self._clock())
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            return bool(rowcount(await s.execute(stmt)))
