"""What the Stringee tests share: keys, access tokens as Stringee documents them, clients."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from api_support import Api, ok

PREFIX = "/compat/stringee"


@dataclass
class StringeeKey:
    sid: str
    secret: str
    project_id: int


async def new_key(api: Api, native: httpx.AsyncClient | None = None, **body: Any) -> StringeeKey:
    """A Stringee API key of the test's tenant (`acme`, or the tenant of the `native` client),
    made with its native credentials."""
    found = ok(await (native or api.client).post(f"{PREFIX}/v1/keys", json=body), 201)
    assert found["r"] == 0, found
    return StringeeKey(found["sid"], found["secret"], found["project"])


def token(
    key: StringeeKey,
    *,
    ttl_s: float = 3600,
    secret: str | None = None,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """An access token as Stringee's "REST API authentication" builds it."""
    payload: dict[str, Any] = {
        "jti": f"{key.sid}-{uuid.uuid4().hex[:8]}",
        "iss": key.sid,
        "exp": int(time.time() + ttl_s),
        "rest_api": True,
    }
    payload.update(claims)
    headers = {"typ": "JWT", "alg": "HS256", "cty": "stringee-api;v=1"}
    headers.update(header or {})
    return jwt.encode(payload, secret or key.secret, algorithm="HS256", headers=headers)


async def stringee_client(
    api: Api, native: httpx.AsyncClient | None = None, **body: Any
) -> tuple[httpx.AsyncClient, StringeeKey]:
    """A client that sends a valid project token in `X-STRINGEE-AUTH`, and its key."""
    key = await new_key(api, native, **body)
    return api.client_for({"X-STRINGEE-AUTH": token(key)}), key


def good(response: httpx.Response) -> dict[str, Any]:
    """A success answer: HTTP 200 and `r: 0`."""
    body: dict[str, Any] = ok(response)
    assert body["r"] == 0, body
    assert isinstance(body["message"], str)
    return body


def bad(response: httpx.Response, status: int, r: int, *names: str) -> dict[str, Any]:
    """A failure in Stringee's shape, whose message names each of `names`."""
    assert response.status_code == status, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert set(body) == {"r", "message"}, body
    assert body["r"] == r, body
    for name in names:
        assert name in body["message"], (name, body)
    return body
