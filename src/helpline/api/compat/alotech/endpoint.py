"""`GET /compat/alotech/api/?function=...`: Alo-Tech's one endpoint (seeds 001 and 002).

Alo-Tech serves every function at `https://[tenantname].callcenterstudio.com/api/`, chosen by
the `function` parameter, all with `Method: Get`. A CRM moves to Helpline by replacing that
base with `<helpline>/compat/alotech/api/`; the tenant comes from the `app_token` or the
`session`, not from a subdomain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from helpline.api.compat.alotech.auth import login
from helpline.api.compat.alotech.cdr import reports_cdr_logs
from helpline.api.compat.alotech.click2call import click2call
from helpline.api.compat.alotech.params import BadParameter, text
from helpline.api.compat.alotech.softphone import softphone
from helpline.api.deps import app_state
from helpline.api.state import AppState

router = APIRouter()

Function = Callable[[AppState, Mapping[str, str]], Awaitable[dict[str, Any]]]

FUNCTIONS: dict[str, Function] = {
    "login": login,
    "click2call": click2call,
    "reportsCDRLogs": reports_cdr_logs,
    "softphone": softphone,
}


@router.get("/api/")
@router.get("/api", include_in_schema=False)
async def alotech_api(
    request: Request, state: Annotated[AppState, Depends(app_state)]
) -> dict[str, Any]:
    query = request.query_params
    name = text(query, "function", max_length=100, required=True)
    assert name is not None
    handler = FUNCTIONS.get(name)
    if handler is None:
        known = ", ".join(FUNCTIONS)
        raise BadParameter("function", f"unknown function {name!r}; one of {known}")
    return await handler(state, query)
