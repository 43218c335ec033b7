"""Regressions from the review of issue 5 (Stringee): a callout's numbers are phone numbers
(S5, the rule every vendor API shares), an agent's `manual_status` is one of the statuses
(seed 000 Step 3a)."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import Api, device, live, poll
from stringee_support import PREFIX, bad, good, stringee_client

from helpline.api.compat.stringee.replies import R_INVALID

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customerNumber": "not a number"}, "customerNumber"),
        ({"customerNumber": "<script>"}, "customerNumber"),
        ({"customerNumber": "12"}, "customerNumber"),
        ({"customerNumber": "1+2345"}, "customerNumber"),
        (
            {"customerNumber": "84909982888", "toCustomerFromNumber": "<script>"},
            "toCustomerFromNumber",
        ),
        ({"customerNumber": "84909982888", "toCustomerFromNumber": "ab"}, "toCustomerFromNumber"),
    ],
)
async def test_a_callout_to_something_that_is_no_number_is_refused(
    api: Api, body: dict[str, Any], field: str
) -> None:
    client, _ = await stringee_client(api)
    await device(api.client, "alice")
    response = await client.post(f"{PREFIX}/v1/call/callout", json={"agentUserId": "alice", **body})
    found = bad(response, 400, R_INVALID, field)
    assert found["message"].startswith(f"{field}: ")
    assert ok_calls_left(await api.client.get("/v1/calls")) == []


def ok_calls_left(response: Any) -> list[Any]:
    items: list[Any] = response.json()["items"]
    return items


async def test_a_number_written_as_a_crm_shows_it_is_dialled_as_digits(api: Api) -> None:
    client, _ = await stringee_client(api)
    await device(api.client, "alice")
    body = {"agentUserId": "alice", "customerNumber": "+84 (909) 982-888"}
    answer = good(await client.post(f"{PREFIX}/v1/call/callout", json=body))

    async def placed() -> dict[str, Any] | None:
        return await live(api.client, answer["callId"])

    call = await poll(placed)
    assert call["to_number"] == "+84909982888"


@pytest.mark.parametrize("status", ["WHATEVER", "available", ""])
async def test_manual_status_is_one_of_the_statuses(api: Api, status: str) -> None:
    client, _ = await stringee_client(api)
    body = {"name": "X", "stringee_user_id": f"u-{status or 'empty'}", "manual_status": status}
    bad(await client.post(f"{PREFIX}/v1/agent", json=body), 400, R_INVALID, "manual_status")


async def test_the_statuses_stringee_and_helpline_use_are_taken(api: Api) -> None:
    client, _ = await stringee_client(api)
    for index, status in enumerate(["AVAILABLE", "NOT AVAILABLE", "NOT_AVAILABLE"]):
        body = {"name": "Y", "stringee_user_id": f"ok-{index}", "manual_status": status}
        good(await client.post(f"{PREFIX}/v1/agent", json=body))
