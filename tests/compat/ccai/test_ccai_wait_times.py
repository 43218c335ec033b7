"""Seed 004 "Estimated Wait Time API": `GET /apps/api/v1/wait_times`, every filter, on a tree
of menus whose queues have callers waiting (put there through the sandbox carrier).

The estimates are the engine's (QL): with no call finished yet an agent is assumed busy 180 s
per call, so s agents all busy and n callers in line give (n + 1) * 180 / s seconds.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_support import Api, bearer, error_of, field_paths, ok
from ccai_support import MANAGER, V1, line_up, use_center
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.asyncio(loop_scope="module")

# billing: 3 agents busy, 1 waiting -> 2 * 180 / 3 = 120 s (the seed's example: menu 10,
# "120 seconds (or two minutes)"); internet: 1 busy, 1 waiting -> 360 s; tv: nobody logged in
# -> no estimate, left out (the seed's `wait` is a required INT); sales: an idle agent -> 0
EXPECTED_S = {10: 120, 12: 360, 13: None, 2: 0, 29: 120, 42: 360, 30: 0}


async def _busy_tree(api: Api) -> None:
    await use_center(api.client)
    await line_up(api.client, "billing", ["ann", "amy", "abe"], waiting=1)
    await line_up(api.client, "internet", ["ben"], waiting=1)
    ok(await api.client.put("/v1/sandbox/devices/cat", json={"auto_answer": True}))


async def _waits(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(await client.get(f"{V1}/wait_times", params=params))
    return found


def _ids(entries: list[dict[str, Any]]) -> list[int]:
    return [entry["menu_id"] for entry in entries]


async def test_the_seeds_example_menu_10_waits_120_seconds_or_two_minutes(api: Api) -> None:
    await _busy_tree(api)
    # http://{{subdomain}}.{{domain}}apps/api/v1/wait_times?lang=en&menu_id=10
    response = await api.client.get(f"{V1}/wait_times?lang=en&menu_id=10")
    body = ok(response)
    assert body == [
        {
            "menu_id": 10,
            "menu_type": "ivr_menu",
            "wait": 2,
            "voice_call": 120,
            "materialized_path": "Support / Subscription",
            "logged_in_agents": 3,
            "available_agents": 0,
        }
    ]
    # the same figure as the native estimate of the menu's queue: one estimator, not two
    native = ok(await api.client.get("/v1/queues/billing/wait-time"))
    assert round(native["estimated_wait_s"]) == body[0]["voice_call"]


async def test_every_filter_on_a_tree_of_busy_queues(api: Api) -> None:
    await _busy_tree(api)
    client = api.client

    everything = await _waits(client, lang="en")
    # leaf menus with an estimate, in tree order: 13 (TV) has nobody logged in
    assert _ids(everything) == [10, 12, 2, 29, 42, 30]
    for entry in everything:
        seconds = EXPECTED_S[entry["menu_id"]]
        assert seconds is not None
        assert type(entry["wait"]) is int  # the seed: wait INT, required
        assert entry["wait"] == -(-seconds // 60)
        assert entry["materialized_path"]
    by_id = {entry["menu_id"]: entry for entry in everything}
    assert by_id[12]["materialized_path"] == "Support / Technical / Internet"
    assert (by_id[2]["logged_in_agents"], by_id[2]["available_agents"]) == (1, 1)
    assert by_id[29]["voice_call"] == by_id[29]["chat"] == 120  # one queue, every channel
    assert "voice_call" not in by_id[42]  # a chat-only menu

    # menu_id: the menu and its sub-menus, through materialized paths
    assert _ids(await _waits(client, lang="en", menu_id=1)) == [10, 12]
    assert _ids(await _waits(client, lang="en", menu_id=11)) == [12]
    assert await _waits(client, lang="en", menu_id=13) == []
    assert _ids(await _waits(client, lang="en", menu_id=12)) == [12]
    assert _ids(await _waits(client, lang="en", menu_id=20)) == [29, 42]
    # menu_type
    assert _ids(await _waits(client, lang="en", menu_type="mobile_menu")) == [29, 42]
    assert _ids(await _waits(client, lang="en", menu_type="web_menu")) == [30]
    ivr = await _waits(client, lang="en", menu_type="ivr_menu")
    assert _ids(ivr) == [10, 12, 2]
    # channel_type: the menus of that channel, with that channel's wait only
    chat = await _waits(client, lang="en", channel_type="chat")
    assert _ids(chat) == [29, 42, 30]
    assert all("voice_call" not in entry and "chat" in entry for entry in chat)
    assert _ids(await _waits(client, lang="en", channel_type="voice_call")) == [10, 12, 2, 29, 30]
    # wait[from] / wait[to]: greater than / less than, in minutes
    assert _ids(await _waits(client, lang="en", **{"wait[from]": 2})) == [12, 42]
    assert _ids(await _waits(client, lang="en", **{"wait[from]": 1})) == [10, 12, 29, 42]
    assert _ids(await _waits(client, lang="en", **{"wait[to]": 6})) == [10, 2, 29, 30]
    assert _ids(await _waits(client, lang="en", **{"wait[from]": 1, "wait[to]": 6})) == [10, 29]
    # lang: the queue structure of that language
    assert _ids(await _waits(client, lang="es")) == [10]
    assert await _waits(client, lang="fr") == []  # in the seed's enum, served by no menu
    assert await _waits(client, lang="pt-BR") == []
    # all together
    found = await _waits(
        client,
        lang="en",
        menu_id=20,
        channel_type="chat",
        menu_type="mobile_menu",
        **{"wait[from]": 3},
    )
    assert found == [
        {
            "menu_id": 42,
            "menu_type": "mobile_menu",
            "wait": 6,
            "chat": 360,
            "materialized_path": "Customer App / Desktop",
            "logged_in_agents": 1,
            "available_agents": 0,
        }
    ]


async def test_waits_follow_the_queue_as_callers_come_and_go(api: Api) -> None:
    await use_center(api.client)
    ok(await api.client.put("/v1/sandbox/devices/cat", json={"auto_answer": True}))
    assert (await _waits(api.client, lang="en", menu_id=2))[0]["wait"] == 0  # cat idles
    ok(await api.client.post("/v1/sandbox/calls", json={"to": "+18885550002"}), 201)
    waits = await _waits(api.client, lang="en", menu_id=2)
    assert waits[0]["voice_call"] == 180  # cat is busy: one service time
    second = ok(await api.client.post("/v1/sandbox/calls", json={"to": "+18885550002"}), 201)
    assert (await _waits(api.client, lang="en", menu_id=2))[0]["voice_call"] == 360
    ok(await api.client.post(f"/v1/sandbox/calls/{second['call_id']}/hangup"))
    assert (await _waits(api.client, lang="en", menu_id=2))[0]["voice_call"] == 180


async def test_lang_is_required_and_named(api: Api) -> None:
    await use_center(api.client)
    error = error_of(await api.client.get(f"{V1}/wait_times"), 422, "validation_error")
    assert field_paths(error) == ["query.lang"]
    error = error_of(await api.client.get(f"{V1}/wait_times?lang=EN!"), 422)
    assert field_paths(error) == ["query.lang"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("lang=en&wait[from]=-1", "query.wait[from]"),
        ("lang=en&wait[from]=0", "query.wait[from]"),  # the seed: "Positive Int only"
        ("lang=en&wait[to]=0", "query.wait[to]"),
        ("lang=xx", "query.lang"),  # none of the seed's languages, served by no menu
        ("lang=vi", "query.lang"),
        ("lang=en&wait[to]=soon", "query.wait[to]"),
        ("lang=en&wait[to]=1.5", "query.wait[to]"),
        ("lang=en&channel_type=fax", "query.channel_type"),
        ("lang=en&menu_type=sms_menu", "query.menu_type"),
        ("lang=en&menu_id=ten", "query.menu_id"),
        ("lang=en&menu_id=0", "query.menu_id"),
    ],
)
async def test_bad_filters_are_named(api: Api, query: str, field: str) -> None:
    await use_center(api.client)
    error = error_of(await api.client.get(f"{V1}/wait_times?{query}"), 422, "validation_error")
    assert field_paths(error) == [field]


async def test_an_unknown_menu_id_is_not_found(api: Api) -> None:
    await use_center(api.client)
    error = error_of(await api.client.get(f"{V1}/wait_times?lang=en&menu_id=99"), 404)
    assert error["details"] == {"field": "menu_id"}
    # another tenant's menus do not exist here (the second tenant has none)
    assert ok(await api.other.get(f"{V1}/wait_times?lang=en")) == []
    error_of(await api.other.get(f"{V1}/wait_times?lang=en&menu_id=10"), 404)


async def test_http_basic_with_the_company_key_and_secret(api: Api) -> None:
    await use_center(api.client)
    error_of(await api.anonymous.get(f"{V1}/wait_times?lang=en"), 401, "unauthorized")
    wrong = api.client_for({"authorization": "Basic d3Jvbmc6c2VjcmV0"})  # wrong:secret
    error_of(await wrong.get(f"{V1}/wait_times?lang=en"), 401)
    error_of(await api.anonymous.get(f"{MANAGER}/menus"), 401)
    token = ok(await api.client.post("/v1/auth/token", json={"agent_id": "ann"}))["access_token"]
    agent = api.client_for(bearer(token))
    error_of(await agent.get(f"{V1}/wait_times?lang=en"), 403, "forbidden")


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


async def test_garbage_parameters_never_answer_500(api: Api) -> None:
    await use_center(api.client)
    names = st.sampled_from(
        ["lang", "menu_id", "channel_type", "menu_type", "wait[from]", "wait[to]", "x"]
    )

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
        derandomize=True,
    )
    @given(st.dictionaries(names, st.one_of(_text, st.integers(-5, 10**12)), max_size=6))
    def check(params: dict[str, Any]) -> None:
        statuses.append(params)

    statuses: list[dict[str, Any]] = []
    check()
    for params in statuses:
        response = await api.client.get(f"{V1}/wait_times", params=params)
        assert response.status_code in (200, 404, 422), (params, response.text)
