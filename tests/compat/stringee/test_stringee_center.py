"""The PCC resources build the tenant's one center document (seed 000 sections 1 and Step 2):
numbers, IVR trees/nodes/keypresses, queues, agents, groups, members, group routing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_support import Api, agent_state, ok, place, wait_state
from stringee_support import PREFIX, bad, good, stringee_client

from helpline.api.compat.stringee.replies import R_CONFLICT, R_INVALID, R_NOT_FOUND

pytestmark = pytest.mark.asyncio(loop_scope="module")

HOTLINE = "842473000097"  # seed 000 section 1's Stringee hotline, as a number


async def _create(client: httpx.AsyncClient, path: str, body: dict[str, Any], key: str) -> str:
    found = good(await client.post(f"{PREFIX}/v1/{path}", json=body))
    assert set(found) == {"r", "project", "message", key}, found
    assert isinstance(found[key], str) and found[key]
    return str(found[key])


async def _document(api: Api) -> dict[str, Any]:
    found: dict[str, Any] = ok(await api.other.get("/v1/config"))["document"]
    return found


async def test_the_seed_call_center_built_through_the_pcc_api(api: Api) -> None:
    """Seed 000 section 1: an IVR, three queues, three groups, queue 2 served by group 2 and
    then group 3; Step 2's order of work. Then a caller presses 1, 2 and waits in queue 2."""
    client, key = await stringee_client(api, api.other)  # the tenant without a center
    agents = {}
    for user in ("agent_1", "agent_2", "agent_3"):
        agents[user] = await _create(
            client, "agent", {"name": user.title(), "stringee_user_id": user}, "agentID"
        )
    groups = [await _create(client, "group", {"name": f"Group {n}"}, "groupID") for n in (1, 2, 3)]
    for user, group in zip(agents.values(), groups, strict=True):
        found = good(
            await client.post(
                f"{PREFIX}/v1/manage-agents-in-group", json={"agent_id": user, "group_id": group}
            )
        )
        assert (found["agentID"], found["groupID"]) == (user, group)
    queues = [
        await _create(
            client,
            "queue",
            {"name": f"Queue {n}", "wait_agent_answer_timeout": 20, "wrap_up_time_limit": 30},
            "queueID",
        )
        for n in (1, 2, 3)
    ]
    routings = []
    for queue, group, primary in (
        (queues[0], groups[0], 1),
        (queues[1], groups[1], 1),
        (queues[1], groups[2], 0),  # queue 2 overflows to group 3 (seed 000 1d)
        (queues[2], groups[2], 1),
    ):
        body = {"queue_id": queue, "group_id": group, "primary_group": primary}
        routings.append(await _create(client, "routing-call-to-groups", body, "groupRoutingID"))
    tree = await _create(client, "ivrtree", {"tree_name": "Hotline"}, "ivrTreeID")
    greeting = {
        "tree": tree,
        "node_name": "Greeting",
        "node_play_mode": "talk",
        "node_play_content": "Press 1 for English, press 2 for Spanish.",
    }
    created = good(await client.post(f"{PREFIX}/v1/ivrnode", json=greeting))
    root, is_root = created["ivrNodeID"], created["isRootNode"]
    assert is_root is True
    english = {**greeting, "node_name": "English", "node_play_content": "Sales 1, support 2."}
    created = good(await client.post(f"{PREFIX}/v1/ivrnode", json=english))
    menu_en = created["ivrNodeID"]
    assert created["isRootNode"] is False
    await _create(
        client,
        "ivrkeypress",
        {"node": root, "node_key": "1", "action": 4, "next_node": menu_en},
        "ivrNodeKeyID",
    )
    for digit, queue in (("1", queues[0]), ("2", queues[1])):
        await _create(
            client,
            "ivrkeypress",
            {"node": menu_en, "node_key": digit, "action": 2, "queue_id": queue},
            "ivrNodeKeyID",
        )
    number = {
        "number": HOTLINE,
        "nickname": "Hotline",
        "allow_outbound_calls": True,
        "enable_ivr": True,
        "ivr_menu": tree,
    }
    number_id = await _create(client, "number", number, "numberID")

    # the one center document holds it all, as the native API shows it
    document = await _document(api)
    assert {a["id"] for a in document["agents"]} == set(agents)
    queue2 = next(q for q in document["queues"] if q["id"] == queues[1])
    assert [(t["group"], t["priority"]) for t in queue2["groups"]] == [
        (groups[1], 1),
        (groups[2], 2),
    ]
    assert (queue2["wait_agent_answer_timeout"], queue2["wrap_up_time_limit"]) == (20, 30)
    assert queue2["agent_wrap_up_after_calls"] is True  # Stringee's default
    [ivr] = document["ivr_trees"]
    assert (ivr["id"], ivr["root"]) == (tree, root)
    assert document["numbers"] == [
        {"number": HOTLINE, "enable_ivr": True, "ivr_tree": tree, "queue": None}
    ]

    # and the lists answer in Stringee's shapes
    listed = good(await client.get(f"{PREFIX}/v1/number"))
    assert listed["data"]["totalNumbers"] == "1"
    assert listed["data"]["numbers"][0] | {"id": None} == {
        "id": None,
        "project": key.project_id,
        "number": HOTLINE,
        "nickname": "Hotline",
        "allow_outbound_calls": True,
        "enable_ivr": True,
        "ivr_menu": tree,
        "queue_id": "",
        "record_outbound_calls": False,
    }
    assert listed["data"]["numbers"][0]["id"] == number_id
    data = good(await client.get(f"{PREFIX}/v1/routing-call-to-groups?queue={queues[1]}"))["data"]
    assert set(data) == {"totalCount", "totalPages", "currentPage", "limit", "groupRoutings"}
    assert [(r["id"], r["group_id"], r["primary_group"]) for r in data["groupRoutings"]] == [
        (routings[1], groups[1], 1),
        (routings[2], groups[2], 0),
    ]
    data = good(await client.get(f"{PREFIX}/v1/group"))["data"]
    assert [g["number_of_agent"] for g in data["groups"]] == [1, 1, 1]
    data = good(await client.get(f"{PREFIX}/v1/manage-agents-in-group?group={groups[0]}"))["data"]
    assert data["groupAgents"] == [
        {"project": key.project_id, "agent_id": agents["agent_1"], "group_id": groups[0]}
    ]
    data = good(await client.get(f"{PREFIX}/v1/ivrtree"))["data"]
    assert data["ivrTrees"] == [
        {"id": tree, "project": key.project_id, "tree_name": "Hotline", "root_node": root}
    ]
    nodes = good(await client.get(f"{PREFIX}/v1/ivrnode?tree={tree}"))["data"]["ivrNodes"]
    assert [(n["id"], n["node_name"], n["node_play_mode"]) for n in nodes] == [
        (root, "Greeting", "talk"),
        (menu_en, "English", "talk"),
    ]
    keys = good(await client.get(f"{PREFIX}/v1/ivrkeypress?node={menu_en}"))["data"]
    assert sorted((k["node_key"], k["action"], k["queue_id"]) for k in keys["ivrNodeKeys"]) == [
        ("1", 2, queues[0]),
        ("2", 2, queues[1]),
    ]

    # a caller presses 1 (English) then 2 (support) and waits in queue 2
    call_id = await place(api.other, HOTLINE, "12")
    waiting = await wait_state(api.other, call_id, "queued")
    assert waiting["queue_id"] == queues[1]


async def test_seed_agent_attributes_and_a_manual_status_change(api: Api) -> None:
    """Seed 000 Step 3a: `stringee_user_id`, `phone_number`, `routing_type`, `manual_status`,
    `system_status`; a manual status set through the API reaches the live agent."""
    client, key = await stringee_client(api)
    assert key.project_id >= 1
    seed = {
        "stringee_user_id": "agent_1",
        "phone_number": "84909982888",
        "routing_type": 1,
        "manual_status": "AVAILABLE",
    }
    agent_id = await _create(client, "agent", {"name": "Agent 1", **seed}, "agentID")
    data = good(await client.get(f"{PREFIX}/v1/agent"))["data"]
    assert set(data) == {"totalAgents", "totalPages", "currentPage", "limit", "agents"}
    mine = next(a for a in data["agents"] if a["id"] == agent_id)
    assert {k: mine[k] for k in seed} == seed
    assert mine["system_status"] == 1  # not on a call
    # the demo's own agents got Stringee ids too, stable from one list to the next
    again = good(await client.get(f"{PREFIX}/v1/agent"))["data"]["agents"]
    assert [a["id"] for a in again] == [a["id"] for a in data["agents"]]
    assert int(data["totalAgents"]) == len(data["agents"]) > 1

    change = {"manual_status": "NOT AVAILABLE", "routing_type": 2}
    good(await client.put(f"{PREFIX}/v1/agent/{agent_id}", json=change))
    live = await agent_state(api.client, "agent_1")
    assert (live["manual_status"], live["routing_type"]) == ("NOT AVAILABLE", 2)
    found = good(await client.get(f"{PREFIX}/v1/agent/{agent_id}"))["data"]
    assert (found["manual_status"], found["routing_type"]) == ("NOT AVAILABLE", 2)

    bad(
        await client.post(f"{PREFIX}/v1/agent", json={"name": "X", **seed}),
        409,
        R_CONFLICT,
        "stringee_user_id",
    )
    good(await client.delete(f"{PREFIX}/v1/agent/{agent_id}"))
    bad(await client.delete(f"{PREFIX}/v1/agent/{agent_id}"), 404, R_NOT_FOUND, "agentID")
    assert "agent_1" not in {a["id"] for a in (await _document_of(api.client))["agents"]}


async def _document_of(native: httpx.AsyncClient) -> dict[str, Any]:
    found: dict[str, Any] = ok(await native.get("/v1/config"))["document"]
    return found


async def test_a_number_without_ivr_routes_straight_to_its_queue(api: Api) -> None:
    """Seed 000 1e and Step 6: `enable_ivr = false` sends customers straight to a queue."""
    client, _ = await stringee_client(api)
    queue = await _create(client, "queue", {"name": "Direct"}, "queueID")
    body = {
        "number": "84899199586",
        "allow_outbound_calls": False,
        "enable_ivr": False,
        "queue_id": queue,
    }
    number_id = await _create(client, "number", body, "numberID")
    call_id = await place(api.client, "84899199586")
    assert (await wait_state(api.client, call_id, "queued"))["queue_id"] == queue
    # the queue is in use: it cannot go before the number does
    bad(await client.delete(f"{PREFIX}/v1/queue/{queue}"), 409, R_CONFLICT)
    good(await client.delete(f"{PREFIX}/v1/number/{number_id}"))


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("number", {"allow_outbound_calls": True, "enable_ivr": False}, "number"),
        ("number", {"number": "1", "allow_outbound_calls": True, "enable_ivr": True}, "ivr_menu"),
        ("number", {"number": "1", "allow_outbound_calls": True, "enable_ivr": False}, "queue_id"),
        ("queue", {"name": "Q", "wait_agent_answer_timeout": 2}, "wait_agent_answer_timeout"),
        ("queue", {"name": "Q", "get_list_agents_url": "ftp://x"}, "get_list_agents_url"),
        ("agent", {"name": "A", "stringee_user_id": "a", "routing_type": 3}, "routing_type"),
        ("agent", {"stringee_user_id": "a"}, "name"),
        ("group", {}, "name"),
        ("ivrnode", {"tree": "t", "node_name": "n", "node_play_mode": "sing"}, "node_play_mode"),
        ("ivrkeypress", {"node": "n", "node_key": "A", "action": 2}, "node_key"),
        ("routing-call-to-groups", {"queue_id": "q", "group_id": "g"}, "primary_group"),
        ("call/callout", {"agentUserId": "huy"}, "customerNumber"),
    ],
)
async def test_a_missing_or_wrong_parameter_is_named(
    api: Api, path: str, body: dict[str, Any], named: str
) -> None:
    client, _ = await stringee_client(api)
    bad(await client.post(f"{PREFIX}/v1/{path}", json=body), 400, R_INVALID, named)


async def test_unknown_ids_answer_not_found_naming_the_id(api: Api) -> None:
    client, _ = await stringee_client(api)
    bad(await client.put(f"{PREFIX}/v1/queue/QU_NONE", json={}), 404, R_NOT_FOUND, "queueID")
    bad(
        await client.post(
            f"{PREFIX}/v1/ivrnode",
            json={
                "tree": "TR_NONE",
                "node_name": "n",
                "node_play_mode": "talk",
                "node_play_content": "hi",
            },
        ),
        404,
        R_NOT_FOUND,
        "tree",
    )
    bad(
        await client.post(
            f"{PREFIX}/v1/routing-call-to-groups",
            json={"queue_id": "support", "group_id": "GR_NONE", "primary_group": 1},
        ),
        404,
        R_NOT_FOUND,
        "group_id",
    )
    bad(await client.get(f"{PREFIX}/v1/nothing-here"), 404, R_NOT_FOUND)


async def test_updates_and_deletes_edit_the_same_document(api: Api) -> None:
    """Every change through Stringee's PUT and DELETE shows in the native document; what the
    native API made (the demo center) is reachable by its own ids."""
    client, key = await stringee_client(api)
    queue = good(await client.get(f"{PREFIX}/v1/queue/support"))["data"]
    assert queue["id"] == "support" and queue["project"] == key.project_id
    change = {
        "wait_agent_answer_timeout": 25,
        "wrap_up_time_limit": 45,
        "agent_wrap_up_after_calls": False,
        "record_calls": True,
        "wait_greeting": "welcome.mp3",
        "maximum_queue_wait_time": 120,
    }
    good(await client.put(f"{PREFIX}/v1/queue/support", json=change))
    support = next(q for q in (await _document_of(api.client))["queues"] if q["id"] == "support")
    assert (support["wait_agent_answer_timeout"], support["wrap_up_time_limit"]) == (25, 45)
    assert support["agent_wrap_up_after_calls"] is False
    assert (support["recording"], support["greeting"]["audio"]) == ("record", "welcome.mp3")
    assert (support["max_wait"], support["on_max_wait"]["kind"]) == (120, "voicemail")
    queue = good(await client.get(f"{PREFIX}/v1/queue/support"))["data"]
    assert {k: queue[k] for k in change} == change

    # a native number: listed with an id of its own, changed by that id or by the number
    numbers = good(await client.get(f"{PREFIX}/v1/number"))["data"]["numbers"]
    direct = next(n for n in numbers if n["number"] == "+18005550199")
    assert direct["id"].startswith("NU_") and direct["queue_id"] == "support"
    good(await client.put(f"{PREFIX}/v1/number/+18005550199", json={"nickname": "Direct"}))
    good(await client.put(f"{PREFIX}/v1/number/{direct['id']}", json={"queue_id": "sales_en"}))
    numbers = good(await client.get(f"{PREFIX}/v1/number"))["data"]["numbers"]
    again = next(n for n in numbers if n["number"] == "+18005550199")
    assert (again["id"], again["nickname"], again["queue_id"]) == (
        direct["id"],
        "Direct",
        "sales_en",
    )

    # group routing of the demo's queue: group3 becomes primary, then leaves
    routings = good(await client.get(f"{PREFIX}/v1/routing-call-to-groups?queue=support"))
    by_group = {r["group_id"]: r for r in routings["data"]["groupRoutings"]}
    assert (by_group["group2"]["primary_group"], by_group["group3"]["primary_group"]) == (1, 0)
    routing3 = by_group["group3"]["id"]
    good(
        await client.put(
            f"{PREFIX}/v1/routing-call-to-groups/{routing3}", json={"primary_group": 1}
        )
    )
    tiers = _tiers(await _document_of(api.client), "support")
    assert tiers == {"group2": 1, "group3": 1}
    good(await client.delete(f"{PREFIX}/v1/routing-call-to-groups/{routing3}"))
    assert _tiers(await _document_of(api.client), "support") == {"group2": 1}
    bad(
        await client.delete(f"{PREFIX}/v1/routing-call-to-groups/{routing3}"),
        404,
        R_NOT_FOUND,
        "groupRoutingID",
    )

    # a member leaves its group; a group renamed, then deleted with its routings
    agents = good(await client.get(f"{PREFIX}/v1/agent?limit=100"))["data"]["agents"]
    carol = next(a["id"] for a in agents if a["stringee_user_id"] == "carol")
    leave = {"agent_id": carol, "group_id": "group2"}
    good(await client.request("DELETE", f"{PREFIX}/v1/manage-agents-in-group", json=leave))
    document = await _document_of(api.client)
    assert next(g for g in document["groups"] if g["id"] == "group2")["agents"] == ["dave"]
    good(await client.put(f"{PREFIX}/v1/group/group1", json={"name": "English sales"}))
    good(await client.delete(f"{PREFIX}/v1/group/group2"))
    document = await _document_of(api.client)
    assert "group2" not in {g["id"] for g in document["groups"]}
    assert _tiers(document, "support") == {}

    # the demo's IVR: a node's prompt and timeout, and a keypress added, changed, removed
    node = {"node_play_mode": "play", "node_play_content": "menu.mp3", "keypress_timeout": 8}
    good(await client.put(f"{PREFIX}/v1/ivrnode/menu_en", json=node))
    added = {"node": "menu_en", "node_key": "3", "action": 3, "to_phone_number": "84909982888"}
    keypress = await _create(client, "ivrkeypress", added, "ivrNodeKeyID")
    good(await client.put(f"{PREFIX}/v1/ivrkeypress/{keypress}", json={"action": 6}))
    menu = _node(await _document_of(api.client), "menu_en")
    assert (menu["prompt"]["audio"], menu["timeout"]) == ("menu.mp3", 8)
    assert menu["keys"]["3"]["kind"] == "hangup"
    good(await client.delete(f"{PREFIX}/v1/ivrkeypress/{keypress}"))
    assert "3" not in _node(await _document_of(api.client), "menu_en")["keys"]
    timeout = {"node": "menu_en", "node_key": "EMPTY_KEY", "action": 2, "queue_id": "sales_es"}
    await _create(client, "ivrkeypress", timeout, "ivrNodeKeyID")
    default = _node(await _document_of(api.client), "menu_en")["default"]
    assert (default["kind"], default["target"]) == ("queue", "sales_es")
    # the demo's own keys list with Stringee's action numbers (repeat: this node again)
    listed = good(await client.get(f"{PREFIX}/v1/ivrkeypress?node=menu_en"))["data"]
    by_key = {k["node_key"]: k for k in listed["ivrNodeKeys"]}
    assert (by_key["2"]["action"], by_key["2"]["queue_id"]) == (2, "support")
    assert (by_key["9"]["action"], by_key["9"]["next_node"]) == (4, "menu_en")
    assert by_key["0"]["action"] == 6
    assert (by_key["EMPTY_KEY"]["action"], by_key["EMPTY_KEY"]["queue_id"]) == (2, "sales_es")
    again = good(await client.get(f"{PREFIX}/v1/ivrkeypress?node=menu_en"))["data"]
    assert {k["id"] for k in again["ivrNodeKeys"]} == {k["id"] for k in listed["ivrNodeKeys"]}
    bad(
        await client.post(
            f"{PREFIX}/v1/ivrkeypress", json={"node": "menu_en", "node_key": "9", "action": 6}
        ),
        409,
        R_CONFLICT,
        "node_key",
    )
    # the root node cannot go while the tree has others; an IVR tree in use cannot go
    bad(await client.delete(f"{PREFIX}/v1/ivrnode/language"), 409, R_CONFLICT, "root")
    bad(await client.delete(f"{PREFIX}/v1/ivrtree/main"), 409, R_CONFLICT, "main")


def _tiers(document: dict[str, Any], queue_id: str) -> dict[str, int]:
    queue = next(q for q in document["queues"] if q["id"] == queue_id)
    return {t["group"]: t["priority"] for t in queue["groups"]}


def _node(document: dict[str, Any], node_id: str) -> dict[str, Any]:
    for tree in document["ivr_trees"]:
        for node in tree["nodes"]:
            if node["id"] == node_id:
                found: dict[str, Any] = node
                return found
    raise AssertionError(f"no node {node_id}")


async def test_a_body_that_is_not_json_is_a_bad_parameter(api: Api) -> None:
    client, _ = await stringee_client(api)
    response = await client.post(
        f"{PREFIX}/v1/group", content=b"name=Support", headers={"content-type": "text/plain"}
    )
    bad(response, 400, R_INVALID)
    response = await client.post(
        f"{PREFIX}/v1/group", content=b"{not json", headers={"content-type": "application/json"}
    )
    bad(response, 400, R_INVALID)
    bad(await client.get(f"{PREFIX}/v1/agent?page=0"), 400, R_INVALID, "page")
    bad(await client.get(f"{PREFIX}/v1/agent?limit=101"), 400, R_INVALID, "limit")
    bad(await client.get(f"{PREFIX}/v1/agent?page=x"), 400, R_INVALID, "page")


async def test_lists_page_as_stringee_does(api: Api) -> None:
    """`page` from 1 and `limit`; the total as a string, the pages counted."""
    client, _ = await stringee_client(api)
    everything = good(await client.get(f"{PREFIX}/v1/agent"))["data"]
    assert (everything["currentPage"], everything["limit"]) == (1, 50)
    ids = [a["id"] for a in everything["agents"]]
    assert len(ids) == 6  # the demo's agents
    pages = [good(await client.get(f"{PREFIX}/v1/agent?page={n}&limit=4"))["data"] for n in (1, 2)]
    assert [p["totalAgents"] for p in pages] == ["6", "6"]
    assert [p["totalPages"] for p in pages] == [2, 2]
    assert [a["id"] for p in pages for a in p["agents"]] == ids
    beyond = good(await client.get(f"{PREFIX}/v1/agent?page=3&limit=4"))["data"]
    assert beyond["agents"] == []
