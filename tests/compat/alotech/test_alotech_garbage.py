"""Garbage in the query string of every Alo-Tech address never answers 500."""

from __future__ import annotations

import pytest
from alotech_support import API
from api_support import Api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.asyncio(loop_scope="module")

NAMES = [
    "function",
    "email",
    "app_token",
    "session",
    "phonenumber",
    "transactionid",
    "hangup_url",
    "startdate",
    "finishdate",
    "cursor",
    "activecallkey",
    "tenant",
]
FUNCTIONS = st.sampled_from(["login", "click2call", "reportsCDRLogs", "softphone", "", "x"])
VALUES = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["2019-12-18 01:00:00", "9999-12-31 23:59:59", "0001-01-01", "http://x"]),
)


async def test_no_garbage_answers_500(api: Api) -> None:
    token = api.acme.app_token
    failures: list[tuple[str, dict[str, str], int]] = []

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        path=st.sampled_from([API, "/compat/alotech/generic/sso/"]),
        function=FUNCTIONS,
        params=st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=6),
        with_token=st.booleans(),
    )
    def probe(path: str, function: str, params: dict[str, str], with_token: bool) -> None:
        query = {"function": function, **params}
        if with_token:
            query["app_token"] = token
        examples.append((path, query))

    examples: list[tuple[str, dict[str, str]]] = []
    probe()
    for path, query in examples:
        response = await api.anonymous.get(path, params=query)
        if response.status_code >= 500:
            failures.append((path, query, response.status_code))
    assert failures == []
    assert len(examples) >= 50
