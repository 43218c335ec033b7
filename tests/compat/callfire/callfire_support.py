"""What the CallFire tests share: calling a method with the tenant's `key`, logging in."""

from __future__ import annotations

from typing import Any

import httpx
from api_support import Api, ok

BASE = "/compat/callfire"


def key(api: Api) -> str:
    """The CallFire `key` of the test tenant: its API key id and secret."""
    return f"{api.acme.key_id}:{api.acme.secret}"


async def call(api: Api, method: str, **params: Any) -> httpx.Response:
    """POST a method with a JSON object of its parameters, `key` included."""
    response: httpx.Response = await api.anonymous.post(
        f"{BASE}/{method}", json={"key": key(api), **params}
    )
    return response


async def call_ok(api: Api, method: str, status: int = 200, **params: Any) -> Any:
    return ok(await call(api, method, **params), status)


def fault_of(response: httpx.Response, status: int) -> str:
    """The message of a CallFire error, checked to be `{"ResourceException": {...}}`."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"ResourceException"}, body
    assert body["ResourceException"]["HttpStatus"] == status
    message: str = body["ResourceException"]["Message"]
    assert message
    return message


async def campaign(api: Api, numbers: list[Any], **rules: Any) -> int:
    created = await call_ok(api, "createCampaign", 201, name="spring", numbers=numbers, **rules)
    campaign_id: int = created["campaignId"]
    return campaign_id


async def log_in(api: Api, campaign_id: int, user: str) -> str:
    """sendAgentCallBack then loginAgent with the agent id it gave; the agent id."""
    called = await call_ok(api, "sendAgentCallBack", campaignId=campaign_id, userId=user)
    agent_id: str = called["agentId"]
    await call_ok(api, "loginAgent", 204, campaignId=campaign_id, agentId=agent_id)
    return agent_id


async def get_campaign(api: Api, campaign_id: int) -> dict[str, Any]:
    found: dict[str, Any] = (await call_ok(api, "getCampaign", campaignId=campaign_id))["Campaign"]
    return found
