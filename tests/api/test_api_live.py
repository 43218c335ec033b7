"""Live calls and agents over `/v1/calls` and `/v1/agents`: hold and resume, transfers,
hang-up by the API, callouts and callback calls, each through to its call record; agent status
(seed 000 Step 3a), agent state, wrap-up with a disposition."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from api_support import (
    HOTLINE,
    SUPPORT_LINE,
    Api,
    agent_state,
    connected,
    demo_with,
    device,
    error_of,
    field_paths,
    hang_up,
    live,
    ok,
    place,
    poll,
    put_document,
    record_of,
    set_status,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _talking_to_alice(api: Api) -> str:
    await device(api.client, "alice")
    call_id = await place(api.client, HOTLINE, "11")
    await connected(api.client, call_id, "alice")
    return call_id


async def test_hold_and_resume_count_in_the_record(api: Api) -> None:
    client = api.client
    call_id = await _talking_to_alice(api)

    held = ok(await client.post(f"/v1/calls/{call_id}/hold"))
    assert held["state"] == "held"
    assert ok(await client.get(f"/v1/sandbox/calls/{call_id}"))["held"] is True
    again = error_of(await client.post(f"/v1/calls/{call_id}/hold"), 409, "conflict")
    assert "held" in again["message"]
    await asyncio.sleep(0.2)  # time on hold is real time
    resumed = ok(await client.post(f"/v1/calls/{call_id}/resume"))
    assert resumed["state"] == "connected"
    placed = ok(await client.get(f"/v1/sandbox/calls/{call_id}"))
    assert placed["held"] is False
    assert [h["kind"] for h in placed["heard"]][-2:] == ["hold", "resume"]
    error_of(await client.post(f"/v1/calls/{call_id}/resume"), 409, "conflict")

    await hang_up(client, call_id)
    record = await record_of(client, call_id)
    assert record["hold_s"] >= 0.2
    assert record["legs"][0]["hold_s"] == record["hold_s"]
    assert record["talk_s"] + record["hold_s"] <= record["ended_at"] - record["answered_at"] + 1e-6


async def test_hold_of_a_ringing_call_is_a_conflict_that_changes_nothing(api: Api) -> None:
    client = api.client
    await device(client, "alice", auto_answer=False)
    call_id = await place(client, HOTLINE, "11")
    before = await live(client, call_id)
    assert before is not None
    assert before["state"] == "offering"

    error = error_of(await client.post(f"/v1/calls/{call_id}/hold"), 409, "conflict")
    assert "offering" in error["message"]
    error_of(
        await client.post(f"/v1/calls/{call_id}/transfer", json={"to_queue": "support"}),
        409,
        "conflict",
    )
    assert await live(client, call_id) == before
    assert ok(await client.get("/v1/sandbox/devices/alice"))["ringing"] == [call_id]


async def test_transfer_to_a_queue(api: Api) -> None:
    client = api.client
    call_id = await _talking_to_alice(api)
    await device(client, "carol")
    accepted = ok(
        await client.post(f"/v1/calls/{call_id}/transfer", json={"to_queue": "support"}), 202
    )
    assert accepted == {"call_id": call_id, "status": "transferring"}
    await connected(client, call_id, "carol")
    assert ok(await client.get("/v1/sandbox/devices/alice"))["on_call"] is None
    assert (await live(client, call_id) or {})["queue_id"] == "support"
    await hang_up(client, call_id)

    record = await record_of(client, call_id)
    assert record["result"] == "answered"
    assert [(leg["agent_id"], leg["queue_id"]) for leg in record["legs"]] == [
        ("alice", "sales_en"),
        ("carol", "support"),
    ]
    assert (record["agent_id"], record["queue_id"]) == ("carol", "support")


async def test_transfer_to_an_agent(api: Api) -> None:
    client = api.client
    call_id = await _talking_to_alice(api)
    await device(client, "bob")
    busy = await client.post(f"/v1/calls/{call_id}/transfer", json={"to_agent": "alice"})
    error_of(busy, 409, "conflict")
    missing = await client.post(f"/v1/calls/{call_id}/transfer", json={"to_agent": "nobody"})
    error_of(missing, 404, "not_found")

    ok(await client.post(f"/v1/calls/{call_id}/transfer", json={"to_agent": "bob"}), 202)
    await connected(client, call_id, "bob")
    await hang_up(client, call_id)
    record = await record_of(client, call_id)
    assert [leg["agent_id"] for leg in record["legs"]] == ["alice", "bob"]
    assert record["agent_id"] == "bob"


async def test_transfer_to_an_outside_number(api: Api) -> None:
    client = api.client
    call_id = await _talking_to_alice(api)
    body = {"to_number": "+15557654321"}
    ok(await client.post(f"/v1/calls/{call_id}/transfer", json=body), 202)

    async def external() -> bool:
        placed = ok(await client.get(f"/v1/sandbox/calls/{call_id}"))
        return bool(placed["state"] == "external")

    await poll(external, what="the call to go to the outside number")
    assert ok(await client.get("/v1/agents/alice/state"))["activity"] == "idle"
    assert (await client.get(f"/v1/call-records/{call_id}")).status_code == 404  # still on
    await hang_up(client, call_id)
    record = await record_of(client, call_id)
    assert record["result"] == "transferred_external"
    assert record["legs"][0]["agent_id"] == "alice"
    assert record["legs"][-1]["external_number"] == "+15557654321"


async def test_transfer_names_exactly_one_target(api: Api) -> None:
    client = api.client
    call_id = await _talking_to_alice(api)
    for body in ({}, {"to_queue": "support", "to_agent": "bob"}):
        response = await client.post(f"/v1/calls/{call_id}/transfer", json=body)
        error = error_of(response, 422, "validation_error")
        assert field_paths(error) == ["body"], error
    assert (await live(client, call_id) or {})["state"] == "connected"


async def test_hang_up_by_the_api(api: Api) -> None:
    client = api.client
    call_id = await _talking_to_alice(api)
    response = await client.post(f"/v1/calls/{call_id}/hangup")
    assert response.status_code == 204
    assert await live(client, call_id) is None
    assert ok(await client.get(f"/v1/sandbox/calls/{call_id}"))["state"] == "ended"
    record = await record_of(client, call_id)
    assert (record["result"], record["disconnected_by"]) == ("answered", "system")
    assert record["end_reason"] == "api_hangup"
    error_of(await client.post(f"/v1/calls/{call_id}/hangup"), 404, "not_found")


async def test_callout_rings_the_agent_then_the_customer(api: Api) -> None:
    client = api.client
    customer = "+15551230000"
    ok(await client.put(f"/v1/sandbox/customers/{customer}", json={"answer": True}))
    await device(client, "alice")
    body = {"agent_id": "alice", "customer_number": customer, "caller_id": "+18005550100"}
    call_id = ok(await client.post("/v1/calls/callout", json=body), 201)["call_id"]

    await connected(client, call_id, "alice")
    placed = ok(await client.get(f"/v1/sandbox/calls/{call_id}"))
    assert (placed["to_number"], placed["from_number"]) == (customer, "+18005550100")
    call = await live(client, call_id)
    assert call is not None
    assert call["direction"] == "callout"

    ok(await client.post("/v1/sandbox/devices/alice/hangup"))
    record = await record_of(client, call_id)
    assert (record["direction"], record["result"], record["agent_id"]) == (
        "callout",
        "answered",
        "alice",
    )
    assert record["to_number"] == customer
    assert record["disconnected_by"] == "agent"


async def test_callout_to_a_busy_customer_fails(api: Api) -> None:
    client = api.client
    customer = "+15559990000"
    behaviour = {"answer": False, "failure": "busy"}
    ok(await client.put(f"/v1/sandbox/customers/{customer}", json=behaviour))
    await device(client, "alice")
    body = {"agent_id": "alice", "customer_number": customer}
    call_id = ok(await client.post("/v1/calls/callout", json=body), 201)["call_id"]

    record = await record_of(client, call_id)
    assert (record["direction"], record["result"]) == ("callout", "failed")
    assert record["end_reason"] == "busy"
    assert ok(await client.get("/v1/agents/alice/state"))["activity"] == "idle"
    assert ok(await client.get("/v1/sandbox/devices/alice"))["on_call"] is None


async def test_callout_needs_an_idle_reachable_agent(api: Api) -> None:
    client = api.client
    body = {"agent_id": "alice", "customer_number": "+15551230000"}
    offline = await client.post("/v1/calls/callout", json=body)
    error_of(offline, 409, "conflict")  # no device: alice is offline
    unknown = await client.post("/v1/calls/callout", json={**body, "agent_id": "nobody"})
    error_of(unknown, 404, "not_found")
    bad = await client.post("/v1/calls/callout", json={"agent_id": "alice"})
    assert "body.customer_number" in field_paths(error_of(bad, 422, "validation_error"))
    assert ok(await client.get("/v1/calls"))["items"] == []


async def test_callback_call_goes_to_an_agent_then_the_customer(api: Api) -> None:
    client = api.client
    customer = "+15554443333"
    await device(client, "alice", auto_answer=False)
    body = {"queue_id": "sales_en", "customer_number": customer}
    call_id = ok(await client.post("/v1/calls/callback", json=body), 201)["call_id"]

    ringing = await live(client, call_id)
    assert ringing is not None
    assert (ringing["direction"], ringing["state"]) == ("callback", "offering")
    assert ringing["offered_to"] == ["alice"]
    ok(await client.post("/v1/sandbox/devices/alice/answer", json={"call_id": call_id}))
    await connected(client, call_id, "alice")
    placed = ok(await client.get(f"/v1/sandbox/calls/{call_id}"))
    assert placed["to_number"] == customer
    assert placed["from_number"] == "+18005550100"  # the center's global number

    ok(await client.post(f"/v1/calls/{call_id}/hangup"), 204)
    record = await record_of(client, call_id)
    assert (record["direction"], record["result"]) == ("callback", "answered")
    assert (record["queue_id"], record["agent_id"]) == ("sales_en", "alice")

    unknown = await client.post("/v1/calls/callback", json={**body, "queue_id": "nope"})
    error_of(unknown, 404, "not_found")


# -- agents ----------------------------------------------------------------------------------


async def test_not_available_stops_offers_and_available_resumes_them(api: Api) -> None:
    client = api.client
    await device(client, "alice")
    idle = await agent_state(client, "alice")
    assert (idle["manual_status"], idle["activity"], idle["online"]) == ("AVAILABLE", "idle", True)
    assert idle["system_status"] == 1

    away = await set_status(client, "alice", "NOT_AVAILABLE")
    assert away["manual_status"] == "NOT_AVAILABLE"
    assert await agent_state(client, "alice") == away

    call_id = await place(client, HOTLINE, "11")
    waiting = await live(client, call_id)
    assert waiting is not None
    assert (waiting["state"], waiting["offered_to"]) == ("queued", [])
    assert ok(await client.get("/v1/sandbox/devices/alice"))["offers"] == 0
    estimate = ok(await client.get("/v1/queues/sales_en/wait-time"))
    assert (estimate["queue_id"], estimate["waiting"]) == ("sales_en", 1)

    back = await set_status(client, "alice", "AVAILABLE")
    assert back["manual_status"] == "AVAILABLE"
    await connected(client, call_id, "alice")
    busy = await agent_state(client, "alice")
    assert (busy["activity"], busy["system_status"], busy["call_id"]) == ("on_call", 0, call_id)
    assert ok(await client.get("/v1/queues/sales_en/wait-time"))["waiting"] == 0


async def test_status_of_an_unknown_agent_or_a_bad_body(api: Api) -> None:
    client = api.client
    missing = await client.put("/v1/agents/nobody/status", json={"manual_status": "AVAILABLE"})
    error_of(missing, 404, "not_found")
    error_of(await client.get("/v1/agents/nobody/state"), 404, "not_found")
    empty = await client.put("/v1/agents/alice/status", json={"manual_status": ""})
    assert field_paths(error_of(empty, 422, "validation_error")) == ["body.manual_status"]
    extra = await client.put("/v1/agents/alice/status", json={"manual_status": "X", "x": 1})
    assert field_paths(error_of(extra, 422, "validation_error")) == ["body.x"]


async def test_wrap_up_ends_with_a_disposition_on_the_record(api: Api) -> None:
    """Queue `support` has wrap-up: no offers to the agent until it ends."""
    client = api.client
    await set_status(client, "dave", "NOT_AVAILABLE")  # dave is reachable by phone
    await device(client, "carol")
    first = await place(client, SUPPORT_LINE)
    await connected(client, first, "carol")
    await hang_up(client, first)

    wrapping = await agent_state(client, "carol")
    assert wrapping["activity"] == "wrap_up"
    assert (await record_of(client, first))["wrap_up_s"] is None

    second = await place(client, SUPPORT_LINE, from_number="+15552220000")
    assert (await live(client, second) or {})["state"] == "queued"  # carol is in wrap-up

    body = {"disposition": "resolved", "notes": "router restarted"}
    ended = ok(await client.post("/v1/agents/carol/wrap-up/end", json=body))
    assert ended["activity"] in ("reserved", "on_call")  # the waiting call goes to carol
    record = await record_of(client, first)
    assert (record["disposition"], record["notes"]) == ("resolved", "router restarted")
    assert 0 < record["wrap_up_s"] < 10
    assert record["result"] == "answered"

    await connected(client, second, "carol")  # offers resume once wrap-up ends


async def test_wrap_up_ends_by_itself_at_the_time_limit(api: Api) -> None:
    client = api.client
    await put_document(client, demo_with(support={"wrap_up_time_limit": "400ms"}))
    await device(client, "carol")
    await set_status(client, "dave", "NOT_AVAILABLE")
    call_id = await place(client, SUPPORT_LINE)
    await connected(client, call_id, "carol")
    await hang_up(client, call_id)
    assert (await agent_state(client, "carol"))["activity"] == "wrap_up"

    async def idle() -> bool:
        return bool((await agent_state(client, "carol"))["activity"] == "idle")

    await poll(idle, what="wrap-up to time out")

    async def amended() -> dict[str, Any] | None:
        record = await record_of(client, call_id)
        return record if record["wrap_up_s"] is not None else None

    record = await poll(amended, what="the record to get its wrap-up time")
    assert 0.4 <= record["wrap_up_s"] < 5
    assert record["disposition"] is None
