"""Seed 002 "Call and Incoming Call Notifications": an IVR step that notifies a URL; when the
call ends, a GET with the call's fields in the query string reaches it (a real local HTTP
receiver), for each of the seed's three examples."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import parse_qsl

import pytest
from alotech_support import SEED_DATE
from api_support import (
    HOTLINE,
    Api,
    connected,
    demo,
    device,
    hang_up,
    ok,
    place,
    put_document,
    record_of,
    wait_state,
)
from webhook_helpers import Receiver

from helpline.core.ivr import call_date

pytestmark = pytest.mark.asyncio(loop_scope="module")

CALLER = "05071303066"  # seed 002's callerid


def notifying_center(url: str) -> dict[str, Any]:
    """The demo center whose English menu notifies `url` at hang-up on keys 1 and 0."""
    document = demo()
    menu = next(n for n in document["ivr_trees"][0]["nodes"] if n["id"] == "menu_en")
    menu["keys"]["1"] = {"notify": url, "then": {"queue": "sales_en"}}
    menu["keys"]["0"] = {"notify": url, "then": "hangup"}
    return document


async def notification(receiver: Receiver) -> list[tuple[str, str]]:
    await receiver.wait_for(1)
    [request] = receiver.on("/notify")
    assert (request.method, request.body) == ("GET", b"")  # seed 002: "Transmitted as GET"
    fields = parse_qsl(request.query, keep_blank_values=True)
    assert fields[0] == ("source", "ivr")  # the URL's own query string is kept, first
    return fields[1:]


async def setup(api: Api, receiver: Receiver) -> None:
    await put_document(api.client, notifying_center(receiver.url("/notify?source=ivr")))


async def test_call_ended_without_connecting_to_a_queue(api: Api, receiver: Receiver) -> None:
    await setup(api, receiver)
    call_id = await place(api.client, HOTLINE, "10", from_number=CALLER)
    record = await record_of(api.client, call_id)
    assert record["result"] == "ended_in_ivr"
    fields = await notification(receiver)
    # seed: calldate, callerid, myemail (empty), callednum, event, call key; no queue fields
    assert fields == [
        ("calldate", call_date(record["created_at"])),
        ("callerid", CALLER),
        ("myemail", ""),
        ("callednum", HOTLINE),
        ("event", "call_hangup"),
        ("callkeyX", call_id),
        ("callkey", call_id),
    ]
    assert re.fullmatch(SEED_DATE, fields[0][1])


async def test_call_ended_in_a_queue_without_connecting_to_an_agent(
    api: Api, receiver: Receiver
) -> None:
    await setup(api, receiver)
    call_id = await place(api.client, HOTLINE, "11", from_number=CALLER)
    await wait_state(api.client, call_id, "queued")
    assert receiver.requests == []  # sent when the call ends, not before
    await hang_up(api.client, call_id)
    record = await record_of(api.client, call_id)
    assert record["result"] == "abandoned_in_queue"
    assert await notification(receiver) == [
        ("queuename", "Queue 1 - English sales"),
        ("calldate", call_date(record["created_at"])),
        ("queueid", "sales_en"),
        ("callerid", CALLER),
        ("myemail", ""),
        ("callednum", HOTLINE),
        ("event", "call_hangup"),
        ("callkeyX", call_id),
        ("callkey", call_id),
    ]


async def test_call_ended_after_speaking_to_an_agent(api: Api, receiver: Receiver) -> None:
    await setup(api, receiver)
    await device(api.client, "alice")
    call_id = await place(api.client, HOTLINE, "11", from_number=CALLER)
    await connected(api.client, call_id, "alice")
    ok(await api.client.post("/v1/sandbox/devices/alice/hangup"))
    record = await record_of(api.client, call_id)
    assert record["result"] == "answered"
    fields = dict(await notification(receiver))
    assert fields["myemail"] == "alice@example.com"
    assert (fields["queueid"], fields["event"], fields["callkeyX"]) == (
        "sales_en",
        "call_hangup",
        call_id,
    )


async def test_an_incoming_call_notification_is_sent_at_once(api: Api, receiver: Receiver) -> None:
    # seed 002's title names incoming-call notifications too: `notify_when: now`
    document = notifying_center(receiver.url("/notify?source=ivr"))
    menu = next(n for n in document["ivr_trees"][0]["nodes"] if n["id"] == "menu_en")
    menu["keys"]["2"] = {
        "kind": "notify",
        "target": receiver.url("/notify?source=ivr"),
        "notify_when": "now",
        "then": {"queue": "support"},
    }
    await put_document(api.client, document)
    call_id = await place(api.client, HOTLINE, "12", from_number=CALLER)
    fields = dict(await notification(receiver))  # while the call still waits
    assert (fields["event"], fields["callkeyX"], fields["callerid"]) == (
        "incoming_call",
        call_id,
        CALLER,
    )
    assert "queueid" not in fields  # notified in the IVR, before it reached a queue
    await hang_up(api.client, call_id)
    assert (await record_of(api.client, call_id))["queue_id"] == "support"
    await asyncio.sleep(0.2)  # several outbox polls
    assert len(receiver.on("/notify")) == 1  # not again at the end
