"""The runtime asks the external router over HTTP (issue 4, point 6; seed 000 Step 5).

A real router answers on 127.0.0.1 (uvicorn); the tenant's runtime runs on the real clock
over a real SQLite store and the virtual carrier. The reply routes the call to the agent it
lists first; a router that fails or answers too late leaves the call to group routing.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from helpline.bus import LocalBus
from helpline.config import parse_center
from helpline.core.states import CallState
from helpline.runtime.hub import Hub
from helpline.store import Store
from helpline.telephony.virtual import VirtualCarrier, VirtualDevice
from helpline.webhooks.publisher import WebhookOutbox

TENANT = "t-router"
NUMBER = "+18005550123"


def _center(router_url: str, timeout_s: float = 2.0) -> dict[str, Any]:
    return {
        "numbers": [{"number": NUMBER, "queue": "vip"}],
        "queues": [
            {
                "id": "vip",
                "groups": ["team"],
                "strategy": "linear",  # group routing alone would pick alice first
                "get_list_agents_url": router_url,
                "router_timeout": timeout_s,
                "wait_agent_answer_timeout": 5,
            }
        ],
        "groups": [{"id": "team", "agents": ["alice", "bob"]}],
        "agents": [{"id": "alice"}, {"id": "bob"}],
    }


class Router:
    """A scripted `get_list_agents_url` endpoint that records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: Callable[[dict[str, Any]], Response] = self.list_bob_first
        self.delay_s = 0.0

    @staticmethod
    def list_bob_first(body: dict[str, Any]) -> Response:
        return JSONResponse(
            {
                "version": 2,
                "calls": [
                    {
                        "callId": call["callId"],
                        "agents": [
                            {"stringee_user_id": "bob", "routing_type": 1, "answer_timeout": 7},
                            {"stringee_user_id": "alice", "routing_type": 1, "answer_timeout": 9},
                        ],
                    }
                    for call in body["calls"]
                ],
            }
        )

    async def endpoint(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self.answer(body)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve_router(router: Router) -> AsyncIterator[str]:
    app = Starlette(routes=[Route("/agents", router.endpoint, methods=["POST"])])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise TimeoutError("the router did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/agents"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, document: dict[str, Any]
) -> AsyncIterator[tuple[Hub, VirtualCarrier]]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'router.db'}")
    await store.tenants.create_tenant("router test", tenant_id=TENANT)
    carrier = VirtualCarrier()
    hub = Hub(telephony=carrier, records=store.records, outbox=WebhookOutbox(store), bus=LocalBus())
    hub.start_tenant(TENANT, document)
    try:
        yield hub, carrier
    finally:
        await hub.stop()
        carrier.close()
        await store.close()


async def _until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _register(hub: Hub, carrier: VirtualCarrier, *agents: str) -> None:
    for agent_id in agents:
        carrier.register_device(TENANT, VirtualDevice(agent_id=agent_id, auto_answer=False))
    await hub.runtime(TENANT).settle()


async def test_the_reply_routes_the_call_to_the_first_listed_agent(tmp_path: Path) -> None:
    router = Router()
    async with serve_router(router) as url, running(tmp_path, _center(url)) as (hub, carrier):
        await _register(hub, carrier, "alice", "bob")
        carrier.place_call(TENANT, "c1", "+15551234", NUMBER)
        await _until(lambda: "c1" in carrier.device(TENANT, "bob").ringing, "bob to ring")
        # seed 000 Step 5a: the queue and its waiting calls, POSTed as JSON
        assert router.requests == [
            {"queueId": "vip", "calls": [{"callId": "c1", "from": "+15551234", "to": NUMBER}]}
        ]
        call = hub.runtime(TENANT).engine.calls["c1"]
        assert call.state is CallState.OFFERING and call.offered_to == ["bob"]
        assert call.decisions[-1].rule == "router_list"
        assert carrier.device(TENANT, "alice").ringing == []


async def test_a_failing_router_leaves_the_call_to_group_routing(tmp_path: Path) -> None:
    router = Router()
    router.answer = lambda body: JSONResponse({"error": "down"}, status_code=503)
    async with serve_router(router) as url, running(tmp_path, _center(url)) as (hub, carrier):
        await _register(hub, carrier, "alice", "bob")
        carrier.place_call(TENANT, "c1", "+15551234", NUMBER)
        # linear group routing: alice first
        await _until(lambda: "c1" in carrier.device(TENANT, "alice").ringing, "alice to ring")
        call = hub.runtime(TENANT).engine.calls["c1"]
        assert [d.rule for d in call.decisions] == ["router_fallback", "linear"]
        assert "503" in call.decisions[0].note


async def test_a_router_slower_than_its_timeout_is_not_waited_for(tmp_path: Path) -> None:
    router = Router()
    router.delay_s = 1.5
    document = _center("", timeout_s=0.3)
    async with serve_router(router) as url:
        document["queues"][0]["get_list_agents_url"] = url
        async with running(tmp_path, document) as (hub, carrier):
            await _register(hub, carrier, "alice", "bob")
            started = time.monotonic()
            carrier.place_call(TENANT, "c1", "+15551234", NUMBER)
            await _until(lambda: "c1" in carrier.device(TENANT, "alice").ringing, "alice to ring")
            assert time.monotonic() - started < 1.4  # fell back at the timeout, not the reply
            await asyncio.sleep(1.4)  # the late reply arrives, and changes nothing
            await hub.runtime(TENANT).settle()
            call = hub.runtime(TENANT).engine.calls["c1"]
            assert call.offered_to == ["alice"]
            assert carrier.device(TENANT, "bob").ringing == []


@pytest.mark.parametrize("body", [{"version": 1, "calls": []}, ["not", "an", "object"]])
async def test_a_malformed_reply_falls_back_and_says_why(tmp_path: Path, body: Any) -> None:
    router = Router()
    router.answer = lambda _: JSONResponse(body)
    async with serve_router(router) as url, running(tmp_path, _center(url)) as (hub, carrier):
        await _register(hub, carrier, "alice", "bob")
        carrier.place_call(TENANT, "c1", "+15551234", NUMBER)
        await _until(lambda: "c1" in carrier.device(TENANT, "alice").ringing, "alice to ring")
        decisions = hub.runtime(TENANT).engine.calls["c1"].decisions
        assert decisions[0].rule == "router_fallback"
        assert decisions[0].note.startswith("malformed reply")


def test_the_center_is_valid() -> None:
    parse_center(_center("http://127.0.0.1:9/agents"))
