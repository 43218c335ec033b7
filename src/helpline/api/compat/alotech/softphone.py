"""The Generic Softphone SSO address (seed 002 "Generic Softphone SSO").

A CRM embeds Alo-Tech's softphone as an iframe on
`https://softphone.alo-tech.com/generic/sso/?tenant=TENANTNAME&session=SESSION`. On Helpline
the same address is `<base>/compat/alotech/generic/sso/?tenant=TENANT_ID&session=SESSION`:
it checks that `session` is a live login session (from `function=login`) of that tenant and
sends the browser on (303) to Helpline's softphone page, `/softphone?tenant=...&session=...`,
which authenticates with the same session (`verify_sso`: the page's own check, for whoever
opens it directly).

`function=softphone&session=...` answers the SSO address of a session, so a CRM need not
build it: `{"success": true, "url": "..."}`.
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


def base_url_of(state: AppState, request: Request) -> str:
    """How clients reach this server: `public_url` when set, else as this request did."""
    return state.settings.public_url or str(request.base_url)


async def softphone(state: AppState, query: Mapping[str, str], request: Request) -> dict[str, Any]:
    """`function=softphone&session=...`: the session's SSO address."""
    who = await session_agent(state, query)
    session = required(query, "session", max_length=500)
    url = sso_address(base_url_of(state, request), who.tenant_id, session)
    return {"success": True, "url": url}


@router.get(SSO_PATH)
async def generic_sso(
    request: Request, state: Annotated[AppState, Depends(app_state)]
) -> RedirectResponse:
    query = request.query_params
    who = await verify_sso(state, query)
    session = required(query, "session", max_length=500)
    return RedirectResponse(softphone_address(who.tenant_id, session), status_code=303)
