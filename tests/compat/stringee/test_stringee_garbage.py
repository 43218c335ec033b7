"""Garbage bodies and query strings on every Stringee address never answer 500, and every
answer is in Stringee's shape (`r` and `message`)."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import Api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stringee_support import PREFIX, stringee_client

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROUTES = [
    ("POST", "number"),
    ("PUT", "number/NU_X"),
    ("POST", "ivrtree"),
    ("POST", "ivrnode"),
    ("PUT", "ivrnode/language"),
    ("POST", "ivrkeypress"),
    ("POST", "queue"),
    ("PUT", "queue/support"),
    ("POST", "agent"),
    ("PUT", "agent/alice"),
    ("POST", "group"),
    ("POST", "manage-agents-in-group"),
    ("DELETE", "manage-agents-in-group"),
    ("POST", "routing-call-to-groups"),
    ("PUT", "routing-call-to-groups/GR_RO_X"),
    ("POST", "call/callout"),
    ("GET", "agent"),
    ("GET", "routing-call-to-groups"),
    ("GET", "ivrnode"),
]
FIELDS = [
    "number", "enable_ivr", "ivr_menu", "queue_id", "allow_outbound_calls", "tree_name", "tree",
    "node", "node_name", "node_play_mode", "node_play_content", "node_key", "action",
    "next_node", "to_phone_number", "loop_count", "keypress_timeout", "name",
    "wait_agent_answer_timeout", "wrap_up_time_limit", "agent_wrap_up_after_calls",
    "get_list_agents_url", "maximum_queue_size", "stringee_user_id", "routing_type",
    "manual_status", "phone_number", "agent_id", "group_id", "primary_group",
    "agentUserId", "customerNumber", "page", "limit", "queue", "group",
]  # fmt: skip
JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
        st.sampled_from(["support", "language", "alice", "group2", "talk", "1", "http://x"]),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


async def test_no_garbage_answers_500(api: Api) -> None:
    client, _ = await stringee_client(api)
    examples: list[tuple[str, str, Any, dict[str, str]]] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        route=st.sampled_from(ROUTES),
        body=st.one_of(JSON, st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6)),
        query=st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=20), max_size=3),
    )
    def probe(route: tuple[str, str], body: Any, query: dict[str, str]) -> None:
        examples.append((route[0], route[1], body, query))

    probe()
    failures = []
    for method, path, body, query in examples:
        kwargs: dict[str, Any] = {"params": query}
        if method != "GET":
            kwargs["json"] = body
        response = await client.request(method, f"{PREFIX}/v1/{path}", **kwargs)
        answer = response.json()
        if response.status_code >= 500 or not {"r", "message"} <= set(answer):
            failures.append((method, path, body, query, response.status_code, answer))
    assert failures == []
    assert len(examples) >= 40
