"""Tenants are fully isolated (issue 4, point 3): another tenant's ids answer 404 on every
route, exactly as ids that do not exist, never 403."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from api_support import (
    HOTLINE,
    Api,
    connected,
    device,
    error_of,
    ok,
    place,
    record_of,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

GHOST = "zz-does-not-exist"


async def _looks_nonexistent(
    client: httpx.AsyncClient, method: str, path: str, real: str, body: Any = None
) -> None:
    """`path` (naming `real`, an id of another tenant) answers as if `real` did not exist."""
    theirs = error_of(await client.request(method, path, json=body), 404)
    ghost_body = json.loads(json.dumps(body).replace(real, GHOST))
    ghost = error_of(await client.request(method, path.replace(real, GHOST), json=ghost_body), 404)
    assert theirs == ghost | {"message": ghost["message"].replace(GHOST, real)}, (path, theirs)


async def test_another_tenants_calls_records_and_devices_are_404(api: Api) -> None:
    acme, other = api.client, api.other
    ok(await other.put("/v1/config", json={}))  # the other tenant: an empty center
    await device(acme, "alice")
    done = await place(acme, HOTLINE, "11")
    await connected(acme, done, "alice")
    ok(await acme.post(f"/v1/sandbox/calls/{done}/hangup"))
    await record_of(acme, done)
    await device(acme, "bob")
    talking = await place(acme, HOTLINE, "11", from_number="+15552220000")
    await connected(acme, talking, "bob")

    checks: list[tuple[str, str, str, Any]] = [
        ("GET", f"/v1/call-records/{done}", done, None),
        ("GET", f"/v1/calls/{talking}", talking, None),
        ("POST", f"/v1/calls/{talking}/hangup", talking, None),
        ("POST", f"/v1/calls/{talking}/hold", talking, None),
        ("POST", f"/v1/calls/{talking}/transfer", talking, {"to_number": "+15550001111"}),
        ("GET", f"/v1/sandbox/calls/{talking}", talking, None),
        ("POST", f"/v1/sandbox/calls/{talking}/keys", talking, {"digits": "1"}),
        ("POST", f"/v1/sandbox/calls/{talking}/hangup", talking, None),
        ("GET", "/v1/sandbox/devices/alice", "alice", None),
        ("DELETE", "/v1/sandbox/devices/alice", "alice", None),
        ("PUT", "/v1/sandbox/devices/alice", "alice", {}),
        ("POST", "/v1/sandbox/devices/bob/hangup", "bob", None),
        ("GET", "/v1/agents/alice/state", "alice", None),
        ("PUT", "/v1/agents/alice/status", "alice", {"manual_status": "NOT_AVAILABLE"}),
    ]
    for method, path, real, body in checks:
        await _looks_nonexistent(other, method, path, real, body)

    assert ok(await other.get("/v1/calls"))["items"] == []
    assert ok(await other.get("/v1/call-records"))["items"] == []
    assert (await other.get("/v1/call-records.csv")).text.count("\n") == 1  # the header only
    callout = {"agent_id": "alice", "customer_number": "+15551230000"}
    error_of(await other.post("/v1/calls/callout", json=callout), 404, "not_found")

    # nothing of acme's changed
    assert ok(await acme.get(f"/v1/calls/{talking}"))["state"] == "connected"
    assert ok(await acme.get("/v1/agents/alice/state"))["manual_status"] == "AVAILABLE"
    assert ok(await acme.get("/v1/sandbox/devices/alice"))["agent_id"] == "alice"
    assert [r["call_id"] for r in ok(await acme.get("/v1/call-records"))["items"]] == [done]

    # the other tenant calling acme's hotline reaches nothing of acme's
    theirs = await place(other, HOTLINE)
    assert ok(await other.get(f"/v1/sandbox/calls/{theirs}"))["state"] == "ended"
    assert (await record_of(other, theirs))["result"] == "failed"
    error_of(await acme.get(f"/v1/sandbox/calls/{theirs}"), 404, "not_found")
    error_of(await acme.get(f"/v1/call-records/{theirs}"), 404, "not_found")


async def test_another_tenants_center_and_webhooks_are_404(api: Api) -> None:
    acme, other = api.client, api.other
    ok(await acme.post("/v1/queues", json={"id": "billing", "groups": ["group1"]}), 201)
    hook = ok(await acme.post("/v1/webhooks", json={"url": "https://example.com/h"}), 201)
    key = ok(await acme.post("/v1/api-keys", json={"label": "k"}), 201)

    checks: list[tuple[str, str, str, Any]] = [
        ("GET", "/v1/queues/billing", "billing", None),
        ("PUT", "/v1/queues/billing", "billing", {"id": "billing"}),
        ("DELETE", "/v1/queues/billing", "billing", None),
        ("GET", "/v1/queues/billing/groups", "billing", None),
        ("GET", "/v1/agents/alice", "alice", None),
        ("DELETE", "/v1/agents/alice", "alice", None),
        ("GET", "/v1/groups/group1", "group1", None),
        ("POST", "/v1/groups/group1/members", "group1", {"agent_id": "alice"}),
        ("DELETE", "/v1/groups/group1/members/alice", "group1", None),
        ("GET", f"/v1/numbers/{HOTLINE}", HOTLINE, None),
        ("GET", "/v1/ivr-trees/main", "main", None),
        ("GET", f"/v1/webhooks/{hook['id']}", hook["id"], None),
        ("PATCH", f"/v1/webhooks/{hook['id']}", hook["id"], {"enabled": False}),
        ("DELETE", f"/v1/webhooks/{hook['id']}", hook["id"], None),
        ("GET", f"/v1/webhooks/{hook['id']}/attempts", hook["id"], None),
        ("POST", f"/v1/webhooks/{hook['id']}/rotate-secret", hook["id"], None),
        ("DELETE", f"/v1/api-keys/{key['key_id']}", key["key_id"], None),
    ]
    for method, path, real, body in checks:
        await _looks_nonexistent(other, method, path, real, body)

    for listing in ("/v1/queues", "/v1/agents", "/v1/groups", "/v1/numbers", "/v1/webhooks"):
        assert ok(await other.get(listing))["items"] == [], listing
    assert ok(await other.get("/v1/config"))["version"] == 0
    assert [k["key_id"] for k in ok(await other.get("/v1/api-keys"))] == [api.second.key_id]

    assert ok(await acme.get("/v1/queues/billing"))["id"] == "billing"
    assert ok(await acme.get(f"/v1/webhooks/{hook['id']}"))["enabled"] is True
    assert ok(await acme.get("/v1/config"))["version"] == 2
    ok(await api.client_for({"authorization": acme.headers["authorization"]}).get("/v1/calls"))


async def test_agent_credentials_do_not_cross_tenants(api: Api) -> None:
    """An application token logs in only the agents of its own tenant."""
    body = {"email": "alice@example.com", "app_token": api.second.app_token}
    error_of(await api.anonymous.post("/v1/auth/login", json=body), 401, "unauthorized")
    token = ok(await api.client.post("/v1/auth/token", json={"agent_id": "alice"}))
    error_of(await api.other.post("/v1/auth/token", json={"agent_id": "alice"}), 404)
    alice = api.client_for({"authorization": f"Bearer {token['access_token']}"})
    assert ok(await alice.get("/v1/agents/alice/state"))["agent_id"] == "alice"
