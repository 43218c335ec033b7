"""The center document over REST: `GET`/`PUT /v1/config` (the simulator's schema) with versions,
and numbers, IVR trees, queues, groups, members, group routing and agents as resources. Bad
input anywhere in the API (issue 4, point 10): 422 with the path of each bad field, 404 for
unknown ids and routes, 409 for conflicts, always `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_support import (
    HOTLINE,
    Api,
    connected,
    demo,
    device,
    error_of,
    field_paths,
    ok,
    place,
)

from helpline.config import parse_center

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _version(client: httpx.AsyncClient) -> int:
    version: int = ok(await client.get("/v1/config"))["version"]
    return version


async def _all(client: httpx.AsyncClient, path: str, limit: int) -> list[dict[str, Any]]:
    """Every item of a list, page by page; each page at most `limit` long."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    for _ in range(100):
        page = ok(await client.get(path, params=params))
        assert len(page["items"]) <= limit
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        assert len(page["items"]) == limit
        params["cursor"] = page["next_cursor"]
    raise AssertionError("the cursor never ended")


async def test_config_round_trip_in_the_simulators_schema(api: Api) -> None:
    client = api.client
    response = await client.get("/v1/config")
    got = ok(response)
    assert got["version"] == 1
    assert response.headers["etag"] == '"1"'
    document = got["document"]
    assert [q["id"] for q in document["queues"]] == ["sales_en", "support", "sales_es"]
    assert [a["id"] for a in document["agents"]][:2] == ["alice", "bob"]
    assert document["ivr_trees"][0]["nodes"][0]["timeout"] == 5.0
    assert parse_center(document) == parse_center(demo())  # what the simulator reads

    put = await client.put("/v1/config", json=document)
    again = ok(put)
    assert again["version"] == 2
    assert put.headers["etag"] == '"2"'
    assert again["document"] == document
    assert ok(await client.get("/v1/config")) == {"version": 2, "document": document}


async def test_if_match_detects_a_concurrent_change(api: Api) -> None:
    client = api.client
    document = ok(await client.get("/v1/config"))["document"]
    ok(await client.put("/v1/config", json=document))  # version 2

    stale = await client.put("/v1/config", json=document, headers={"if-match": '"1"'})
    error = error_of(stale, 409, "conflict")
    assert error["details"]["version"] == 2
    assert await _version(client) == 2

    fresh = await client.put("/v1/config", json=document, headers={"if-match": '"2"'})
    assert ok(fresh)["version"] == 3
    assert fresh.headers["etag"] == '"3"'


async def test_a_bad_document_is_422_naming_the_path_and_changes_nothing(api: Api) -> None:
    client = api.client
    document = demo()
    document["queues"][0]["wait_agent_answer_timeout"] = "soon"
    response = await client.put("/v1/config", json=document)
    error = error_of(response, 422, "validation_error")
    assert "body.queues[0].wait_agent_answer_timeout" in field_paths(error)

    document = demo()
    document["queues"][1]["groups"][0]["group"] = "nope"
    error = error_of(await client.put("/v1/config", json=document), 422)
    assert field_paths(error) == ["queues.support.groups[0].group"]
    assert "unknown group" in error["message"]

    document = demo()
    document["agents"][0]["nickname"] = "Al"
    error = error_of(await client.put("/v1/config", json=document), 422, "validation_error")
    assert field_paths(error) == ["body.agents[0].nickname"]
    assert await _version(client) == 1


async def test_queue_crud(api: Api) -> None:
    client = api.client
    created = ok(await client.post("/v1/queues", json={"id": "billing", "groups": ["group1"]}), 201)
    assert created["id"] == "billing"
    assert created["groups"] == [{"group": "group1", "priority": 1, "after_wait": 0.0}]
    assert created["wait_agent_answer_timeout"] == 15.0
    error_of(await client.post("/v1/queues", json={"id": "billing"}), 409, "conflict")
    assert ok(await client.get("/v1/queues/billing")) == created
    assert await _version(client) == 2

    changed = {**created, "name": "Billing", "max_wait": "2m"}
    replaced = ok(await client.put("/v1/queues/billing", json=changed))
    assert (replaced["name"], replaced["max_wait"]) == ("Billing", 120.0)
    assert ok(await client.get("/v1/queues/billing"))["name"] == "Billing"
    error_of(await client.put("/v1/queues/nope", json={"id": "nope"}), 404, "not_found")

    assert (await client.delete("/v1/queues/billing")).status_code == 204
    error_of(await client.get("/v1/queues/billing"), 404, "not_found")
    error_of(await client.delete("/v1/queues/billing"), 404, "not_found")
    assert [q["id"] for q in await _all(client, "/v1/queues", 2)] == [
        "sales_en",
        "sales_es",
        "support",
    ]


async def test_a_queue_with_an_unknown_group_is_422_naming_the_path(api: Api) -> None:
    client = api.client
    response = await client.post("/v1/queues", json={"id": "billing", "groups": ["ghosts"]})
    error = error_of(response, 422)
    assert field_paths(error) == ["queues.billing.groups[0].group"]
    bad = await client.post("/v1/queues", json={"id": "billing", "strategy": "fastest"})
    assert field_paths(error_of(bad, 422, "validation_error")) == ["body.strategy"]
    error_of(await client.get("/v1/queues/billing"), 404, "not_found")
    assert await _version(client) == 1


async def test_cursor_pagination_gives_every_item_once_in_order(api: Api) -> None:
    client = api.client
    agents = await _all(client, "/v1/agents", 4)
    assert [a["id"] for a in agents] == ["alice", "bob", "carol", "dave", "erin", "frank"]
    assert [a["id"] for a in await _all(client, "/v1/agents", 1)] == [a["id"] for a in agents]
    assert agents[0] == ok(await client.get("/v1/agents/alice"))
    numbers = await _all(client, "/v1/numbers", 1)
    assert [n["number"] for n in numbers] == ["+18005550100", "+18005550199"]
    groups = await _all(client, "/v1/groups", 2)
    assert [g["id"] for g in groups] == ["group1", "group2", "group3"]
    too_many = await client.get("/v1/agents", params={"limit": 501})
    assert field_paths(error_of(too_many, 422, "validation_error")) == ["query.limit"]


async def test_deleting_what_is_still_used_is_a_conflict(api: Api) -> None:
    client = api.client
    in_use = error_of(await client.delete("/v1/groups/group2"), 409, "conflict")
    assert in_use["details"]["path"] == "queues.support.groups[0].group"  # where it is used
    error_of(await client.delete("/v1/agents/alice"), 409, "conflict")  # in group1
    error_of(await client.delete("/v1/ivr-trees/main"), 409, "conflict")  # the hotline's
    error_of(await client.delete("/v1/queues/support"), 409, "conflict")
    assert ok(await client.get("/v1/groups/group2"))["agents"] == ["carol", "dave"]
    assert await _version(client) == 1


async def test_group_members_add_and_remove(api: Api) -> None:
    client = api.client
    added = ok(await client.post("/v1/groups/group1/members", json={"agent_id": "carol"}), 201)
    assert added["agents"] == ["alice", "bob", "carol"]
    twice = await client.post("/v1/groups/group1/members", json={"agent_id": "carol"})
    error_of(twice, 409, "conflict")
    ghost = await client.post("/v1/groups/group1/members", json={"agent_id": "ghost"})
    error_of(ghost, 422)
    nowhere = await client.post("/v1/groups/nope/members", json={"agent_id": "carol"})
    error_of(nowhere, 404, "not_found")

    assert (await client.delete("/v1/groups/group1/members/alice")).status_code == 204
    assert ok(await client.get("/v1/groups/group1"))["agents"] == ["bob", "carol"]
    error_of(await client.delete("/v1/groups/group1/members/alice"), 404, "not_found")


async def test_group_routing_of_a_queue(api: Api) -> None:
    client = api.client
    tiers = ok(await client.get("/v1/queues/support/groups"))
    assert tiers == {
        "groups": [
            {"group": "group2", "priority": 1, "after_wait": 0.0},
            {"group": "group3", "priority": 2, "after_wait": 0.0},
        ]
    }
    overflow = {"group": "group1", "priority": 2, "after_wait": "30s"}
    body = {"groups": [{"group": "group3"}, overflow]}
    replaced = ok(await client.put("/v1/queues/support/groups", json=body))
    assert replaced == {
        "groups": [
            {"group": "group3", "priority": 1, "after_wait": 0.0},
            {"group": "group1", "priority": 2, "after_wait": 30.0},
        ]
    }
    assert ok(await client.get("/v1/queues/support/groups")) == replaced
    assert ok(await client.get("/v1/queues/support"))["groups"] == replaced["groups"]

    unknown = {"groups": [{"group": "ghosts"}]}
    error_of(await client.put("/v1/queues/support/groups", json=unknown), 422)
    error_of(await client.get("/v1/queues/nope/groups"), 404, "not_found")
    error_of(await client.put("/v1/queues/nope/groups", json=body), 404, "not_found")


async def test_the_live_engine_follows_changes(api: Api) -> None:
    client = api.client
    zoe = {"id": "zoe", "name": "Zoe", "email": "zoe@example.com", "skills": {"english": 3}}
    created = ok(await client.post("/v1/agents", json=zoe), 201)
    assert created["id"] == "zoe"
    ok(await client.post("/v1/groups/group1/members", json={"agent_id": "zoe"}), 201)
    await device(client, "zoe")  # alice and bob have no device: zoe is the one to take it
    assert ok(await client.get("/v1/agents/zoe/state"))["online"] is True

    call_id = await place(client, HOTLINE, "11")
    await connected(client, call_id, "zoe")


async def test_numbers_and_ivr_trees(api: Api) -> None:
    client = api.client
    tree = {
        "id": "night",
        "root": "closed",
        "nodes": [{"id": "closed", "prompt": "We are closed.", "default": "hangup"}],
    }
    ok(await client.post("/v1/ivr-trees", json=tree), 201)
    number = {"number": "+18005550123", "enable_ivr": True, "ivr_tree": "night"}
    assert ok(await client.post("/v1/numbers", json=number), 201) == {**number, "queue": None}
    no_route = await client.post("/v1/numbers", json={"number": "+18005550124"})
    assert field_paths(error_of(no_route, 422, "validation_error")) == ["body"]

    call_id = await place(client, "+18005550123")
    placed = ok(await client.get(f"/v1/sandbox/calls/{call_id}"))
    assert placed["heard"][0]["text"] == "We are closed."

    error_of(await client.delete("/v1/ivr-trees/night"), 409, "conflict")
    assert (await client.delete("/v1/numbers/+18005550123")).status_code == 204
    assert (await client.delete("/v1/ivr-trees/night")).status_code == 204
    error_of(await client.get("/v1/ivr-trees/night"), 404, "not_found")


# -- errors anywhere in the API -----------------------------------------------------------


async def test_unknown_routes_and_methods_answer_in_the_error_shape(api: Api) -> None:
    for client in (api.client, api.anonymous):
        error_of(await client.get("/v1/nothing-here"), 404, "not_found")
        error_of(await client.get("/nothing"), 404, "not_found")
    error_of(await api.client.delete("/v1/config"), 405, "method_not_allowed")


UNKNOWN_IDS = [
    ("GET", "/v1/calls/nope", None),
    ("POST", "/v1/calls/nope/hangup", None),
    ("POST", "/v1/calls/nope/hold", None),
    ("POST", "/v1/calls/nope/resume", None),
    ("POST", "/v1/calls/nope/transfer", {"to_queue": "support"}),
    ("GET", "/v1/call-records/nope", None),
    ("GET", "/v1/recordings/nope", None),
    ("GET", "/v1/agents/nope/state", None),
    ("GET", "/v1/agents/nope", None),
    ("GET", "/v1/queues/nope", None),
    ("GET", "/v1/groups/nope", None),
    ("GET", "/v1/numbers/+15550000", None),
    ("GET", "/v1/ivr-trees/nope", None),
    ("GET", "/v1/sandbox/calls/nope", None),
    ("POST", "/v1/sandbox/calls/nope/keys", {"digits": "1"}),
    ("POST", "/v1/sandbox/calls/nope/hangup", None),
    ("PUT", "/v1/sandbox/devices/nope", {}),
    ("GET", "/v1/sandbox/devices/alice", None),  # alice exists; she has no device
    ("DELETE", "/v1/sandbox/devices/alice", None),
    ("GET", "/v1/webhooks/wh_nope", None),
    ("DELETE", "/v1/api-keys/key_nope", None),
]


async def test_unknown_ids_are_404(api: Api) -> None:
    for method, path, body in UNKNOWN_IDS:
        response = await api.client.request(method, path, json=body)
        error = error_of(response, 404, "not_found")
        assert error["message"], (method, path)


BAD_BODIES = [
    ("/v1/sandbox/calls", {}, "body.to"),
    ("/v1/sandbox/calls", {"to": ""}, "body.to"),
    ("/v1/sandbox/calls", {"to": HOTLINE, "call_id": "has space"}, "body.call_id"),
    ("/v1/sandbox/calls", {"to": HOTLINE, "colour": "red"}, "body.colour"),
    ("/v1/calls/callout", {"agent_id": "alice", "customer_number": 5}, "body.customer_number"),
    (
        "/v1/calls/callout",
        {"agent_id": "alice", "customer_number": "+1555", "answer_timeout_s": 0},
        "body.answer_timeout_s",
    ),
    ("/v1/calls/callback", {"customer_number": "+1555"}, "body.queue_id"),
    (
        "/v1/calls/callback",
        {"queue_id": "support", "customer_number": "+1555", "recording_permission": "yes"},
        "body.recording_permission",
    ),
    ("/v1/auth/token", {"ttl_s": -1}, "body.ttl_s"),
]


async def test_validation_errors_are_422_with_each_bad_field(api: Api) -> None:
    client = api.client
    for path, body, field in BAD_BODIES:
        error = error_of(await client.post(path, json=body), 422, "validation_error")
        assert field in field_paths(error), (path, body, error)
        assert all(f["message"] for f in error["details"]["fields"])

    call_id = await place(client, HOTLINE)
    keys = await client.post(f"/v1/sandbox/calls/{call_id}/keys", json={"digits": "1a"})
    assert field_paths(error_of(keys, 422, "validation_error")) == ["body.digits"]
    device = await client.put("/v1/sandbox/devices/alice", json={"answer_delay_s": -1})
    assert field_paths(error_of(device, 422, "validation_error")) == ["body.answer_delay_s"]
    limit = await client.get("/v1/call-records", params={"limit": 0, "start": "noon"})
    assert set(field_paths(error_of(limit, 422, "validation_error"))) == {
        "query.limit",
        "query.start",
    }
    not_json = await client.post(
        "/v1/sandbox/calls", content=b"{nope", headers={"content-type": "application/json"}
    )
    error_of(not_json, 422, "validation_error")
    wrong_type = await client.put("/v1/config", json=["not", "a", "document"])
    assert field_paths(error_of(wrong_type, 422, "validation_error")) == ["body"]


async def test_conflicts_are_409(api: Api) -> None:
    client = api.client
    call_id = await place(client, HOTLINE, call_id="twice")
    error_of(await client.post("/v1/sandbox/calls", json={"to": HOTLINE, "call_id": "twice"}), 409)
    ok(await client.post(f"/v1/sandbox/calls/{call_id}/hangup"))
    ended = await client.post(f"/v1/sandbox/calls/{call_id}/keys", json={"digits": "1"})
    error_of(ended, 409, "conflict")
    error_of(await client.post(f"/v1/sandbox/calls/{call_id}/hangup"), 409, "conflict")
