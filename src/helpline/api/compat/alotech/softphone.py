"""The Generic Softphone SSO address (seed 002 "Generic Softphone SSO").

A CRM embeds Alo-Tech's softphone as an iframe on
`https://softphone.alo-tech.com/generic/sso/?tenant=TENANTNAME&session=SESSION`. On Helpline
the same address is `<base>/compat/alotech/generic/sso/?tenant=TENANT_ID&session=SESSION`:
it checks that `session` is a live login session (from `function=login`) of that tenant
(`verify_sso`) and sends the browser on (303) to Helpline's softphone page,
`/softphone?tenant=...&session=...` (served by `helpline.api.web`). The page does not call
`verify_sso`: its script (`web/softphone.js`) sends the session as a Bearer token to
`GET /v1/web/me`, where `api.deps.resolve_principal` checks it with the same
`store.sessions.verify_session` as `session_agent` here, and refuses to run unless the
answer's tenant is the page's `tenant`. Both checks accept the same sessions.

`function=softphone&session=...` answers the SSO address of a session, so a CRM need not
build it: `{"success": true, "url": "..."}`. The address is absolute on the configured
`public_url`, else on `host:port` (`Settings.base_url`) unless that is a wildcard address,
else relative; never built from the request's Host header, which a client chooses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from helpline.api.compat.alotech.auth import INVALID_SESSION, refused, session_agent
from helpline.api.compat.alotech.params import required
from helpline.api.deps import Principal, app_state
from helpline.api.state import AppState

PREFIX = "/compat/alotech"
SSO_PATH = "/generic/sso/"
SOFTPHONE_PATH = "/softphone"

router = APIRouter()


def sso_address(base_url: str, tenant_id: str, session: str) -> str:
    """The SSO address of an agent's session, as Alo-Tech's iframe `src` takes it."""
    query = urlencode({"tenant": tenant_id, "session": session})
    return f"{base_url.rstrip('/')}{PREFIX}{SSO_PATH}?{query}"


def softphone_address(tenant_id: str, session: str) -> str:
    """Where the SSO address leads: Helpline's softphone page, signed in by the session."""
    return f"{SOFTPHONE_PATH}?{urlencode({'tenant': tenant_id, 'session': session})}"


async def verify_sso(state: AppState, query: Mapping[str, str]) -> Principal:
    """The agent of an SSO address's `tenant` and `session`; `{"login": false, ...}` (200)
    when the session is not live or is another tenant's; 400 naming a missing parameter."""
    tenant = required(query, "tenant", max_length=200)
    required(query, "session", max_length=500)
    who = await session_agent(state, query)
    if who.tenant_id != tenant:
        raise refused(INVALID_SESSION)  # the same answer: nothing learned about other tenants
    return who


_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def base_url_of(state: AppState) -> str:
    """How clients reach this server, as configured: `public_url`, else `host:port` unless
    the server listens on every address (then "": the address is relative)."""
    settings = state.settings
    if settings.public_url:
        return settings.public_url
    return "" if settings.host in _WILDCARDS else settings.base_url()


async def softphone(state: AppState, query: Mapping[str, str]) -> dict[str, Any]:
    """`function=softphone&session=...`: the session's SSO address."""
    who = await session_agent(state, query)
    session = required(query, "session", max_length=500)
    url = sso_address(base_url_of(state), who.tenant_id, session)
    return {"success": True, "url": url}


@router.get(SSO_PATH)
async def generic_sso(
    request: Request, state: Annotated[AppState, Depends(app_state)]
) -> RedirectResponse:
    query = request.query_params
    who = await verify_sso(state, query)
    session = required(query, "session", max_length=500)
    return RedirectResponse(softphone_address(who.tenant_id, session), status_code=303)
