"""`get_list_agents_url` (seed 000 Step 5): the engine POSTs the queue's waiting calls with
the project id to the customer's server, a real HTTP server here, and routes each call by the
version 2 reply: first its listed agents, in order, each with its own answer timeout."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_support import Api, ok, place, poll, put_document, record_of
from stringee_support import PREFIX, good, stringee_client
from webhook_helpers import Receiver, Reply

pytestmark = pytest.mark.asyncio(loop_scope="module")

CALL_1 = "call-vn-1-EHHC6JW1LT-1534145391502"
CALL_2 = "call-vn-1-EHHC6JW1LT-1534145391504"

# seed 000 Step 5a, exactly
SEED_BODY = {
    "queueId": "queue_1",
    "calls": [
        {"callId": CALL_1, "from": "84986776777", "to": "842473082666"},
        {"callId": CALL_2, "from": "84919982888", "to": "842473082888"},
    ],
    "projectId": 25,
}

# seed 000 Step 5b, exactly
SEED_REPLY = {
    "version": 2,
    "calls": [
        {
            "callId": CALL_1,
            "agents": [
                {
                    "stringee_user_id": "agent_1",
                    "phone_number": "84909992666",
                    "routing_type": 2,
                    "answer_timeout": 15,
                },
                {
                    "stringee_user_id": "agent_2",
                    "phone_number": "84909992666",
                    "routing_type": 1,
                    "answer_timeout": 10,
                },
            ],
        },
        {
            "callId": CALL_2,
            "agents": [
                {
                    "stringee_user_id": "agent_1",
                    "phone_number": "84909992666",
                    "routing_type": 2,
                    "answer_timeout": 15,
                }
            ],
        },
    ],
}

WARM_UP = "842473000001"  # a first call, whose request is in flight while the seed's arrive


def _center(router_url: str) -> dict[str, Any]:
    return {
        "queues": [{"id": "queue_1", "get_list_agents_url": router_url, "router_timeout": 10}],
        "numbers": [
            {"number": number, "queue": "queue_1"}
            for number in ("842473082666", "842473082888", WARM_UP)
        ],
        "agents": [{"id": "agent_1"}, {"id": "agent_2"}],
    }


async def test_the_seed_body_goes_out_and_the_version_2_reply_routes(
    api: Api, receiver: Receiver
) -> None:
    path = f"/router/{api.second.tenant_id}"
    native = api.other
    await put_document(native, _center(receiver.url(path)))
    client, key = await stringee_client(api, native, project_id=25)  # keeps its Stringee id
    assert key.project_id == 25
    queue = good(await client.get(f"{PREFIX}/v1/queue"))["data"]["queues"][0]
    assert queue["get_list_agents_url"] == receiver.url(path)

    nobody = json.dumps({"version": 2, "calls": []}).encode()
    # the first request is held long enough for both seed calls to queue behind it, so the
    # second request carries the two of them, as the seed's body does (0.5 s was too short
    # on a loaded machine)
    receiver.script(
        path, Reply(delay_s=3.0, body=nobody), Reply(body=json.dumps(SEED_REPLY).encode())
    )
    await place(native, WARM_UP, from_number="84900000001", call_id="warm-up")
    await place(native, "842473082666", from_number="84986776777", call_id=CALL_1)
    await place(native, "842473082888", from_number="84919982888", call_id=CALL_2)

    await poll(_count(receiver, path, 2), what="the second router request")
    first, second = receiver.on(path)[:2]
    assert json.loads(first.body) == {
        "queueId": "queue_1",
        "calls": [{"callId": "warm-up", "from": "84900000001", "to": WARM_UP}],
        "projectId": 25,
    }
    body = json.loads(second.body)
    assert body == SEED_BODY
    assert list(body) == list(SEED_BODY)
    assert (second.method, second.headers["content-type"]) == ("POST", "application/json")

    # the reply: CALL_1 rings agent_1 first, on the phone number the reply gave (type 2)
    async def ringing() -> dict[str, Any] | None:
        found: dict[str, Any] = ok(await native.get(f"/v1/calls/{CALL_1}"))
        return found if found["state"] == "offering" else None

    offered = await poll(ringing, what=f"{CALL_1} to ring its first listed agent")
    assert offered["offered_to"] == ["agent_1"]
    # CALL_2 lists only agent_1, who is ringing for CALL_1: it waits; the warm-up call, for
    # which the reply listed nobody, waits for group routing (the queue has no group)
    for call_id in (CALL_2, "warm-up"):
        waiting = ok(await native.get(f"/v1/calls/{call_id}"))
        assert (waiting["state"], waiting["offered_to"]) == ("queued", [])
    # the record says why: the router's list chose agent_1
    ok(await native.post(f"/v1/sandbox/calls/{CALL_1}/hangup"))
    record = await record_of(native, CALL_1)
    chosen = [d for d in record["decisions"] if d["rule"] == "router_list"]
    assert chosen and chosen[0]["chosen"] == ["agent_1"]


def _count(receiver: Receiver, path: str, count: int) -> Any:
    async def check() -> bool:
        return len(receiver.on(path)) >= count

    return check
