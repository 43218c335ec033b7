"""Who is calling: tenant API keys (HTTP Basic, seed 004) and agent tokens (Bearer).

- `Authorization: Basic base64(key_id:secret)`: a tenant API key; full access to the tenant.
- `Authorization: Bearer <jwt>`: a short-lived agent access token (seed 000 Step 3).
- `Authorization: Bearer <session>`: an agent login session (seed 002 "Login").
Wrong or missing credentials answer 401 the same way whatever was wrong, so nothing can be
learned about which keys or agents exist.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, cast

import jwt
from fastapi import Depends, Request

from helpline.api.errors import Forbidden, Unauthorized
from helpline.api.state import AppState

JWT_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    agent_id: str | None = None  # set for agent tokens and sessions

    @property
    def is_agent(self) -> bool:
        return self.agent_id is not None


def app_state_of(app: Any) -> AppState:
    return cast(AppState, app.state.helpline)


async def app_state(request: Request) -> AppState:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request
    return app_state_of(request.app)


def _unauthorized() -> Unauthorized:
    return Unauthorized(
        "missing or invalid credentials: use HTTP Basic with an API key and "
        "secret, or a Bearer agent token"
    )


async def principal(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Principal:
    return await resolve_principal(request.headers, state)


async def ensure_runtime(state: AppState, tenant_id: str) -> None:
    """A tenant created while the server runs (`helpline tenant create`) starts on first use."""
    hub = getattr(state, "hub", None)  # None in an app of a few routers with no runtime
    if hub is None or tenant_id in hub.tenants:
        return
    if await state.store.tenants.get_tenant(tenant_id) is None:
        return
    found = await state.store.configs.get_config(tenant_id)
    if tenant_id not in hub.tenants:  # another request may have started it meanwhile
        hub.start_tenant(tenant_id, dict(found.document) if found else None)


async def resolve_principal(headers: Mapping[str, str], state: AppState) -> Principal:
    who = await _resolve_principal(headers, state)
    await ensure_runtime(state, who.tenant_id)
    return who


async def _resolve_principal(headers: Mapping[str, str], state: AppState) -> Principal:
    header = headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized() from None
        key_id, sep, secret = decoded.partition(":")
        if not sep:
            raise _unauthorized()
        key = await state.store.tenants.verify_api_key(key_id, secret)
        if key is None:
            raise _unauthorized()
        return Principal(tenant_id=key.tenant_id)
    if scheme == "bearer" and value:
        if value.count(".") == 2:  # a JWT
            try:
                claims = jwt.decode(
                    value,
                    state.jwt_secret,
                    algorithms=[JWT_ALGORITHM],
                    options={"require": ["exp", "sub", "tenant"]},
                )
            except jwt.PyJWTError:
                raise _unauthorized() from None
            return Principal(tenant_id=str(claims["tenant"]), agent_id=str(claims["sub"]))
        session = await state.store.sessions.verify_session(value)
        if session is None:
            raise _unauthorized()
        return Principal(tenant_id=session.tenant_id, agent_id=session.agent_id)
    raise _unauthorized()


async def api_key_only(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.is_agent:
        raise Forbidden("this needs a tenant API key, not an agent token")
    return who
