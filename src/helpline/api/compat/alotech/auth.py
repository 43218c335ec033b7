"""Alo-Tech credentials on Helpline's own (seed 002 "Login"; seed 001 "Login").

- `app_token`: a Helpline application token (`POST /v1/app-tokens`); it names its tenant, so
  the tenant name of Alo-Tech's `tenantname.callcenterstudio.com` is not needed in the URL.
- `email`: the `email` of an agent in the tenant's center document.
- `session`: a Helpline agent login session (`helpline.store.sessions`), made by the same
  `agent_login` as `POST /v1/auth/login`: it lasts `session_ttl_s` (10 h, in the seed's
  8-12 h), and an agent's sessions beyond `sessions_per_agent` stop working ("Old sessions
  will not work above a certain limit").

Refusals answer the seeds' bodies with HTTP 200, as Alo-Tech does: `{"login": false, "message":
...}`. A session that no longer works answers the same shape, because the seed's recovery is
"renew the session and repeat the request, if the login parameter returns false".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from helpline.api.compat.alotech.params import text
from helpline.api.deps import Principal, ensure_runtime
from helpline.api.errors import VendorError
from helpline.api.state import AppState
from helpline.api.tenants import LoginRefused, agent_login

LOGIN_SUCCESSFUL = "Login Successful!"
USER_NOT_FOUND = "User not found"
INVALID_APP_TOKEN = "Invalid Application Token"
INVALID_SESSION = "Invalid Session"  # not worded by the seeds; the shape is seed 002's
LANGUAGE = "en"


def refused(message: str) -> VendorError:
    return VendorError(200, {"login": False, "message": message}, message=message)


async def login(state: AppState, query: Mapping[str, str]) -> dict[str, Any]:
    """`function=login&email=...&app_token=...` (seed 002 "Login")."""
    app_token = text(query, "app_token", max_length=500)
    if app_token is None:
        raise refused(INVALID_APP_TOKEN)
    email = text(query, "email", max_length=500) or ""
    try:
        session = await agent_login(state, email, app_token)
    except LoginRefused as refusal:
        raise refused(
            INVALID_APP_TOKEN if refusal.reason == "app_token" else USER_NOT_FOUND
        ) from None
    return {
        "login": True,
        "session": session.session,
        "message": LOGIN_SUCCESSFUL,
        "language": LANGUAGE,
    }


async def session_agent(state: AppState, query: Mapping[str, str]) -> Principal:
    """The agent whose live session is the `session` parameter."""
    token = text(query, "session", max_length=500)
    if token is None:
        raise refused(INVALID_SESSION)
    found = await state.store.sessions.verify_session(token)
    if found is None:
        raise refused(INVALID_SESSION)
    await ensure_runtime(state, found.tenant_id)
    return Principal(tenant_id=found.tenant_id, agent_id=found.agent_id)


async def reporting_tenant(state: AppState, query: Mapping[str, str]) -> str:
    """The tenant of the `app_token` parameter (seed 002 reportsCDRLogs), or of a `session`
    when no app token is given (seed 001: the session serves "other Public API" too)."""
    app_token = text(query, "app_token", max_length=500)
    if app_token is None and text(query, "session", max_length=500) is not None:
        return (await session_agent(state, query)).tenant_id
    if app_token is None:
        raise refused(INVALID_APP_TOKEN)
    token = await state.store.tenants.verify_app_token(app_token)
    if token is None:
        raise refused(INVALID_APP_TOKEN)
    await ensure_runtime(state, token.tenant_id)
    return token.tenant_id
