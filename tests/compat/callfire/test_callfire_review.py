"""Regressions from the review of issue 5 (CallFire): the dialer never loses what the engine
tells it (B1), a kick while the customer's phone rings spares its number (S1), a big
number list is one batch (S2), `disposition`/`notes` are taken and unknown parameters named
(S3), integers are ASCII digits and contact objects bounded, attempts live at a restart get
an outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from api_support import Api, device, ok, poll, record_of
from callfire_support import call, call_ok, campaign, fault_of, get_campaign, log_in
from sqlalchemy import event
from test_callfire_restart import restarted

from helpline.core import dialer as dl
from helpline.core import dialer_messages as dm
from helpline.runtime.campaign_registry import Campaigns
from helpline.runtime.campaigns import TenantCampaigns

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def customer(api: Api, number: str, *, answer: bool, delay_s: float = 0.0) -> None:
    body = {"answer": answer, "failure": "no_answer", "delay_s": delay_s}
    ok(await api.client.put(f"/v1/sandbox/customers/{number}", json=body))


async def campaigns(api: Api) -> TenantCampaigns:
    state = api.app.state.helpline
    return await Campaigns.of(state.hub, state.store.callfire).tenant(api.acme.tenant_id)


async def started(api: Api, numbers: list[str], user: str, **rules: Any) -> dict[str, Any]:
    for number in numbers:
        await customer(api, number, answer=True)
    campaign_id = await campaign(api, numbers, **rules)
    await device(api.client, user)
    agent_id = await log_in(api, campaign_id, user)
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)
    return {"campaignId": campaign_id, "agentId": agent_id}


async def test_a_flooded_bus_loses_nothing_the_dialer_needs(api: Api) -> None:
    """B1: the reader is busy while the tenant's bus overflows (it keeps 1000 messages): the
    hangup's `call.ended` still reaches the dialer and the campaign finishes."""
    creds = await started(api, ["+15557100001", "+15557100002"], "alice")
    first = (await call_ok(api, "getConnectionForAgent", **creds))["CallType"]
    tenant = await campaigns(api)
    state = api.app.state.helpline
    async with tenant._lock:  # the dialers are busy (a slow write, say) ...
        ok(await api.client.post(f"/v1/calls/{first['id']}/hangup", json={}), 204)
        await state.hub.runtime(api.acme.tenant_id).settle()
        for _ in range(1500):  # ... while the tenant's other traffic overflows the bus
            state.hub.bus.publish(api.acme.tenant_id, {"type": "noise", "data": {}})
    await call_ok(api, "storeAgentResponse", 204, callId=first["id"], **creds)
    second = (await call_ok(api, "getConnectionForAgent", timeout=5, **creds))["CallType"]
    assert second["id"] != first["id"]
    await call_ok(api, "storeAgentResponse", 204, callId=second["id"], lastcall=True, **creds)

    async def finished() -> bool | None:
        return (await get_campaign(api, creds["campaignId"]))["status"] == "FINISHED" or None

    await poll(finished)
    assert not tenant.dialers[str(creds["campaignId"])].calls


async def test_a_lost_call_end_is_reconciled_from_the_record(api: Api) -> None:
    """B1: should a `call.ended` never come, the next Tick ends the call from its record."""
    creds = await started(api, ["+15557100011", "+15557100012"], "bob")
    first = (await call_ok(api, "getConnectionForAgent", **creds))["CallType"]
    tenant = await campaigns(api)
    runtime = api.app.state.helpline.hub.runtime(api.acme.tenant_id)
    runtime.event_hooks.remove(tenant._hear)  # the dialer hears nothing from now on
    try:
        ok(await api.client.post(f"/v1/calls/{first['id']}/hangup", json={}), 204)
        await record_of(api.client, first["id"])
    finally:
        runtime.event_hooks.append(tenant._hear)
    dialer = tenant.dialers[str(creds["campaignId"])]
    assert first["id"] in dialer.calls  # missed
    # the next Tick (a retry's wake-up, or the sweep every `sweep_s`) reconciles
    await tenant.apply(str(creds["campaignId"]), dm.Tick())
    assert first["id"] not in dialer.calls
    await call_ok(api, "storeAgentResponse", 204, callId=first["id"], **creds)
    second = (await call_ok(api, "getConnectionForAgent", timeout=5, **creds))["CallType"]
    assert second["toNumber"] == "+15557100012"


async def test_kicked_while_the_customer_rings_the_number_is_not_final(api: Api) -> None:
    """S1: the agent was kicked before the customer answered (seed 003: the agent waits on
    its agent line, so it is the customer's phone that rings): UNDIALED, due again, no
    attempt counted."""
    number = "+15557100021"
    await customer(api, number, answer=True, delay_s=60)
    campaign_id = await campaign(api, [number], maxAttempts=3)
    await device(api.client, "carol")
    agent_id = await log_in(api, campaign_id, "carol")
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)
    call_id = f"cf-{campaign_id}-1-1"

    async def ringing() -> bool | None:
        live = await api.client.get(f"/v1/calls/{call_id}")
        return (live.status_code == 200 and live.json()["state"] == "dialing_customer") or None

    await poll(ringing)
    await call_ok(api, "kickAgent", 204, campaignId=campaign_id, agentId=agent_id)
    await record_of(api.client, call_id)
    tenant = await campaigns(api)

    async def settled() -> bool | None:
        return call_id not in tenant.dialers[str(campaign_id)].calls or None

    await poll(settled)
    found = await get_campaign(api, campaign_id)
    assert found["numbers"][0]["state"] == "READY"
    assert found["numbers"][0]["attempts"] == 0
    assert found["status"] == "RUNNING"
    attempts = await api.app.state.helpline.store.callfire.list_attempts(
        api.acme.tenant_id, campaign_id
    )
    assert [a.outcome for a in attempts] == ["not_dialed"]


async def test_two_thousand_numbers_are_one_batch(api: Api) -> None:
    """S2: one multi-row upsert per 500 numbers, in one transaction (was one each)."""
    engine = api.app.state.helpline.store.engine.sync_engine
    inserts: list[int] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CALLFIRE_NUMBERS"):
            inserts.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        numbers = [f"+1555{i:07d}" for i in range(2000)]
        created = await call_ok(api, "createCampaign", 201, name="bulk", numbers=numbers)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(inserts) == 4
    found = await get_campaign(api, created["campaignId"])
    assert [n["number"] for n in found["numbers"]] == numbers
    rows = await api.app.state.helpline.store.callfire.list_numbers(
        api.acme.tenant_id, created["campaignId"]
    )
    assert [r.number for r in rows] == numbers


async def test_disposition_and_notes_are_the_agent_response(api: Api) -> None:
    """S3: issue 5's words for the response go on the record like agentResponse/agentNotes."""
    creds = await started(api, ["+15557100031"], "dave")
    first = (await call_ok(api, "getConnectionForAgent", **creds))["CallType"]
    misspelt = await call(api, "storeAgentResponse", callId=first["id"], disposal="x", **creds)
    assert "disposal" in fault_of(misspelt, 400)
    both = await call(
        api, "storeAgentResponse", callId=first["id"], disposition="A", agentResponse="B", **creds
    )
    assert "disposition" in fault_of(both, 400)
    await call_ok(
        api,
        "storeAgentResponse",
        204,
        callId=first["id"],
        disposition="SALE",
        notes="call back Friday",
        lastcall=True,
        **creds,
    )

    async def amended() -> dict[str, Any] | None:
        response = await api.client.get(f"/v1/call-records/{first['id']}")
        if response.status_code == 404:
            return None  # the call is still being ended
        found: dict[str, Any] = ok(response)
        return found if found.get("disposition") else None

    record = await poll(amended)
    assert (record["disposition"], record["notes"]) == ("SALE", "call back Friday")


@pytest.mark.parametrize(
    ("method", "params", "named"),
    [
        ("createCampaign", {"name": "x", "maxAttempts": "٣"}, "maxAttempts"),
        ("createCampaign", {"name": "x", "maxAttempts": "1_0"}, "maxAttempts"),
        ("getCampaign", {"campaignId": "\uff11"}, "campaignId"),
        (
            "createCampaign",
            {"name": "x", "numbers": [{"number": "+15557100041", "x": {"deep": [1] * 5}}]},
            "numbers[0].x",
        ),
        (
            "createCampaign",
            {"name": "x", "numbers": [{"number": "+15557100041", "x": "y" * 1001}]},
            "numbers[0].x",
        ),
        (
            "createCampaign",
            {
                "name": "x",
                "numbers": [{"number": "+15557100041", **{f"f{i}": i for i in range(51)}}],
            },
            "numbers[0]",
        ),
    ],
)
async def test_integers_are_ascii_digits_and_contacts_are_bounded(
    api: Api, method: str, params: dict[str, Any], named: str
) -> None:
    assert named in fault_of(await call(api, method, **params), 400)


async def test_attempts_live_at_a_restart_get_an_outcome(api: Api) -> None:
    """The dial that was ringing the customer when the process went away is closed
    (not_dialed) and its number dialled again after the restart."""
    number = "+15557100051"
    await customer(api, number, answer=True, delay_s=60)
    campaign_id = await campaign(api, [number])
    await device(api.client, "erin")
    await log_in(api, campaign_id, "erin")
    await call_ok(api, "startCampaign", 204, campaignId=campaign_id)
    store = api.app.state.helpline.store.callfire

    async def placed() -> bool | None:
        attempts = await store.list_attempts(api.acme.tenant_id, campaign_id)
        return bool(attempts) or None

    await poll(placed)
    async with restarted(api) as client:
        found = ok(
            await client.post("/compat/callfire/getCampaign", json={"campaignId": campaign_id})
        )["Campaign"]
        assert found["numbers"][0]["state"] == "READY"
        attempts = await store.list_attempts(api.acme.tenant_id, campaign_id)
        assert [(a.outcome, a.ended_at is not None) for a in attempts] == [("not_dialed", True)]
    await asyncio.sleep(0)


async def test_the_sweep_reconciles_without_a_wake_up(api: Api) -> None:
    """A campaign with agents is reconciled every `sweep_s` even with no retry due: an agent
    the dialer thinks unavailable (its `agent.state_changed` lost) is read again."""
    await device(api.client, "frank")
    state = api.app.state.helpline
    runtime = state.hub.runtime(api.acme.tenant_id)
    tenant = TenantCampaigns(runtime, state.store.callfire)
    tenant.sweep_s = 0.02  # read by the sweeper when it first runs, after this line
    try:
        assert tenant.available("frank")
        dialer = dl.Dialer("999", dm.Rules())
        tenant.add(dialer)
        login = dm.AgentLoggedIn(agent_id="frank", available=False, line_up=True)
        dialer.handle(login, runtime.clock())

        async def refreshed() -> bool | None:
            return dialer.sessions["frank"].available or None

        await poll(refreshed)
    finally:
        await tenant.stop()
    assert tenant._hear not in runtime.event_hooks
