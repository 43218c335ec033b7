"""What an agent's live view (/v1/events) hears when a call stops being its own: an offer that
ends unanswered (rejected, the caller hung up, timed out) or a call transferred away; and the
public web caller's per-address rate limit. A server of its own (its settings differ)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from web_support import SALES_LINE, Site, serve
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

pytestmark = pytest.mark.asyncio(loop_scope="module")

CALLS_PER_MINUTE = 3


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory, media_dir: Path) -> AsyncIterator[Site]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HELPLINE_MEDIA_DIR", str(media_dir))
        patch.setenv("HELPLINE_WEB_CALLER_PER_MINUTE", str(CALLS_PER_MINUTE))
        async with serve(tmp_path_factory.mktemp("live")) as running:
            yield running


def ws(site: Site, path: str) -> str:
    return site.url.replace("http://", "ws://", 1) + path


async def next_of(socket: ClientConnection, kind: str, call_id: str) -> dict[str, Any]:
    """The next message of `kind` about `call_id` (others are skipped)."""
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if message["type"] == kind and message["data"]["call_id"] == call_id:
            return dict(message)


async def place_call(site: Site) -> str:
    response = await site.admin.post("/v1/sandbox/calls", json={"to": SALES_LINE})
    assert response.status_code == 201, response.text
    return str(response.json()["call_id"])


async def device(site: Site, agent_id: str, auto_answer: bool) -> None:
    response = await site.admin.put(
        f"/v1/sandbox/devices/{agent_id}", json={"auto_answer": auto_answer}
    )
    assert response.status_code == 200, response.text


async def test_a_rejected_offer_and_a_caller_who_hangs_up_while_ringing_are_told(
    site: Site,
) -> None:
    await device(site, "alice", auto_answer=False)  # online, rings, does not answer
    session = await site.login()
    agent = httpx.AsyncClient(base_url=site.url, headers={"authorization": f"Bearer {session}"})
    async with agent, connect(ws(site, f"/v1/events?token={session}")) as events:
        call_id = await place_call(site)
        await next_of(events, "call.offered", call_id)
        assert (await agent.post(f"/v1/calls/{call_id}/reject")).status_code == 204
        ended = await next_of(events, "call.offer_ended", call_id)
        assert ended["data"] == {"call_id": call_id, "agent_id": "alice", "reason": "rejected"}
        assert ended["tenant_id"] == site.tenant_id

        # the only agent: it rings on alice again; now the caller gives up while it rings
        await next_of(events, "call.offered", call_id)
        await site.admin.post(f"/v1/sandbox/calls/{call_id}/hangup")
        ended = await next_of(events, "call.offer_ended", call_id)
        assert ended["data"]["reason"] == "caller_hung_up"
        assert ended["data"]["agent_id"] == "alice"
    await site.admin.delete("/v1/sandbox/devices/alice")


async def test_a_call_transferred_away_is_told_to_the_agent_who_had_it(site: Site) -> None:
    await device(site, "alice", auto_answer=True)
    await device(site, "bob", auto_answer=False)
    session = await site.login()
    bob_events = connect(ws(site, f"/v1/events?token={await site.login('bob@example.com')}"))
    agent = httpx.AsyncClient(base_url=site.url, headers={"authorization": f"Bearer {session}"})
    async with agent, connect(ws(site, f"/v1/events?token={session}")) as events, bob_events:
        call_id = await place_call(site)
        connected = await next_of(events, "call.state_changed", call_id)
        while connected["data"]["state"] != "connected":
            connected = await next_of(events, "call.state_changed", call_id)
        moved = await agent.post(f"/v1/calls/{call_id}/transfer", json={"to_agent": "bob"})
        assert moved.status_code in (200, 202, 204), moved.text
        told = await next_of(events, "call.transferred", call_id)
        assert told["data"]["agent_id"] == "alice"
        assert told["data"]["reason"] == "transferred"
        assert told["data"]["to_agent"] == "bob"
    await site.admin.post(f"/v1/sandbox/calls/{call_id}/hangup")
    await site.admin.delete("/v1/sandbox/devices/alice")
    await site.admin.delete("/v1/sandbox/devices/bob")
    done = await site.admin.post("/v1/agents/alice/wrap-up/end", json={})  # the queue wraps up
    assert done.status_code == 200, done.text


async def test_an_offer_nobody_answers_in_time_is_told_as_a_timeout(site: Site) -> None:
    queue = (await site.admin.get("/v1/queues/sales")).json()
    queue["wait_agent_answer_timeout"] = 1
    changed = await site.admin.put("/v1/queues/sales", json=queue)
    assert changed.status_code == 200, changed.text
    await device(site, "alice", auto_answer=False)
    session = await site.login()
    async with connect(ws(site, f"/v1/events?token={session}")) as events:
        call_id = await place_call(site)
        await next_of(events, "call.offered", call_id)
        ended = await next_of(events, "call.offer_ended", call_id)
        assert ended["data"] == {"call_id": call_id, "agent_id": "alice", "reason": "timeout"}
    await site.admin.post(f"/v1/sandbox/calls/{call_id}/hangup")
    await site.admin.delete("/v1/sandbox/devices/alice")


async def close_code(site: Site, source: str) -> int | None:
    """Open the public caller socket as `source` (a trusted proxy's X-Forwarded-For): the
    close code it gets at once, or None if it stays open for a call."""
    url = ws(site, f"/web/phone?tenant={site.tenant_id}")
    async with connect(url, additional_headers={"x-forwarded-for": source}) as socket:
        try:
            await asyncio.wait_for(socket.recv(), 0.5)
        except TimeoutError:
            return None
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            assert "too many calls" in closed.rcvd.reason
            return closed.rcvd.code
    raise AssertionError("the caller socket spoke first")


async def test_the_public_caller_socket_is_rate_limited_per_source(site: Site) -> None:
    for _ in range(CALLS_PER_MINUTE):
        assert await close_code(site, "198.51.100.7") is None
    assert await close_code(site, "198.51.100.7") == 4429
    # another address has its own allowance
    assert await close_code(site, "198.51.100.8") is None
    # an agent's softphone is not a web caller: its socket is not counted
    session = await site.login()
    async with connect(
        ws(site, "/web/phone"),
        additional_headers={"x-forwarded-for": "198.51.100.7"},
    ) as phone:
        await phone.send(json.dumps({"authorization": f"Bearer {session}"}))
        await phone.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(phone.recv(), 5)) == {"type": "pong"}
