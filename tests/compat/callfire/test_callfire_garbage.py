"""Nothing answers 500 on garbage: every method, any parameter values, any body.

The values are drawn from a seeded generator (the same requests every run), over each
method's own parameter names and a few strangers, with values no client should send: wrong
types, empty, huge, NUL, non-ASCII, non-finite numbers, nested objects.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from api_support import Api
from callfire_support import BASE, campaign, key

pytestmark = pytest.mark.asyncio(loop_scope="module")

METHODS = {
    "createCampaign": ["name", "numbers", "maxAttempts", "busyRetrySeconds", "fromNumber"],
    "addNumbers": ["campaignId", "numbers"],
    "getCampaign": ["campaignId"],
    "listCampaigns": [],
    "startCampaign": ["campaignId"],
    "stopCampaign": ["campaignId"],
    "sendAgentCallBack": ["campaignId", "phonenumber", "userId"],
    "loginAgent": ["campaignId", "agentId"],
    "getConnectionForAgent": ["campaignId", "agentId", "timeout"],
    "storeAgentResponse": [
        "campaignId",
        "agentId",
        "callId",
        "agentResponse",
        "agentNotes",
        "lastcall",
    ],
    "kickAgent": ["campaignId", "agentId"],
}
NASTY: list[Any] = [
    None,
    "",
    " ",
    "0",
    "-1",
    "1e400",
    "9" * 40,
    "x" * 6000,
    "a\x00b",
    "\u00e9\u4e2d\U0001f600",
    0,
    -5,
    2**70,
    1.5,
    float("inf"),
    True,
    [],
    ["+1555", None, {"number": 5}],
    [{"number": "+15550001111", "name": {"deep": [1]}}],
    {"a": 1},
    "+15550001111, 12ab",
]


def _garbage(rng: random.Random, names: list[str], campaign_id: int) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in [*names, "bogus"]:
        roll = rng.random()
        if roll < 0.2:
            continue
        if name == "campaignId" and roll < 0.5:
            params[name] = campaign_id  # reach past the campaign check now and then
        else:
            params[name] = rng.choice(NASTY)
    return params


async def test_no_garbage_gets_a_500(api: Api) -> None:
    rng = random.Random(3)
    campaign_id = await campaign(api, [])
    for _ in range(120):
        method = rng.choice(sorted(METHODS))
        params = _garbage(rng, METHODS[method], campaign_id)
        if "timeout" in params:
            params["timeout"] = 0  # never wait here
        body = {"key": key(api), **params}
        response = await api.anonymous.post(  # raw JSON: Infinity is no valid JSON for httpx
            f"{BASE}/{method}",
            content=json.dumps(body),
            headers={"content-type": "application/json"},
        )
        assert response.status_code < 500, (method, params, response.text)
        if response.status_code >= 400:
            error = response.json()["ResourceException"]
            assert error["HttpStatus"] == response.status_code
            assert error["Message"]


async def test_bodies_that_are_not_objects_are_refused(api: Api) -> None:
    for content, kind in [
        (b"[1, 2]", "application/json"),
        (b"{not json", "application/json"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (b"key=%ZZ&campaignId=1", "application/x-www-form-urlencoded"),
        (b"plain words", "text/plain"),
    ]:
        response = await api.anonymous.post(
            f"{BASE}/getCampaign", content=content, headers={"content-type": kind}
        )
        assert response.status_code in (400, 401), (content, response.text)
        assert "ResourceException" in response.json()
