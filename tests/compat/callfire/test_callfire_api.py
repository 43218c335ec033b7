"""Every method of /compat/callfire, its answers and its errors (seed 003).

Seed 003 gives the flow, not literal requests: "Setup your campaigns first" (a campaign with
the numbers to dial, startCampaign and stopCampaign), "Using the API to Login your Agents"
(sendAgentCallBack, then loginAgent with the agent id), "After the Login" (the blocking
getConnectionForAgent returning a CallType, storeAgentResponse with `lastcall`) and kickAgent.
Each step is sent here as the seed describes it and its answer checked.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from api_support import Api, device, ok, record_of
from callfire_support import (
    BASE,
    call,
    call_ok,
    campaign,
    fault_of,
    get_campaign,
    key,
    log_in,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

CAMPAIGN_FIELDS = {
    "id",
    "name",
    "status",
    "created",
    "maxAttempts",
    "busyRetrySeconds",
    "noAnswerRetrySeconds",
    "fromNumber",
    "agentRingSeconds",
    "stats",
    "numbers",
}
CALL_TYPE_FIELDS = {
    "id",
    "campaignId",
    "agentId",
    "toNumber",
    "fromNumber",
    "numberId",
    "attempt",
    "connected",
    "contact",
}


async def test_setup_a_campaign_start_and_stop_it(api: Api) -> None:
    """Seed 003 "Setup your campaigns first": a campaign with the numbers to dial."""
    campaign_id = await campaign(api, ["+15557100001", {"number": "+15557100002", "name": "Bo"}])
    found = await get_campaign(api, campaign_id)
    assert set(found) == CAMPAIGN_FIELDS
    assert (found["id"], found["name"], found["status"]) == (campaign_id, "spring", "SETUP")
    assert (found["maxAttempts"], found["busyRetrySeconds"], found["noAnswerRetrySeconds"]) == (
        3,
        300,
        600,
    )
    assert [(n["number"], n["state"], n["result"], n["attempts"]) for n in found["numbers"]] == [
        ("+15557100001", "READY", None, 0),
        ("+15557100002", "READY", None, 0),
    ]
    assert found["numbers"][1]["contact"] == {"name": "Bo"}

    added = await call_ok(api, "addNumbers", campaignId=campaign_id, numbers="+15557100003")
    assert added == {"campaignId": campaign_id, "added": 1}
    assert (await get_campaign(api, campaign_id))["stats"]["total"] == 3

    assert await call_ok(api, "startCampaign", 204, campaignId=campaign_id) is None
    assert (await get_campaign(api, campaign_id))["status"] == "RUNNING"
    assert await call_ok(api, "stopCampaign", 204, campaignId=campaign_id) is None
    assert (await get_campaign(api, campaign_id))["status"] == "STOPPED"

    listed = await call_ok(api, "listCampaigns")
    assert listed["totalResults"] == 1
    assert [c["id"] for c in listed["Campaign"]] == [campaign_id]


async def test_the_key_is_the_tenants_api_key(api: Api) -> None:
    campaign_id = await campaign(api, [])
    # the key as a parameter (query string), or HTTP Basic as the native API takes it
    by_query = await api.anonymous.get(
        f"{BASE}/getCampaign", params={"key": key(api), "campaignId": campaign_id}
    )
    assert ok(by_query)["Campaign"]["id"] == campaign_id
    by_basic = await api.client.post(f"{BASE}/getCampaign", data={"campaignId": campaign_id})
    assert ok(by_basic)["Campaign"]["id"] == campaign_id

    for wrong in ({}, {"key": "nope"}, {"key": f"{api.acme.key_id}:wrong"}):
        response = await api.anonymous.post(
            f"{BASE}/getCampaign", json={"campaignId": campaign_id, **wrong}
        )
        assert "key" in fault_of(response, 401)
    # another tenant's campaign does not exist for this one
    other = f"{api.second.key_id}:{api.second.secret}"
    response = await api.anonymous.post(
        f"{BASE}/getCampaign", json={"key": other, "campaignId": campaign_id}
    )
    assert "campaignId" in fault_of(response, 404)


WRONG: list[tuple[str, dict[str, Any], int, str]] = [
    ("createCampaign", {}, 400, "name"),
    ("createCampaign", {"name": "x", "numbers": ["12ab"]}, 400, "numbers[0]"),
    ("createCampaign", {"name": "x", "numbers": 5}, 400, "numbers"),
    ("createCampaign", {"name": "x", "maxAttempts": 0}, 400, "maxAttempts"),
    ("createCampaign", {"name": "x", "busyRetrySeconds": "soon"}, 400, "busyRetrySeconds"),
    ("getCampaign", {}, 400, "campaignId"),
    ("getCampaign", {"campaignId": "abc"}, 400, "campaignId"),
    ("getCampaign", {"campaignId": 999999}, 404, "campaignId"),
    ("addNumbers", {"campaignId": "{c}"}, 400, "numbers"),
    ("startCampaign", {"campaignId": -1}, 400, "campaignId"),
    ("sendAgentCallBack", {"campaignId": "{c}"}, 400, "phonenumber"),
    ("sendAgentCallBack", {"campaignId": "{c}", "phonenumber": "+19999"}, 404, "phonenumber"),
    ("sendAgentCallBack", {"campaignId": "{c}", "userId": "nobody"}, 404, "agent"),
    ("loginAgent", {"campaignId": "{c}"}, 400, "agentId"),
    ("loginAgent", {"campaignId": "{c}", "agentId": "123456"}, 404, "sendAgentCallBack"),
    ("getConnectionForAgent", {"campaignId": "{c}", "agentId": "1"}, 404, "agent"),
    ("getConnectionForAgent", {"campaignId": "{c}", "agentId": "1", "timeout": -2}, 400, "timeout"),
    ("storeAgentResponse", {"campaignId": "{c}", "agentId": "1"}, 400, "callId"),
    (
        "storeAgentResponse",
        {"campaignId": "{c}", "agentId": "1", "callId": "x", "lastcall": "maybe"},
        400,
        "lastcall",
    ),
    ("kickAgent", {"campaignId": "{c}", "agentId": "777"}, 404, "agent"),
]


@pytest.mark.parametrize(
    ("method", "params", "status", "named"), WRONG, ids=[f"{w[0]}-{w[3]}" for w in WRONG]
)
async def test_missing_or_wrong_parameters_are_named(
    api: Api, method: str, params: dict[str, Any], status: int, named: str
) -> None:
    campaign_id = await campaign(api, [])
    filled = {k: campaign_id if v == "{c}" else v for k, v in params.items()}
    assert named in fault_of(await call(api, method, **filled), status)


async def test_agent_login_and_the_blocking_connection(api: Api) -> None:
    """Seed 003 "Using the API to Login your Agents" and "After the Login"."""
    await device(api.client, "alice")
    campaign_id = await campaign(api, [{"number": "+15557200001", "name": "Ann"}])
    called = await call_ok(api, "sendAgentCallBack", campaignId=campaign_id, userId="alice")
    agent_id = called["agentId"]
    assert set(called) == {"agentId"}
    assert agent_id.isdigit()
    assert len(agent_id) == 6
    await call_ok(api, "loginAgent", 204, campaignId=campaign_id, agentId=agent_id)
    # logged in, but the campaign has not started: the call blocks, and times out empty
    waiting = await call(
        api, "getConnectionForAgent", campaignId=campaign_id, agentId=agent_id, timeout=0
    )
    assert waiting.status_code == 204

    blocked = asyncio.create_task(
        call(api, "getConnectionForAgent", campaignId=campaign_id, agentId=agent_id, timeout=10)
    )
    await asyncio.sleep(0.2)
    assert not blocked.done()  # no connection yet
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)
    call_type = ok(await asyncio.wait_for(blocked, 10))["CallType"]
    assert set(call_type) == CALL_TYPE_FIELDS
    assert call_type["campaignId"] == campaign_id
    assert call_type["agentId"] == agent_id
    assert call_type["toNumber"] == "+15557200001"
    assert call_type["contact"] == {"name": "Ann"}
    assert call_type["attempt"] == 1
    live = ok(await api.client.get(f"/v1/calls/{call_type['id']}"))
    assert (live["state"], live["agent_id"], live["direction"]) == ("connected", "alice", "callout")
    # asked again before storeAgentResponse: the same connection
    again = await call_ok(api, "getConnectionForAgent", campaignId=campaign_id, agentId=agent_id)
    assert again["CallType"] == call_type

    # seed 003 step 4: lastcall, so the agent is logged out after this call
    await call_ok(
        api,
        "storeAgentResponse",
        204,
        campaignId=campaign_id,
        agentId=agent_id,
        callId=call_type["id"],
        agentResponse="sale",
        agentNotes="wants the blue one",
        lastcall=True,
    )
    record = await record_of(api.client, call_type["id"])
    assert (record["result"], record["end_reason"]) == ("answered", "agent_next_call")
    response = await call(api, "getConnectionForAgent", campaignId=campaign_id, agentId=agent_id)
    assert "agent" in fault_of(response, 404)  # logged out: its agent id is gone
    found = await get_campaign(api, campaign_id)
    assert found["stats"]["agentsLoggedIn"] == 0
    assert found["status"] == "FINISHED"
    attempts = await _attempts(api, campaign_id)
    assert [(a.outcome, a.disposition, a.notes) for a in attempts] == [
        ("answered", "sale", "wants the blue one")
    ]


async def test_send_agent_call_back_by_phone_number_and_one_campaign_at_a_time(api: Api) -> None:
    first = await campaign(api, [])
    second = await campaign(api, [])
    called = await call_ok(api, "sendAgentCallBack", campaignId=first, phonenumber="+15550100004")
    await call_ok(api, "loginAgent", 204, campaignId=first, agentId=called["agentId"])
    # dave is logged in to the first campaign: not a second one as well
    response = await call(api, "sendAgentCallBack", campaignId=second, userId="dave")
    assert "campaign" in fault_of(response, 409)
    # an agent id belongs to its campaign
    response = await call(api, "loginAgent", campaignId=second, agentId=called["agentId"])
    assert "agentId" in fault_of(response, 404)


async def test_kick_agent_hangs_up_and_ends_a_waiting_request(api: Api) -> None:
    await device(api.client, "bob")
    campaign_id = await campaign(api, [])
    agent_id = await log_in(api, campaign_id, "bob")
    waiting = asyncio.create_task(
        call(api, "getConnectionForAgent", campaignId=campaign_id, agentId=agent_id, timeout=10)
    )
    await asyncio.sleep(0.1)
    await call_ok(api, "kickAgent", 204, campaignId=campaign_id, agentId=agent_id)
    assert "kicked" in fault_of(await asyncio.wait_for(waiting, 5), 409)
    response = await call(api, "kickAgent", campaignId=campaign_id, agentId=agent_id)
    assert "agent" in fault_of(response, 404)

    # kicked while talking: the call is hung up
    agent_id = await log_in(api, campaign_id, "bob")
    await call_ok(api, "addNumbers", campaignId=campaign_id, numbers=["+15557300001"])
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)
    call_type = (
        await call_ok(api, "getConnectionForAgent", campaignId=campaign_id, agentId=agent_id)
    )["CallType"]
    await call_ok(api, "kickAgent", 204, campaignId=campaign_id, agentId=agent_id)
    record = await record_of(api.client, call_type["id"])
    assert (record["result"], record["end_reason"]) == ("answered", "agent_kicked")


async def _attempts(api: Api, campaign_id: int) -> list[Any]:
    state = api.app.state.helpline
    return list(await state.store.callfire.list_attempts(api.acme.tenant_id, campaign_id))


async def test_a_response_after_the_customer_hung_up(api: Api) -> None:
    """The customer ends the call first: the agent waits (wrap-up) until its response."""
    await device(api.client, "frank")
    campaign_id = await campaign(api, ["+15557500001", "+15557500002"])
    agent_id = await log_in(api, campaign_id, "frank")
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)
    creds = {"campaignId": campaign_id, "agentId": agent_id}
    first = (await call_ok(api, "getConnectionForAgent", **creds))["CallType"]
    ok(await api.client.post(f"/v1/sandbox/calls/{first['id']}/hangup"))
    record = await record_of(api.client, first["id"])
    assert record["disconnected_by"] == "customer"
    # no next call before the response: the connection is still the agent's to report on
    again = await call_ok(api, "getConnectionForAgent", timeout=0, **creds)
    assert again["CallType"]["id"] == first["id"]
    await call_ok(
        api, "storeAgentResponse", 204, callId=first["id"], agentResponse="callback", **creds
    )
    stored = ok(await api.client.get(f"/v1/call-records/{first['id']}"))
    assert stored["disposition"] == "callback"
    second = (await call_ok(api, "getConnectionForAgent", **creds))["CallType"]
    assert second["toNumber"] == "+15557500002"
