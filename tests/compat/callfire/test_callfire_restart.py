"""A restart resumes a campaign where the store left it, without dialling a finished number
again (numbers, attempts and outcomes are stored as they change)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from api_support import JWT_SECRET, Api, device, ok
from callfire_support import BASE, campaign, get_campaign, key, log_in

from helpline.api.app import create_app
from helpline.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

NUMBERS = ["+15557400001", "+15557400002", "+15557400003"]


@contextlib.asynccontextmanager
async def restarted(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A second server process on the same database: a fresh engine, dialers, carrier."""
    app = create_app(Settings(database_url=api.server.database_url, jwt_secret=JWT_SECRET))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers=api.acme.headers,
        ) as client,
    ):
        yield client


async def take_and_respond(
    client: httpx.AsyncClient, creds: dict[str, Any], *, last: bool = False
) -> dict[str, Any]:
    call_type: dict[str, Any] = ok(
        await client.post(f"{BASE}/getConnectionForAgent", json={**creds, "timeout": 5})
    )["CallType"]
    response = await client.post(
        f"{BASE}/storeAgentResponse",
        json={**creds, "callId": call_type["id"], "agentResponse": "ok", "lastcall": last},
    )
    assert response.status_code == 204, response.text
    return call_type


async def test_a_restart_resumes_the_campaign_without_redialling(api: Api) -> None:
    campaign_id = await campaign(api, NUMBERS)
    await device(api.client, "alice")
    agent_id = await log_in(api, campaign_id, "alice")
    ok(
        await api.anonymous.post(
            f"{BASE}/startCampaign", json={"key": key(api), "campaignId": campaign_id}
        ),
        204,
    )
    creds = {"key": key(api), "campaignId": campaign_id, "agentId": agent_id}
    first = await take_and_respond(api.anonymous, creds, last=True)
    assert first["toNumber"] == NUMBERS[0]
    # the first process goes away (alice logged off: nothing else is dialled there)

    async with restarted(api) as client:
        found = ok(await client.post(f"{BASE}/getCampaign", json={"campaignId": campaign_id}))[
            "Campaign"
        ]
        assert found["status"] == "RUNNING"
        states = {n["number"]: (n["state"], n["result"]) for n in found["numbers"]}
        assert states[NUMBERS[0]] == ("FINISHED", "LA")
        # agents log in again after a restart (their phone line went with the process)
        ok(await client.put("/v1/sandbox/devices/bob", json={"auto_answer": True}))
        called = ok(
            await client.post(
                f"{BASE}/sendAgentCallBack", json={"campaignId": campaign_id, "userId": "bob"}
            )
        )
        bob = {"campaignId": campaign_id, "agentId": called["agentId"]}
        login = await client.post(f"{BASE}/loginAgent", json=bob)
        assert login.status_code == 204, login.text
        taken = [await take_and_respond(client, bob) for _ in range(2)]
        assert sorted(c["toNumber"] for c in taken) == sorted(NUMBERS[1:])
        timeout = await client.post(f"{BASE}/getConnectionForAgent", json={**bob, "timeout": 0})
        assert timeout.status_code == 204
        done = ok(await client.post(f"{BASE}/getCampaign", json={"campaignId": campaign_id}))
        assert done["Campaign"]["status"] == "FINISHED"
        # FINISHED says nothing is left to dial; the last call's end reaches the dialer on the
        # engine's event stream just after, and becomes its attempt's outcome. This process
        # runs until then (stopped earlier, the next start's reconcile would close it)
        store = api.app.state.helpline.store.callfire
        for _ in range(200):
            attempts = await store.list_attempts(api.acme.tenant_id, campaign_id)
            if all(a.outcome is not None for a in attempts):
                break
            await asyncio.sleep(0.05)

    attempts = await api.app.state.helpline.store.callfire.list_attempts(
        api.acme.tenant_id, campaign_id
    )
    dialled = [a.number_id for a in attempts if a.outcome == "answered"]
    assert sorted(dialled) == [1, 2, 3]  # the first number once, never again
    assert len([a for a in attempts if a.number_id == 1]) == 1
    assert (await get_campaign(api, campaign_id))["numbers"][0]["attempts"] == 1
