"""`/v1/events` (issue 4, point 8): live call and agent state over a websocket, tenant-wide
for an API key, the agent's own for an agent token. The app runs under uvicorn here."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from api_support import (
    HOTLINE,
    JWT_SECRET,
    WAIT_S,
    Api,
    connected,
    device,
    hang_up,
    ok,
    place,
    set_status,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

pytestmark = pytest.mark.asyncio(loop_scope="module")

Message = dict[str, Any]


async def _next(ws: ClientConnection, timeout: float) -> Message:
    found: Message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return found


async def _until(
    ws: ClientConnection, done: Callable[[Message], bool], *, timeout: float = WAIT_S
) -> list[Message]:
    """Every message up to and including the first for which `done` holds."""
    deadline = time.monotonic() + timeout
    seen: list[Message] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; got {[m['type'] for m in seen]}")
        try:
            message = await _next(ws, left)
        except TimeoutError:
            continue
        seen.append(message)
        if done(message):
            return seen


def _ended(call_id: str) -> Callable[[Message], bool]:
    return lambda m: m["type"] == "call.ended" and m["data"]["call_id"] == call_id


def _status_is(status: str) -> Callable[[Message], bool]:
    return lambda m: m["type"] == "agent.state_changed" and m["data"]["manual_status"] == status


async def _subscribed(ws: ClientConnection, client: httpx.AsyncClient, agent_id: str) -> None:
    """Wait until the socket is subscribed: change the agent's status until it shows up."""
    for n in itertools.count():
        status = f"SYNC_{n}"
        await set_status(client, agent_id, status)
        try:
            await _until(ws, _status_is(status), timeout=0.2)
            return
        except AssertionError:
            if n > 20:
                raise


def _about(message: Message) -> set[str]:
    """The agents and calls a message names."""
    data = message["data"]
    names = {data.get("agent_id"), data.get("call_id"), *data.get("offered_to", ())}
    names |= {leg["agent_id"] for leg in data.get("legs", ())}
    return {str(n) for n in names if n}


async def test_an_api_key_receives_every_call_and_agent_event(api: Api) -> None:
    client = api.client
    async with connect(api.ws_url, additional_headers=api.acme.headers) as ws:
        await _subscribed(ws, client, "frank")
        await device(client, "alice")
        call_id = await place(client, HOTLINE, "11")
        await connected(client, call_id, "alice")
        await hang_up(client, call_id)
        seen = await _until(ws, _ended(call_id))

    assert {m["tenant_id"] for m in seen} == {api.acme.tenant_id}
    assert {m["type"] for m in seen} == {
        "agent.state_changed",
        "call.state_changed",
        "call.offered",
        "call.ended",
    }
    states = [
        m["data"]["state"]
        for m in seen
        if m["type"] == "call.state_changed" and m["data"]["call_id"] == call_id
    ]
    assert states[0] == "ivr"
    assert "queued" in states
    assert states.index("queued") < states.index("connected")
    offered = [m for m in seen if m["type"] == "call.offered"]
    assert [(m["data"]["call_id"], m["data"]["agent_id"]) for m in offered] == [(call_id, "alice")]
    alice = [m["data"] for m in seen if m["type"] == "agent.state_changed" and "alice" in _about(m)]
    assert alice[0]["online"] is True
    assert "on_call" in [a["activity"] for a in alice]
    ended = seen[-1]["data"]
    assert (ended["result"], ended["agent_id"]) == ("answered", "alice")
    assert ended["queue_id"] == "sales_en"
    assert all(isinstance(m["at"], float) for m in seen)


async def test_an_agent_token_receives_only_the_agents_own_events(api: Api) -> None:
    client = api.client
    token = ok(await client.post("/v1/auth/token", json={"agent_id": "alice"}))["access_token"]
    await device(client, "alice")
    await device(client, "bob")
    async with (
        connect(f"{api.ws_url}?token={token}") as mine,
        connect(api.ws_url, additional_headers=api.acme.headers) as everything,
    ):
        await _subscribed(everything, client, "frank")
        await _subscribed(mine, client, "alice")  # she is not available now
        bobs = await place(client, HOTLINE, "11")
        await connected(client, bobs, "bob")
        await set_status(client, "alice", "AVAILABLE")
        alices = await place(client, HOTLINE, "11", from_number="+15552220000")
        await connected(client, alices, "alice")
        await hang_up(client, bobs)
        await hang_up(client, alices)
        seen = await _until(mine, _ended(alices))
        tenant_wide = await _until(everything, _ended(alices))

    assert all(_about(m) <= {"alice", alices} for m in seen), seen
    assert any(m["type"] == "call.offered" and m["data"]["call_id"] == alices for m in seen)
    assert any(m["type"] == "agent.state_changed" for m in seen)
    assert {m["data"]["agent_id"] for m in seen if m["type"] == "agent.state_changed"} == {"alice"}
    # what she did not see was there to see
    assert any(bobs in _about(m) for m in tenant_wide)
    assert any("bob" in _about(m) and m["type"] == "call.offered" for m in tenant_wide)


async def test_bad_credentials_close_the_socket_with_4401(api: Api) -> None:
    now = int(time.time())
    expired = jwt.encode(
        {"sub": "alice", "tenant": api.acme.tenant_id, "exp": now - 5},
        JWT_SECRET,
        algorithm="HS256",
    )
    for url, headers in (
        (f"{api.ws_url}?token=not-a-token", {}),
        (f"{api.ws_url}?token={expired}", {}),
        (api.ws_url, {}),
        (api.ws_url, {"authorization": "Basic Zm9vOmJhcg=="}),
    ):
        async with connect(url, additional_headers=headers) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await _next(ws, WAIT_S)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401, url
