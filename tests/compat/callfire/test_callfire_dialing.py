"""End to end: a campaign dialled through the sandbox carrier by two agents (seed 003).

Two agents log in (sendAgentCallBack, loginAgent) with test devices that answer at once; the
customers answer, are busy, do not answer or cannot be reached, as the sandbox says. Each
agent loops as seed 003 "After the Login" describes: getConnectionForAgent, then
storeAgentResponse. Every number must reach its outcome, busy and unanswered numbers
retried by the campaign's rules, every dial on the engine with its call record.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from api_support import Api, device, ok, poll, record_of
from callfire_support import call, call_ok, campaign, get_campaign, log_in

pytestmark = pytest.mark.asyncio(loop_scope="module")

ANSWERS = ["+15557000001", "+15557000002", "+15557000003"]
BUSY = "+15557000010"
NO_ANSWER = "+15557000020"
FAILED = "+15557000030"


async def customer(api: Api, number: str, *, answer: bool, failure: str = "no_answer") -> None:
    body = {"answer": answer, "failure": failure}
    ok(await api.client.put(f"/v1/sandbox/customers/{number}", json=body))


async def work(api: Api, campaign_id: int, agent_id: str, taken: list[dict[str, Any]]) -> None:
    """An agent's loop: take each connection, store a response, until none comes."""
    while True:
        response = await call(
            api, "getConnectionForAgent", campaignId=campaign_id, agentId=agent_id, timeout=1
        )
        if response.status_code == 204:
            return
        call_type = ok(response)["CallType"]
        taken.append(call_type)
        await call_ok(
            api,
            "storeAgentResponse",
            204,
            campaignId=campaign_id,
            agentId=agent_id,
            callId=call_type["id"],
            agentResponse="interested",
            agentNotes=f"talked to {call_type['toNumber']}",
            lastcall=False,
        )


async def test_two_agents_dial_every_number_to_its_outcome(api: Api) -> None:
    for number in ANSWERS:
        await customer(api, number, answer=True)
    await customer(api, BUSY, answer=False, failure="busy")
    await customer(api, NO_ANSWER, answer=False, failure="no_answer")
    await customer(api, FAILED, answer=False, failure="failed")
    numbers = [
        {"number": ANSWERS[0], "name": "Ann"},
        BUSY,
        ANSWERS[1],
        NO_ANSWER,
        FAILED,
        ANSWERS[2],
    ]
    campaign_id = await campaign(
        api, numbers, maxAttempts=3, busyRetrySeconds=0, noAnswerRetrySeconds=0
    )
    for user in ("alice", "bob"):
        await device(api.client, user)
    agents = {user: await log_in(api, campaign_id, user) for user in ("alice", "bob")}
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)

    taken: dict[str, list[dict[str, Any]]] = {user: [] for user in agents}
    await asyncio.wait_for(
        asyncio.gather(*(work(api, campaign_id, agents[u], taken[u]) for u in agents)), 30
    )

    found = await get_campaign(api, campaign_id)
    assert found["status"] == "FINISHED", found
    by_number = {n["number"]: n for n in found["numbers"]}
    for number in ANSWERS:
        assert (by_number[number]["result"], by_number[number]["attempts"]) == ("LA", 1)
    assert (by_number[BUSY]["result"], by_number[BUSY]["attempts"]) == ("BUSY", 3)
    assert (by_number[NO_ANSWER]["result"], by_number[NO_ANSWER]["attempts"]) == ("NO_ANS", 3)
    assert (by_number[FAILED]["result"], by_number[FAILED]["attempts"]) == ("CARRIER_ERROR", 1)
    assert all(n["state"] == "FINISHED" for n in found["numbers"])

    # every answered number reached exactly one agent; each agent got the ones it was given
    connected = [c for user in agents for c in taken[user]]
    assert sorted(c["toNumber"] for c in connected) == sorted(ANSWERS)
    assert all(taken[user] for user in agents), taken  # both agents took calls
    for user, calls in taken.items():
        assert all(c["agentId"] == agents[user] for c in calls)
    ann = next(c for c in connected if c["toNumber"] == ANSWERS[0])
    assert ann["contact"] == {"name": "Ann"}

    # each connection is the engine's callout, with its record and the agent's response
    for connection in connected:
        record = await record_of(api.client, connection["id"])
        assert record["result"] == "answered"
        assert record["direction"] == "callout"
        assert record["to_number"] == connection["toNumber"]
        disposition = await poll(
            lambda cid=connection["id"]: _disposition(api, cid), what="the disposition"
        )
        assert disposition == "interested"
    busy_record = await record_of(api.client, f"cf-{campaign_id}-2-1")
    assert (busy_record["result"], busy_record["end_reason"]) == ("failed", "busy")


async def _disposition(api: Api, call_id: str) -> str | None:
    record = ok(await api.client.get(f"/v1/call-records/{call_id}"))
    found: str | None = record.get("disposition")
    return found


async def test_a_busy_number_is_dialled_again_after_its_delay(api: Api) -> None:
    await customer(api, BUSY, answer=False, failure="busy")
    campaign_id = await campaign(api, [BUSY], maxAttempts=2, busyRetrySeconds=1)
    await device(api.client, "carol")
    agent_id = await log_in(api, campaign_id, "carol")
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)

    async def finished() -> dict[str, Any] | None:
        found = await get_campaign(api, campaign_id)
        return found if found["status"] == "FINISHED" else None

    found = await poll(finished, timeout=10, what="the campaign to finish")
    assert (found["numbers"][0]["result"], found["numbers"][0]["attempts"]) == ("BUSY", 2)
    state = api.app.state.helpline

    async def stored() -> list[Any] | None:  # the status is the dialer's, ahead of the store
        found = await state.store.callfire.list_attempts(api.acme.tenant_id, campaign_id)
        return found if all(a.outcome is not None for a in found) else None

    attempts = await poll(stored, what="the attempts' outcomes stored")
    assert [a.outcome for a in attempts] == ["busy", "busy"]
    assert attempts[1].started_at - attempts[0].ended_at >= 1.0  # the campaign's busy delay
    assert agent_id  # the agent stayed logged in throughout
    assert (await get_campaign(api, campaign_id))["stats"]["agentsLoggedIn"] == 1


async def test_stop_lets_the_call_finish_and_dials_nothing_new(api: Api) -> None:
    for number in ANSWERS[:2]:
        await customer(api, number, answer=True)
    campaign_id = await campaign(api, ANSWERS[:2])
    await device(api.client, "erin")
    agent_id = await log_in(api, campaign_id, "erin")
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)
    creds = {"campaignId": campaign_id, "agentId": agent_id}
    first = (await call_ok(api, "getConnectionForAgent", **creds))["CallType"]
    await call_ok(api, "stopCampaign", 204, campaignId=campaign_id)
    live = ok(await api.client.get(f"/v1/calls/{first['id']}"))
    assert live["state"] == "connected"  # the call in progress goes on
    await call_ok(api, "storeAgentResponse", 204, callId=first["id"], **creds)
    assert (await call(api, "getConnectionForAgent", timeout=1, **creds)).status_code == 204
    found = await get_campaign(api, campaign_id)
    assert found["status"] == "STOPPED"
    assert [n["state"] for n in found["numbers"]] == ["FINISHED", "READY"]
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)
    second = (await call_ok(api, "getConnectionForAgent", **creds))["CallType"]
    assert second["toNumber"] == ANSWERS[1]
