"""What the Alo-Tech tests share: the one endpoint, a login, the seed's field lists."""

from __future__ import annotations

from typing import Any

import httpx
from api_support import Api, ok

API = "/compat/alotech/api/"

# seed 002 "Post Body That Goes to Hangup_url", in the seed's order
HANGUP_FIELDS = [
    "project",
    "action",
    "tenant",
    "url",
    "call_date",
    "agent_username",
    "transaction_id",
    "disposition",
    "duration",
    "called_num",
    "caller_id",
    "call_id",
]
SEED_DATE = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"  # 2020-02-24 19:07:34


async def alo(client: httpx.AsyncClient, **params: str) -> httpx.Response:
    """GET /compat/alotech/api/ with these query parameters (no credentials header)."""
    return await client.get(API, params=params)


async def alo_ok(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    body: dict[str, Any] = ok(await alo(client, **params))
    return body


async def login(api: Api, email: str = "alice@example.com") -> str:
    """A session of the agent with this e-mail, through `function=login`."""
    body = await alo_ok(api.anonymous, function="login", email=email, app_token=api.acme.app_token)
    assert body["login"] is True, body
    session: str = body["session"]
    return session
