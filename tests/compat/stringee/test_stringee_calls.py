"""The callout API (seed 000 Step 4, method 2) and the event URL's call events."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import pytest
from api_support import (
    Api,
    device,
    live,
    ok,
    place,
    poll,
    put_document,
    record_of,
    wait_state,
)
from stringee_support import PREFIX, bad, good, stringee_client
from webhook_helpers import Receiver, Reply

from helpline.api.compat.stringee.replies import R_FORBIDDEN, R_NOT_FOUND

pytestmark = pytest.mark.asyncio(loop_scope="module")

# seed 000 Step 4 b, exactly
SEED_CALLOUT = {
    "agentUserId": "huy",
    "toAgentFromNumberDisplay": "Call-out-from-842473082686",
    "toAgentFromNumberDisplayAlias": "Call-out-from-842473082686-Alias",
    "toCustomerFromNumber": "84899199586",
    "customerNumber": "84909982888",
}


async def _events(receiver: Receiver, path: str, count: int) -> list[dict[str, Any]]:
    async def arrived() -> list[dict[str, Any]] | None:
        found = [json.loads(r.body) for r in receiver.on(path)]
        return found if len(found) >= count else None

    return await poll(arrived, what=f"{count} call events at {path}")


async def test_the_seed_callout_rings_the_agent_then_the_customer(
    api: Api, receiver: Receiver
) -> None:
    events = f"/events/{api.acme.tenant_id}"
    client, key = await stringee_client(api, event_url=receiver.url(events))
    agent = {"name": "Huy", "stringee_user_id": "huy"}
    created = good(await client.post(f"{PREFIX}/v1/agent", json=agent))
    await device(api.client, "huy")  # the agent's app: online, answers at once
    ok(await api.client.put("/v1/sandbox/customers/84909982888", json={"answer": True}))

    answer = good(await client.post(f"{PREFIX}/v1/call/callout", json=SEED_CALLOUT))
    assert set(answer) == {"r", "project", "message", "callId"}
    call_id = answer["callId"]

    async def connected() -> dict[str, Any] | None:
        found: dict[str, Any] = ok(await api.client.get(f"/v1/calls/{call_id}"))
        return found if found["state"] == "connected" else None

    live = await poll(connected, what="the callout to connect")
    assert (live["agent_id"], live["direction"]) == ("huy", "callout")
    assert live["to_number"] == "84909982888"
    # seed 000 Step 3a: on a call, system_status is 0; free again, 1
    agent_url = f"{PREFIX}/v1/agent/{created['agentID']}"
    busy = good(await client.get(agent_url))["data"]
    assert (busy["system_status"], busy["online"]) == (0, True)
    assert ok(await api.client.post(f"/v1/calls/{call_id}/hangup"), 204) is None
    record = await record_of(api.client, call_id)
    assert (record["agent_id"], record["result"]) == ("huy", "answered")
    assert good(await client.get(agent_url))["data"]["system_status"] == 1

    # the project's event URL heard the call ring, be answered and end, in that order
    sent = await _events(receiver, events, 3)
    assert [e["call_status"] for e in sent] == ["ringing", "answered", "ended"]
    for event in sent:
        assert event["call_id"] == call_id
        assert event["project_id"] == key.project_id
        assert event["type"] == "stringee_call"
        assert event["to"]["number"] == "84909982888"
        assert isinstance(event["timestamp_ms"], int)
        assert event["request_from_user_id"] == "huy"
    ended = sent[-1]
    assert ended["answerDuration"] >= 0 and ended["duration"] >= ended["answerDuration"]
    assert set(ended) >= {"endCallCause", "endedBy", "callType", "duration", "answerDuration"}
    request = receiver.on(events)[0]
    assert (request.method, request.headers["content-type"]) == ("POST", "application/json")


async def test_a_callout_for_an_unknown_agent_is_refused(api: Api) -> None:
    client, _ = await stringee_client(api)
    body = {**SEED_CALLOUT, "agentUserId": "nobody"}
    bad(await client.post(f"{PREFIX}/v1/call/callout", json=body), 404, R_NOT_FOUND, "agentUserId")


async def test_the_event_url_can_be_set_and_cleared(api: Api, receiver: Receiver) -> None:
    events = f"/events/{api.second.tenant_id}/direct"
    native = api.other  # a center of one queue nobody serves: calls wait there
    await put_document(
        native, {"queues": [{"id": "q"}], "numbers": [{"number": "100", "queue": "q"}]}
    )
    _, key = await stringee_client(api, native)
    body = {"event_url": receiver.url(events)}
    found = ok(await native.put(f"{PREFIX}/v1/project", json=body))
    assert (found["project"], found["event_url"]) == (key.project_id, receiver.url(events))
    placed = await place(native, "100", from_number="+15551234567")
    await wait_state(native, placed, "queued")
    ok(await native.post(f"/v1/sandbox/calls/{placed}/hangup"))
    sent = await _events(receiver, events, 2)
    assert [e["call_status"] for e in sent] == ["started", "ended"]
    assert sent[0]["from"] == {
        "number": "+15551234567",
        "alias": "+15551234567",
        "is_online": False,
        "type": "external",
    }
    assert sent[0]["to"]["number"] == "100"
    assert (sent[1]["endedBy"], sent[1]["answerDuration"]) == ("customer", 0)
    # cleared: a call then sends nothing; the next URL set hears only the calls after it
    ok(await native.put(f"{PREFIX}/v1/project", json={"event_url": None}))
    unheard = await place(native, "100")
    ok(await native.post(f"/v1/sandbox/calls/{unheard}/hangup"))
    await record_of(native, unheard)
    later = f"{events}/later"
    ok(await native.put(f"{PREFIX}/v1/project", json={"event_url": receiver.url(later)}))
    heard = await place(native, "100")
    ok(await native.post(f"/v1/sandbox/calls/{heard}/hangup"))
    assert {e["call_id"] for e in await _events(receiver, later, 2)} == {heard}
    everything = [json.loads(r.body) for r in receiver.requests if r.path.startswith(events)]
    assert unheard not in {e["call_id"] for e in everything}


async def test_the_callout_answer_url_decides_whether_a_callout_goes_ahead(
    api: Api, receiver: Receiver
) -> None:
    """Seed 000 Step 6: with `callout_answer_url`, an agent's outbound call is allowed only
    when the SCCO that URL answers connects it."""
    path = f"/callout-answer/{api.acme.tenant_id}"
    client, key = await stringee_client(api)
    body = {"callout_answer_url": receiver.url(path)}
    found = ok(await api.client.put(f"{PREFIX}/v1/project", json=body))
    assert found["callout_answer_url"] == receiver.url(path)
    good(await client.post(f"{PREFIX}/v1/agent", json={"name": "Huy", "stringee_user_id": "huy"}))
    await device(api.client, "huy", auto_answer=False)  # online; its phone rings on
    connect = [
        {
            "action": "connect",
            "from": {"type": "internal", "number": "huy", "alias": "huy"},
            "to": {"type": "external", "number": "84909982888", "alias": "84909982888"},
        }
    ]
    refuse = [{"action": "talk", "text": "You may not call this number."}]
    receiver.script(
        path,
        Reply(body=json.dumps(connect).encode()),
        Reply(body=json.dumps(refuse).encode()),
        Reply(status=500),
    )
    allowed = good(await client.post(f"{PREFIX}/v1/call/callout", json=SEED_CALLOUT))
    asked = receiver.on(path)[0]
    assert asked.method == "GET"
    assert dict(parse_qsl(asked.query, keep_blank_values=True)) == {
        "from": "84899199586",
        "to": "84909982888",
        "fromInternal": "true",
        "userId": "huy",
        "projectId": str(key.project_id),
        "custom": "",
        "callId": allowed["callId"],
    }
    assert (await live(api.client, allowed["callId"])) is not None  # the agent's phone rings
    for _ in ("talk", "500"):
        refused = await client.post(f"{PREFIX}/v1/call/callout", json=SEED_CALLOUT)
        bad(refused, 403, R_FORBIDDEN, "callout_answer_url")
    calls = ok(await api.client.get("/v1/calls"))["items"]
    assert [c["call_id"] for c in calls if c["direction"] == "callout"] == [allowed["callId"]]


async def test_each_status_is_sent_once_per_call(api: Api, receiver: Receiver) -> None:
    """A call that goes back to its queue when an agent declines, and rings the next agent,
    sends `started` and `ringing` once each."""
    events = f"/events/{api.second.tenant_id}/once"
    native = api.other
    center = {
        "queues": [{"id": "q", "groups": ["g"], "strategy": "linear"}],  # a1, then a2
        "groups": [{"id": "g", "agents": ["a1", "a2"]}],
        "agents": [{"id": "a1"}, {"id": "a2"}],
        "numbers": [{"number": "100", "queue": "q"}],
    }
    await put_document(native, center)
    await stringee_client(api, native, event_url=receiver.url(events))
    await device(native, "a1", reject=True)
    await device(native, "a2", auto_answer=False)
    call_id = await place(native, "100")

    async def rings_a2() -> dict[str, Any] | None:
        found: dict[str, Any] = ok(await native.get(f"/v1/calls/{call_id}"))
        return found if found["offered_to"] == ["a2"] else None

    await poll(rings_a2, what="the call to ring a2 after a1 declined")
    ok(await native.post(f"/v1/sandbox/calls/{call_id}/hangup"))
    sent = await _events(receiver, events, 3)
    record = await record_of(native, call_id)
    assert [d["chosen"] for d in record["decisions"]] == [["a1"], ["a2"]]  # a1 declined
    assert [e["call_status"] for e in sent] == ["started", "ringing", "ended"]
