"""Calls through the virtual carrier, end to end: IVR, queue, offer, answer, hang-up, record;
device behaviours (reject, no answer, answer delay, agent hang-up, abandonment)."""

from __future__ import annotations

import csv
import io

import pytest
from api_support import (
    HOTLINE,
    SUPPORT_LINE,
    Api,
    agent_doc,
    connected,
    demo_with,
    device,
    hang_up,
    live,
    ok,
    place,
    put_document,
    record_of,
    wait_state,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_sandbox_call_from_ivr_to_agent_and_its_record(api: Api) -> None:
    client = api.client
    await device(client, "alice")
    call_id = await place(client, HOTLINE, from_number="+15551234567")

    in_ivr = ok(await client.get(f"/v1/sandbox/calls/{call_id}"))
    assert in_ivr["state"] == "ivr"
    assert in_ivr["heard"][0]["text"].startswith("Press 1 to listen to instructions in English")

    pressed = ok(await client.post(f"/v1/sandbox/calls/{call_id}/keys", json={"digits": "11"}))
    assert pressed["keys"] == "11"
    assert [h["kind"] for h in pressed["heard"]] == ["prompt", "prompt", "greeting", "hold_music"]
    assert pressed["heard"][1]["text"].startswith("To meet a Salesman, press 1")

    call = await connected(client, call_id, "alice")
    assert call["queue_id"] == "sales_en"
    assert call["ivr_path"] == ["language", "menu_en"]
    assert call["keys"] == "11"
    assert (call["from_number"], call["to_number"]) == ("+15551234567", HOTLINE)
    listed = ok(await client.get("/v1/calls"))
    assert [c["call_id"] for c in listed["items"]] == [call_id]
    assert listed["items"][0]["state"] == "connected"
    assert ok(await client.get("/v1/sandbox/devices/alice"))["on_call"] == call_id
    assert ok(await client.get(f"/v1/sandbox/calls/{call_id}"))["agent_id"] == "alice"
    assert ok(await client.get("/v1/agents/alice/state"))["activity"] == "on_call"

    ended = await hang_up(client, call_id)
    assert ended["end_reason"] == "customer_hangup"
    assert ok(await client.get("/v1/calls"))["items"] == []
    assert ok(await client.get("/v1/sandbox/devices/alice"))["on_call"] is None

    records = ok(await client.get("/v1/call-records"))
    assert records["next_cursor"] is None
    assert len(records["items"]) == 1
    record = records["items"][0]
    assert record["call_id"] == call_id
    assert record["result"] == "answered"
    assert record["disconnected_by"] == "customer"
    assert record["direction"] == "inbound"
    assert (record["from_number"], record["to_number"]) == ("+15551234567", HOTLINE)
    assert record["ivr_tree"] == "main"
    assert record["ivr_path"] == ["language", "menu_en"]
    assert record["keys"] == "11"
    assert record["queue_id"] == "sales_en"
    assert record["agent_id"] == "alice"
    assert [(leg["agent_id"], leg["queue_id"]) for leg in record["legs"]] == [("alice", "sales_en")]
    leg = record["legs"][0]
    assert leg["offered_at"] <= leg["answered_at"] <= leg["ended_at"] == record["ended_at"]
    assert record["created_at"] <= record["queued_at"] <= record["answered_at"]
    assert record["decisions"][0]["chosen"] == ["alice"]
    assert record["decisions"][0]["queue_id"] == "sales_en"

    assert ok(await client.get(f"/v1/call-records/{call_id}")) == record

    response = await client.get("/v1/call-records.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1
    row = rows[0]
    assert row["call_id"] == call_id
    assert (row["result"], row["agent_id"], row["queue_id"], row["keys"]) == (
        "answered",
        "alice",
        "sales_en",
        "11",
    )
    assert row["ivr_path"] == '["language","menu_en"]'
    assert float(row["ended_at"]) == record["ended_at"]


async def test_a_rejected_offer_goes_to_the_next_agent(api: Api) -> None:
    client = api.client
    await device(client, "alice", auto_answer=False)
    call_id = await place(client, HOTLINE, "11")
    ringing = ok(await client.get(f"/v1/calls/{call_id}"))
    assert (ringing["state"], ringing["offered_to"]) == ("offering", ["alice"])
    assert ok(await client.get("/v1/sandbox/devices/alice"))["ringing"] == [call_id]

    await device(client, "bob")  # online now, but the call rings alice
    assert ok(await client.get(f"/v1/calls/{call_id}"))["offered_to"] == ["alice"]

    body = {"call_id": call_id}
    rejected = ok(await client.post("/v1/sandbox/devices/alice/reject", json=body))
    assert rejected["ringing"] == []
    await connected(client, call_id, "bob")
    await hang_up(client, call_id)

    record = await record_of(client, call_id)
    assert (record["result"], record["agent_id"]) == ("answered", "bob")
    assert [d["chosen"] for d in record["decisions"]] == [["alice"], ["bob"]]
    assert ok(await client.get("/v1/agents/alice/state"))["activity"] == "idle"


async def test_a_device_that_rejects_sends_the_call_on(api: Api) -> None:
    client = api.client
    await put_document(client, demo_with(sales_en={"strategy": "linear"}))  # alice, then bob
    await device(client, "alice", reject=True)
    await device(client, "bob")
    call_id = await place(client, HOTLINE, "11")
    await connected(client, call_id, "bob")
    alice = ok(await client.get("/v1/sandbox/devices/alice"))
    assert (alice["offers"], alice["ringing"]) == (1, [])
    await hang_up(client, call_id)
    record = await record_of(client, call_id)
    assert [d["chosen"] for d in record["decisions"]] == [["alice"], ["bob"]]


async def test_no_device_answer_timeout_moves_the_call_on(api: Api) -> None:
    """alice is reachable by phone (routing type 2) but nothing answers there."""
    client = api.client
    document = ok(await client.get("/v1/config"))["document"]
    for queue in document["queues"]:
        if queue["id"] == "sales_en":
            queue.update(strategy="linear", wait_agent_answer_timeout=0.3)
    agent_doc(document, "alice").update(routing_type=2, phone_number="+15550100001")
    ok(await client.put("/v1/config", json=document))
    await device(client, "bob")

    call_id = await place(client, HOTLINE, "11")
    await connected(client, call_id, "bob")
    await hang_up(client, call_id)

    record = await record_of(client, call_id)
    assert record["agent_id"] == "bob"
    assert [d["chosen"] for d in record["decisions"]] == [["alice"], ["bob"]]
    assert record["answered_at"] - record["queued_at"] >= 0.3
    assert record["wait_s"] >= 0.3


async def test_answer_delay(api: Api) -> None:
    client = api.client
    await device(client, "alice", answer_delay_s=0.5)
    call_id = await place(client, HOTLINE, "11")
    ringing = ok(await client.get(f"/v1/calls/{call_id}"))
    assert (ringing["state"], ringing["offered_to"]) == ("offering", ["alice"])
    assert ok(await client.get("/v1/sandbox/devices/alice"))["ringing"] == [call_id]
    assert ok(await client.get("/v1/agents/alice/state"))["activity"] == "reserved"

    await connected(client, call_id, "alice")
    await hang_up(client, call_id)
    record = await record_of(client, call_id)
    leg = record["legs"][0]
    assert leg["answered_at"] - leg["offered_at"] >= 0.5


async def test_answer_by_hand_and_agent_hangs_up(api: Api) -> None:
    client = api.client
    await device(client, "alice", auto_answer=False)
    call_id = await place(client, HOTLINE, "11")
    bad = await client.post("/v1/sandbox/devices/alice/answer", json={"call_id": "nope"})
    assert bad.status_code == 409
    ok(await client.post("/v1/sandbox/devices/alice/answer", json={"call_id": call_id}))
    await connected(client, call_id, "alice")

    on_call = ok(await client.post("/v1/sandbox/devices/alice/hangup"))
    assert on_call["on_call"] is None
    assert await live(client, call_id) is None
    record = await record_of(client, call_id)
    assert (record["result"], record["disconnected_by"]) == ("answered", "agent")
    assert ok(await client.get(f"/v1/sandbox/calls/{call_id}"))["state"] == "ended"

    again = await client.post("/v1/sandbox/devices/alice/hangup")
    assert again.status_code == 409


async def test_caller_hangs_up_in_queue(api: Api) -> None:
    client = api.client
    call_id = await place(client, HOTLINE, "11")  # nobody is online
    assert (await wait_state(client, call_id, "queued"))["queue_id"] == "sales_en"
    await hang_up(client, call_id)
    record = await record_of(client, call_id)
    assert record["result"] == "abandoned_in_queue"
    assert (record["queue_id"], record["agent_id"], record["legs"]) == ("sales_en", None, [])
    assert record["disconnected_by"] == "customer"


async def test_caller_hangs_up_in_ivr(api: Api) -> None:
    client = api.client
    call_id = await place(client, HOTLINE, "1")
    assert (await wait_state(client, call_id, "ivr"))["ivr_path"] == ["language", "menu_en"]
    await hang_up(client, call_id)
    record = await record_of(client, call_id)
    assert record["result"] == "abandoned_in_ivr"
    assert record["ivr_path"] == ["language", "menu_en"]
    assert (record["keys"], record["queue_id"]) == ("1", None)


async def test_hang_up_key_in_ivr_ends_the_call(api: Api) -> None:
    client = api.client
    call_id = await place(client, HOTLINE, "10")
    placed = ok(await client.get(f"/v1/sandbox/calls/{call_id}"))
    assert placed["state"] == "ended"
    assert placed["heard"][-1]["text"] == "Thank you for calling. Goodbye."
    record = await record_of(client, call_id)
    assert record["result"] == "ended_in_ivr"


async def test_call_to_an_unknown_number_is_a_failed_record(api: Api) -> None:
    client = api.client
    call_id = await place(client, "+19999999999")
    assert ok(await client.get(f"/v1/sandbox/calls/{call_id}"))["state"] == "ended"
    record = await record_of(client, call_id)
    assert record["result"] == "failed"


async def test_sandbox_call_ids_are_unique(api: Api) -> None:
    client = api.client
    await place(client, HOTLINE, call_id="mine-1")
    again = await client.post("/v1/sandbox/calls", json={"to": HOTLINE, "call_id": "mine-1"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


async def test_support_line_skips_the_ivr(api: Api) -> None:
    client = api.client
    await device(client, "carol")
    call_id = await place(client, SUPPORT_LINE)
    call = await connected(client, call_id, "carol")
    assert (call["queue_id"], call["ivr_path"]) == ("support", [])
