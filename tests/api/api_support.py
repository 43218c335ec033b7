"""What the API tests share: a running app over a real store, credentials, call helpers.

A module of its own, not `conftest`: test modules import it by name. `run_server` seeds tenants
(API key, application token, center document) through `Store`, then runs the app: with its
lifespan entered by hand (`httpx.ASGITransport` does not run it), or, with `serve=True`, under
uvicorn on 127.0.0.1 (an ephemeral port) for websocket clients. Requests go in-process over
`httpx.ASGITransport` either way.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

import pg_backend
from helpline.api.app import create_app
from helpline.cli import demo_document
from helpline.settings import Settings
from helpline.store import Store
from helpline.store.facade import Repositories

T = TypeVar("T")

JWT_SECRET = "api-tests-jwt-secret-of-at-least-32-bytes"
HOTLINE = "+18005550100"  # the demo's IVR: 1 English (1 sales_en, 2 support), 2 Spanish
SUPPORT_LINE = "+18005550199"  # the demo's direct line to the support queue (wrap-up on)
SESSIONS_PER_AGENT = 2  # the shared apps' cap: small, so the auth tests see it at work
WAIT_S = 5.0  # the longest any poll waits for something that must happen


# -- credentials --------------------------------------------------------------------------------


def basic(key_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@dataclass
class TenantCreds:
    tenant_id: str
    key_id: str
    secret: str
    app_token: str

    @property
    def headers(self) -> dict[str, str]:
        return basic(self.key_id, self.secret)


# -- center documents ---------------------------------------------------------------------------


def demo() -> dict[str, Any]:
    """A fresh copy of the demo center (seed 000 section 1)."""
    return copy.deepcopy(demo_document())


def demo_with(**queues: Mapping[str, Any]) -> dict[str, Any]:
    """The demo center with some fields of some queues changed: `demo_with(sales_en={...})`."""
    document = demo()
    for queue in document["queues"]:
        queue.update(queues.get(queue["id"], {}))
    return document


def agent_doc(document: Mapping[str, Any], agent_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in document["agents"] if a["id"] == agent_id)
    return found


# -- the running app ----------------------------------------------------------------------------


@dataclass
class Server:
    """One running app over a real store, with tenants seeded before it started.

    Each test takes a pair of fresh tenants from `pool`; tenants are isolated, so the tests
    of a module share the app and none sees another's calls, records or agents.
    """

    app: FastAPI
    database_url: str
    server_url: str | None  # where uvicorn listens (with `serve=True`), for websockets
    pool: list[tuple[TenantCreds, TenantCreds]]

    def take(self) -> tuple[TenantCreds, TenantCreds]:
        if not self.pool:
            raise AssertionError("the tenant pool is used up")
        return self.pool.pop(0)


@dataclass
class Api:
    """What one test drives: its two tenants and their clients on the running app.

    `client` speaks for tenant `acme` (HTTP Basic; the demo center), `other` for the second
    tenant (no center unless seeded with one); `anonymous` sends no credentials.
    """

    server: Server
    acme: TenantCreds
    second: TenantCreds
    client: httpx.AsyncClient
    other: httpx.AsyncClient
    anonymous: httpx.AsyncClient
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def app(self) -> FastAPI:
        return self.server.app

    def client_for(self, headers: Mapping[str, str]) -> httpx.AsyncClient:
        """Another client on the same app with these headers (closed after the test)."""
        created = _client(self.app, dict(headers))
        self._clients.append(created)
        return created

    @property
    def ws_url(self) -> str:
        assert self.server.server_url is not None, "websockets need serve=True"
        return self.server.server_url.replace("http://", "ws://", 1) + "/v1/events"


def _client(app: FastAPI, headers: dict[str, str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
    )


async def seed_tenant(
    store: Repositories, tenant_id: str, document: Mapping[str, Any] | None
) -> TenantCreds:
    await store.tenants.create_tenant(f"Tenant {tenant_id}", tenant_id=tenant_id)
    key = await store.tenants.create_api_key(tenant_id, "tests")
    token = await store.tenants.create_app_token(tenant_id, "tests")
    if document is not None:
        await store.configs.put_config(tenant_id, dict(document))
    return TenantCreds(tenant_id, key.key_id, key.secret, token.token)


@contextlib.asynccontextmanager
async def run_server(
    database_url: str,
    *,
    pairs: int = 1,
    document: Mapping[str, Any] | None = None,
    other_document: Mapping[str, Any] | None = None,
    serve: bool = False,
    **settings: Any,
) -> AsyncIterator[Server]:
    """Seed `pairs` pairs of tenants (the first of each with `document`, default the demo
    center; the second with `other_document`, default none), then run the app: its lifespan
    entered by hand, or under uvicorn on 127.0.0.1 with `serve=True`."""
    store = await Store.open(database_url)
    pool = []
    try:
        async with store.transaction() as tx:  # one transaction: quick on both backends
            for _ in range(pairs):
                suffix = uuid.uuid4().hex[:8]
                acme = await seed_tenant(tx, f"acme-{suffix}", document or demo())
                second = await seed_tenant(tx, f"other-{suffix}", other_document)
                pool.append((acme, second))
    finally:
        await store.close()
    settings.setdefault("outbox_poll_s", 0.05)
    app = create_app(Settings(database_url=database_url, jwt_secret=JWT_SECRET, **settings))
    if serve:
        async with _uvicorn(app) as server_url:
            yield Server(app, database_url, server_url, pool)
    else:
        async with app.router.lifespan_context(app):
            yield Server(app, database_url, None, pool)


@contextlib.asynccontextmanager
async def open_api(server: Server) -> AsyncIterator[Api]:
    """A fresh pair of tenants of the running app, with their clients."""
    acme, second = server.take()
    api = Api(
        server=server,
        acme=acme,
        second=second,
        client=_client(server.app, acme.headers),
        other=_client(server.app, second.headers),
        anonymous=_client(server.app, {}),
    )
    try:
        yield api
    finally:
        for client in (api.client, api.other, api.anonymous, *api._clients):
            await client.aclose()


@contextlib.asynccontextmanager
async def _uvicorn(app: FastAPI) -> AsyncIterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await poll(lambda: _started(server, task), what="uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()  # raises what failed the start
        raise AssertionError("uvicorn stopped while starting")
    return server.started


# -- waiting ------------------------------------------------------------------------------------


async def poll(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = WAIT_S,
    what: str = "a condition",
) -> T:
    """Call `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


# -- calls --------------------------------------------------------------------------------------


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else None


def error_of(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The `{"error": {code, message, details}}` body of a failed request, checked."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], dict)
    if code is not None:
        assert error["code"] == code, error
    return error


def field_paths(error: Mapping[str, Any]) -> list[str]:
    return [str(f["path"]) for f in error["details"]["fields"]]


async def device(
    client: httpx.AsyncClient,
    agent_id: str,
    *,
    auto_answer: bool = True,
    answer_delay_s: float = 0.0,
    reject: bool = False,
) -> dict[str, Any]:
    """Register a sandbox device: the agent is online and its offers ring there."""
    body = {"auto_answer": auto_answer, "answer_delay_s": answer_delay_s, "reject": reject}
    found: dict[str, Any] = ok(await client.put(f"/v1/sandbox/devices/{agent_id}", json=body))
    return found


async def place(
    client: httpx.AsyncClient,
    to: str = HOTLINE,
    digits: str | None = None,
    *,
    from_number: str = "+15551110000",
    call_id: str | None = None,
) -> str:
    """A sandbox call to `to`; `digits` pressed once it is in the IVR. Returns its id."""
    body: dict[str, Any] = {"to": to, "from": from_number}
    if call_id is not None:
        body["call_id"] = call_id
    placed = ok(await client.post("/v1/sandbox/calls", json=body), 201)
    call_id = str(placed["call_id"])
    if digits:
        ok(await client.post(f"/v1/sandbox/calls/{call_id}/keys", json={"digits": digits}))
    return call_id


async def put_document(client: httpx.AsyncClient, document: Mapping[str, Any]) -> int:
    """Replace the tenant's center document (PUT /v1/config); its new version."""
    version: int = ok(await client.put("/v1/config", json=document))["version"]
    return version


async def live(client: httpx.AsyncClient, call_id: str) -> dict[str, Any] | None:
    """The live call, or None once it has ended."""
    response = await client.get(f"/v1/calls/{call_id}")
    if response.status_code == 404:
        return None
    found: dict[str, Any] = ok(response)
    return found


async def wait_state(
    client: httpx.AsyncClient, call_id: str, state: str, *, timeout: float = WAIT_S
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await live(client, call_id)
        return found if found is not None and found["state"] == state else None

    return await poll(check, timeout=timeout, what=f"call {call_id} to be {state}")


async def connected(
    client: httpx.AsyncClient, call_id: str, agent_id: str, *, timeout: float = WAIT_S
) -> dict[str, Any]:
    """Wait until the carrier has bridged the call to the agent; the live call then."""

    async def bridged() -> bool:
        placed = ok(await client.get(f"/v1/sandbox/calls/{call_id}"))
        return bool(placed["state"] == "connected" and placed["agent_id"] == agent_id)

    await poll(bridged, timeout=timeout, what=f"call {call_id} to be bridged to {agent_id}")
    found = await live(client, call_id)
    assert found is not None
    assert (found["state"], found["agent_id"]) == ("connected", agent_id), found
    return found


async def record_of(
    client: httpx.AsyncClient, call_id: str, *, timeout: float = WAIT_S
) -> dict[str, Any]:
    """The call's record, once it is written."""

    async def check() -> dict[str, Any] | None:
        response = await client.get(f"/v1/call-records/{call_id}")
        if response.status_code == 404:
            return None
        found: dict[str, Any] = ok(response)
        return found

    return await poll(check, timeout=timeout, what=f"the record of {call_id}")


async def hang_up(client: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    """The caller hangs up; the record is written before this returns."""
    found: dict[str, Any] = ok(await client.post(f"/v1/sandbox/calls/{call_id}/hangup"))
    assert found["state"] == "ended", found
    return found


async def agent_state(client: httpx.AsyncClient, agent_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(await client.get(f"/v1/agents/{agent_id}/state"))
    return found


async def set_status(client: httpx.AsyncClient, agent_id: str, status: str) -> dict[str, Any]:
    body = {"manual_status": status}
    found: dict[str, Any] = ok(await client.put(f"/v1/agents/{agent_id}/status", json=body))
    return found


# -- PostgreSQL: a database per test module -----------------------------------------------------


def new_pg_database() -> tuple[str, str]:
    """A fresh database of the API tests' own: its name and URL."""
    return pg_backend.new_pg_database("helpline_api")
