"""The agent's line, end to end through the sandbox carrier (seed 003, "How Call Center
Connect Works from the Agent Perspective").

sendAgentCallBack phones the agent; it hears its agent id, logs in with it, hears hold music;
each customer comes on the same line after a beep; storeAgentResponse puts it back on hold
music; lastcall asks it to hang up and ends the line; kickAgent hangs it up. A phone that is
busy or does not answer, or an agent who hangs up, leaves no call, agent or campaign stuck.
What the agent heard is read from the sandbox (`/v1/sandbox/agent-lines/{agent}`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from api_support import (
    Api,
    agent_state,
    demo_with,
    device,
    hang_up,
    live,
    ok,
    place,
    poll,
    put_document,
    record_of,
    wait_state,
)
from callfire_support import call, call_ok, campaign, fault_of, get_campaign

from helpline.runtime.campaign_registry import Campaigns
from helpline.runtime.campaigns import TenantCampaigns

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def phone(api: Api, number: str, **behaviour: Any) -> None:
    """How a phone the carrier dials behaves (a customer's, or an agent's)."""
    ok(await api.client.put(f"/v1/sandbox/customers/{number}", json=behaviour))


async def line_of(api: Api, agent: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(await api.client.get(f"/v1/sandbox/agent-lines/{agent}"))
    return found


async def line_in(api: Api, agent: str, *states: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await line_of(api, agent)
        return found if found["state"] in states else None

    return await poll(check, what=f"{agent}'s line to be {' or '.join(states)}")


async def tenant_campaigns(api: Api) -> TenantCampaigns:
    state = api.app.state.helpline
    return await Campaigns.of(state.hub, state.store.callfire).tenant(api.acme.tenant_id)


async def waiting_for(tenant: TenantCampaigns, agent: str) -> bool | None:
    return tenant.waiting(agent) > 0 or None


async def no_live_calls(api: Api) -> bool | None:
    return not ok(await api.client.get("/v1/calls"))["items"] or None


async def test_the_agents_day_as_the_seed_tells_it(api: Api) -> None:
    """Steps 1-10: one line for the whole session, and no ringing per customer."""
    customers = ["+15557600001", "+15557600002"]
    for number in customers:
        await phone(api, number, answer=True)
    campaign_id = await campaign(api, customers)
    # alice has no phone number in the center and no device: the line goes where asked
    called = await call_ok(
        api, "sendAgentCallBack", campaignId=campaign_id, userId="alice", phonenumber="+15558800001"
    )
    code = called["agentId"]
    line = await line_in(api, "alice", "announcing")  # step 1: the phone rang and was answered
    assert line["phone_number"] == "+15558800001"
    assert line["heard"] == [  # step 2: the agent id, digit by digit, until it logs in
        {
            "kind": "prompt",
            "text": f"Your agent ID is {' '.join(code)}. Enter it to log in.",
            "repeat": True,
        }
    ]
    creds = {"campaignId": campaign_id, "agentId": code}
    await call_ok(api, "loginAgent", 204, **creds)
    await line_in(api, "alice", "hold")  # step 3: hold music
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)

    first = (await call_ok(api, "getConnectionForAgent", **creds))["CallType"]
    line = await line_in(api, "alice", "talking")  # step 4: a beep, then the customer
    assert line["customer_call_id"] == first["id"]
    ok(await api.client.post(f"/v1/sandbox/calls/{first['id']}/hangup"))  # the customer leaves
    await line_in(api, "alice", "wrap_up")  # step 5: the agent fills in its screen
    await call_ok(api, "storeAgentResponse", 204, callId=first["id"], agentResponse="ok", **creds)
    second = (await call_ok(api, "getConnectionForAgent", **creds))["CallType"]  # steps 6-7
    await line_in(api, "alice", "talking")
    # steps 9-10: Logoff instead of Next Call, while still talking: asked to hang up
    await call_ok(api, "storeAgentResponse", 204, callId=second["id"], lastcall=True, **creds)
    line = await line_in(api, "alice", "ended")
    assert line["end_reason"] == "last_call"
    assert [h["kind"] for h in line["heard"]] == [
        "prompt",  # the agent id
        "hold_music",
        "beep",
        "customer",
        "call_ended",
        "hold_music",  # after storeAgentResponse
        "beep",
        "customer",
        "call_ended",
        "prompt",  # "please hang up your phone"
    ]
    assert [h["number"] for h in line["heard"] if h["kind"] == "customer"] == customers
    assert "hang up" in line["heard"][-1]["text"]

    for connection, hung_up_by in ((first, "customer"), (second, "system")):
        record = await record_of(api.client, connection["id"])
        assert (record["result"], record["direction"], record["agent_id"]) == (
            "answered",
            "callout",
            "alice",
        )
        assert record["disconnected_by"] == hung_up_by
    assert (await record_of(api.client, second["id"]))["end_reason"] == "agent_next_call"
    found = await get_campaign(api, campaign_id)
    assert (found["status"], found["stats"]["agentsLoggedIn"]) == ("FINISHED", 0)
    await poll(lambda: no_live_calls(api), what="no live call")
    state = ok(await api.client.get("/v1/agents/alice/state"))
    assert state["online"] is False  # its line is no presence: it never reached alice for a queue


async def test_a_busy_phone_gives_no_login(api: Api) -> None:
    await phone(api, "+15558800002", answer=False, failure="busy")
    campaign_id = await campaign(api, [])
    called = await call_ok(
        api, "sendAgentCallBack", campaignId=campaign_id, userId="bob", phonenumber="+15558800002"
    )
    line = await line_in(api, "bob", "ended")
    assert (line["end_reason"], line["heard"]) == ("busy", [])
    response = await call(api, "loginAgent", campaignId=campaign_id, agentId=called["agentId"])
    assert "sendAgentCallBack" in fault_of(response, 404)


async def test_logged_in_while_it_rings_then_unanswered(api: Api) -> None:
    """Logged in before the phone was answered: nothing is dialled for it; when the phone
    rings out the waiting getConnectionForAgent learns the agent left."""
    await phone(api, "+15558800003", answer=False, failure="no_answer", delay_s=1)
    await phone(api, "+15557600010", answer=True)
    campaign_id = await campaign(api, ["+15557600010"])
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)
    called = await call_ok(
        api, "sendAgentCallBack", campaignId=campaign_id, userId="carol", phonenumber="+15558800003"
    )
    creds = {"campaignId": campaign_id, "agentId": called["agentId"]}
    await call_ok(api, "loginAgent", 204, **creds)
    response = await call(api, "getConnectionForAgent", timeout=20, **creds)
    assert "line_no_answer" in fault_of(response, 409)
    found = await get_campaign(api, campaign_id)
    assert found["numbers"][0]["state"] == "READY"  # never dialled for an agent not reached
    assert (found["status"], found["stats"]["agentsLoggedIn"]) == ("RUNNING", 0)


async def test_the_agent_hangs_up(api: Api) -> None:
    """On hold: a waiting getConnectionForAgent gets the logged-out error. Talking: the call
    ends, hung up by the agent; the number keeps its answer; nothing is left live."""
    await device(api.client, "dave")  # dave's line goes to his phone number (center doc)
    await phone(api, "+15557600020", answer=True)
    campaign_id = await campaign(api, ["+15557600020"])
    called = await call_ok(api, "sendAgentCallBack", campaignId=campaign_id, userId="dave")
    creds = {"campaignId": campaign_id, "agentId": called["agentId"]}
    await call_ok(api, "loginAgent", 204, **creds)
    line = await line_in(api, "dave", "hold")
    assert line["phone_number"] == "+15550100004"
    waiting = asyncio.create_task(call(api, "getConnectionForAgent", timeout=20, **creds))
    tenant = await tenant_campaigns(api)
    await poll(lambda: waiting_for(tenant, "dave"), what="getConnectionForAgent to wait")
    ok(await api.client.post("/v1/sandbox/agent-lines/dave/hangup"))
    assert "line_hung_up" in fault_of(await asyncio.wait_for(waiting, 10), 409)
    response = await call(api, "getConnectionForAgent", timeout=0, **creds)
    assert "agent" in fault_of(response, 404)

    called = await call_ok(api, "sendAgentCallBack", campaignId=campaign_id, userId="dave")
    creds["agentId"] = called["agentId"]
    await call_ok(api, "loginAgent", 204, **creds)
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)
    connection = (await call_ok(api, "getConnectionForAgent", **creds))["CallType"]
    await line_in(api, "dave", "talking")
    ok(await api.client.post("/v1/sandbox/agent-lines/dave/hangup"))
    record = await record_of(api.client, connection["id"])
    assert (record["result"], record["disconnected_by"]) == ("answered", "agent")
    found = await get_campaign(api, campaign_id)
    assert (found["status"], found["stats"]["agentsLoggedIn"]) == ("FINISHED", 0)
    assert found["numbers"][0]["result"] == "LA"
    await poll(lambda: no_live_calls(api), what="no live call")


async def test_kick_hangs_up_the_line(api: Api) -> None:
    """Before the login (the agent still hears its id) and after it."""
    await device(api.client, "erin")  # no phone number: the line rings her device
    campaign_id = await campaign(api, [])
    called = await call_ok(api, "sendAgentCallBack", campaignId=campaign_id, userId="erin")
    await line_in(api, "erin", "announcing")
    creds = {"campaignId": campaign_id, "agentId": called["agentId"]}
    await call_ok(api, "kickAgent", 204, **creds)
    line = await line_of(api, "erin")
    assert (line["state"], line["end_reason"], line["phone_number"]) == ("ended", "kicked", None)
    assert "sendAgentCallBack" in fault_of(await call(api, "loginAgent", **creds), 404)

    called = await call_ok(api, "sendAgentCallBack", campaignId=campaign_id, userId="erin")
    creds["agentId"] = called["agentId"]
    await call_ok(api, "loginAgent", 204, **creds)
    await line_in(api, "erin", "hold")
    await call_ok(api, "kickAgent", 204, **creds)
    line = await line_of(api, "erin")
    assert (line["state"], line["end_reason"]) == ("ended", "kicked")
    assert line["heard"][-1]["kind"] == "hold_music"  # hung up at once: no farewell


async def test_a_bad_phone_number_is_named(api: Api) -> None:
    campaign_id = await campaign(api, [])
    response = await call(
        api, "sendAgentCallBack", campaignId=campaign_id, userId="frank", phonenumber="12ab"
    )
    assert "phonenumber" in fault_of(response, 400)


async def test_an_agent_who_never_logs_in_is_hung_up(api: Api) -> None:
    """An answered line is not left saying the agent id for ever (`login_window_s`)."""
    tenant = await tenant_campaigns(api)
    tenant.lines.login_window_s = 0.2
    campaign_id = await campaign(api, [])
    called = await call_ok(
        api, "sendAgentCallBack", campaignId=campaign_id, userId="frank", phonenumber="+15558800009"
    )
    line = await line_in(api, "frank", "ended")
    assert line["end_reason"] == "login_timeout"
    response = await call(api, "loginAgent", campaignId=campaign_id, agentId=called["agentId"])
    assert "sendAgentCallBack" in fault_of(response, 404)


async def on_hold_line(api: Api, campaign_id: int, agent: str, phone: str) -> dict[str, Any]:
    """`agent` called back at `phone`, logged in, on hold music: its credentials."""
    await phone_answers(api, phone)
    called = await call_ok(
        api, "sendAgentCallBack", campaignId=campaign_id, userId=agent, phonenumber=phone
    )
    creds = {"campaignId": campaign_id, "agentId": called["agentId"]}
    await call_ok(api, "loginAgent", 204, **creds)
    await line_in(api, agent, "hold")
    return creds


async def phone_answers(api: Api, number: str) -> None:
    await phone(api, number, answer=True)


async def test_a_login_racing_its_lines_failure_leaves_no_agent_stuck(api: Api) -> None:
    """Review blocker 1: a loginAgent waiting for the campaigns while the line fails is
    either refused (the id is void) or logs the agent in and out again: never an agent
    logged in with no line, dialled for and never reached."""
    await phone(api, "+15558800301", answer=False, failure="busy", delay_s=0.3)
    campaign_id = await campaign(api, [])
    tenant = await tenant_campaigns(api)
    called = await call_ok(
        api, "sendAgentCallBack", campaignId=campaign_id, userId="alice", phonenumber="+15558800301"
    )
    creds = {"campaignId": campaign_id, "agentId": called["agentId"]}
    await tenant._lock.acquire()  # stands in for a dialer event awaiting the store
    try:
        login = asyncio.create_task(call(api, "loginAgent", **creds))
        await line_in(api, "alice", "ended")  # the failure is reported while the login waits
    finally:
        tenant._lock.release()
    response = await login
    assert response.status_code in (204, 404), response.text
    if response.status_code == 404:
        assert "sendAgentCallBack" in fault_of(response, 404)

    async def logged_out() -> bool | None:
        return not tenant.dialer(str(campaign_id)).sessions or None

    await poll(logged_out, what="alice out of the campaign")
    assert tenant.lines.of("alice") is None and "alice" not in tenant.agent_campaign
    assert "sendAgentCallBack" in fault_of(await call(api, "loginAgent", **creds), 404)


async def test_a_login_with_no_line_is_refused(api: Api) -> None:
    """An agent id whose line is gone (however that happened) gives no login."""
    campaign_id = await campaign(api, [])
    tenant = await tenant_campaigns(api)
    called = await call_ok(
        api, "sendAgentCallBack", campaignId=campaign_id, userId="bob", phonenumber="+15558800302"
    )
    await line_in(api, "bob", "announcing")
    tenant.lines.by_agent.pop("bob")  # the line forgotten, its agent id not (yet)
    response = await call(api, "loginAgent", campaignId=campaign_id, agentId=called["agentId"])
    assert "its phone line ended" in fault_of(response, 404)
    assert not tenant.dialer(str(campaign_id)).sessions


async def test_the_line_is_no_presence_for_the_queues(api: Api) -> None:
    """Review blocker 2: an agent whose only phone is its campaign line is not offered a
    queue's call (it would go nowhere and leave it NOT_AVAILABLE for missed offers); the
    campaign's own calls still reach it on the line."""
    await put_document(api.client, demo_with(sales_en={"wait_agent_answer_timeout": "1s"}))
    await phone(api, "+15557600301", answer=True)
    campaign_id = await campaign(api, ["+15557600301"])
    creds = await on_hold_line(api, campaign_id, "alice", "+15558800303")
    inbound = await place(api.client, digits="11", from_number="+15551110301")
    await wait_state(api.client, inbound, "queued")
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)
    connection = (await call_ok(api, "getConnectionForAgent", **creds))["CallType"]
    line = await line_in(api, "alice", "talking")
    assert line["customer_call_id"] == connection["id"]
    waiting = await live(api.client, inbound)
    assert waiting is not None and waiting["state"] == "queued"  # never offered to alice
    state = await agent_state(api.client, "alice")
    assert (state["manual_status"], state["online"]) == ("AVAILABLE", False)
    await hang_up(api.client, inbound)


async def test_other_calls_to_a_line_agent_do_not_take_the_line(api: Api) -> None:
    """Review blocker 3: a native callout to an agent on hold music is not answered on its
    line (the dialer would never learn of it and the line would stay silent): the agent is
    not reachable but through its line, so the callout is refused; the line keeps waiting
    and the campaign's next call goes on it."""
    await phone(api, "+15557600302", answer=True)
    campaign_id = await campaign(api, ["+15557600302"])
    creds = await on_hold_line(api, campaign_id, "bob", "+15558800304")
    callout = {"agent_id": "bob", "customer_number": "+15557600399"}
    refused = await api.client.post("/v1/calls/callout", json=callout)
    assert refused.status_code == 409, refused.text
    assert (await line_of(api, "bob"))["state"] == "hold"
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)
    connection = (await call_ok(api, "getConnectionForAgent", timeout=20, **creds))["CallType"]
    assert (await line_in(api, "bob", "talking"))["customer_call_id"] == connection["id"]


async def test_a_login_ends_the_login_window(api: Api) -> None:
    """An agent logged in is not hung up when the window to log in would have ended."""
    tenant = await tenant_campaigns(api)
    tenant.lines.login_window_s = 0.3
    campaign_id = await campaign(api, [])
    await phone_answers(api, "+15558800305")
    called = await call_ok(
        api, "sendAgentCallBack", campaignId=campaign_id, userId="carol", phonenumber="+15558800305"
    )
    await line_in(api, "carol", "announcing")
    line = tenant.lines.of("carol")
    assert line is not None
    await poll(lambda: timer_set(line), what="the login window to open")
    await call_ok(api, "loginAgent", 204, campaignId=campaign_id, agentId=called["agentId"])
    assert line.login_timer is None
    waited = await call(
        api, "getConnectionForAgent", timeout=1, campaignId=campaign_id, agentId=called["agentId"]
    )
    assert waited.status_code == 204  # a second: three times the window, still logged in
    assert (await line_of(api, "carol"))["state"] == "hold"


async def timer_set(line: Any) -> bool | None:
    return line.login_timer is not None or None


async def test_a_kick_while_talking_leaves_one_record(api: Api) -> None:
    """Review 11: the kicked agent's call is ended twice (the dialer's EndCall, the line's
    own hang-up): one record, the campaign goes on, nothing live."""
    await phone(api, "+15557600303", answer=True)
    campaign_id = await campaign(api, ["+15557600303"])
    creds = await on_hold_line(api, campaign_id, "erin", "+15558800306")
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)
    connection = (await call_ok(api, "getConnectionForAgent", **creds))["CallType"]
    await line_in(api, "erin", "talking")
    await call_ok(api, "kickAgent", 204, **creds)
    assert (await line_in(api, "erin", "ended"))["end_reason"] == "kicked"
    record = await record_of(api.client, connection["id"])
    assert (record["result"], record["agent_id"]) == ("answered", "erin")
    await poll(lambda: no_live_calls(api), what="no live call")
    records = ok(await api.client.get("/v1/call-records", params={"limit": 100}))["items"]
    assert [r["call_id"] for r in records].count(connection["id"]) == 1
    found = await get_campaign(api, campaign_id)
    assert (found["stats"]["agentsLoggedIn"], found["numbers"][0]["result"]) == (0, "LA")


async def test_a_stop_fails_the_waiting_connections(api: Api) -> None:
    """Review 4: the campaigns stop (the server shuts down): a getConnectionForAgent
    waiting is told the agent left, and the agent's phone is hung up."""
    campaign_id = await campaign(api, [])
    creds = await on_hold_line(api, campaign_id, "frank", "+15558800307")
    tenant = await tenant_campaigns(api)
    waiting = asyncio.create_task(call(api, "getConnectionForAgent", timeout=20, **creds))
    await poll(lambda: waiting_for(tenant, "frank"), what="getConnectionForAgent to wait")
    await tenant.stop()
    assert "system_stop" in fault_of(await asyncio.wait_for(waiting, 10), 409)
    assert (await line_in(api, "frank", "ended"))["end_reason"] == "system_stop"
