"""The callout API (seed 000 Step 4, method 2) and its permission check (Step 6).

`POST /v1/call/callout` rings the agent's app or SIP phone first; when the agent answers, the
customer is dialled and the two are connected: the engine's `CalloutRequested`.

Step 6: "Control the outbound calls & Set permissions for agents: configure the parameter
callout_answer_url. When agents make outbound calls, Stringee PCC will send a request to
Answer URL, that URL has to return SCCO to decide if the calls are allowed or not." With a
`callout_answer_url` set on the project, each callout first GETs it with the query Stringee
sends an answer URL for a call made from an app (`from`, `to`, `fromInternal=true`,
`userId`, `projectId`, `custom`, `callId`); the call goes ahead only if the SCCO answered (a
JSON array of actions, or one action) starts with a `connect` action. Anything else (another
action, an error status, no answer within 5 s, not JSON) refuses the callout: an outbound
call nobody allowed is not placed.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import httpx
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from helpline.api.compat.common import RULE, dialable
from helpline.api.compat.stringee.auth import Anyone, Caller, State
from helpline.api.compat.stringee.replies import failure, invalid, not_found, success
from helpline.core import events as ev

router = APIRouter()
ANSWER_URL_TIMEOUT_S = 5.0

Text = Annotated[str, Field(min_length=1, max_length=200)]
Phone = Annotated[str, Field(min_length=1, max_length=40)]


class Callout(BaseModel):
    model_config = ConfigDict(extra="ignore")

    agentUserId: Text
    customerNumber: Phone
    toCustomerFromNumber: Phone | None = None
    toAgentFromNumberDisplay: Text | None = None
    toAgentFromNumberDisplayAlias: Text | None = None


def _number(field: str, value: str | None) -> str | None:
    """A number to dial or show: the rule every vendor API shares (`api.compat.common`)."""
    if value is None:
        return None
    number = dialable(value)
    if number is None:
        raise invalid(field, RULE)
    return number


def allows(scco: Any) -> bool:
    """Does this SCCO connect the call? Its first action must be `connect`."""
    first = scco[0] if isinstance(scco, list) and scco else scco
    return isinstance(first, dict) and first.get("action") == "connect"


async def _permitted(state: State, who: Caller, body: Callout, call_id: str) -> None:
    project = await state.store.stringee.get_project(who.tenant_id)
    url = project.callout_answer_url if project is not None else None
    if not url:
        return
    params = {
        "from": body.toCustomerFromNumber or "",
        "to": body.customerNumber,
        "fromInternal": "true",
        "userId": body.agentUserId,
        "projectId": str(who.project_id),
        "custom": "",
        "callId": call_id,
    }
    try:
        response = await state.hub.http.get(url, params=params, timeout=ANSWER_URL_TIMEOUT_S)
        response.raise_for_status()
        scco = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise failure(
            403, f"callout_answer_url: no SCCO allowed the call ({error or 'no answer'})"
        ) from None
    if not allows(scco):
        raise failure(403, "callout_answer_url: the SCCO did not connect the call")


@router.post("/v1/call/callout")
async def callout(body: Callout, state: State, who: Anyone) -> dict[str, Any]:
    if who.is_agent and who.user_id != body.agentUserId:
        raise failure(403, "agentUserId: an agent's token may only place its own callouts")
    runtime = state.hub.runtime(who.tenant_id)
    agent = runtime.engine.agents.get(body.agentUserId)
    if agent is None or agent.removed:
        raise not_found("agent", "agentUserId", body.agentUserId)
    body = body.model_copy(
        update={
            "customerNumber": _number("customerNumber", body.customerNumber),
            "toCustomerFromNumber": _number("toCustomerFromNumber", body.toCustomerFromNumber),
        }
    )
    call_id = f"call-hl-{uuid.uuid4().hex[:20]}"
    await _permitted(state, who, body, call_id)
    await runtime.submit(
        ev.CalloutRequested(
            call_id=call_id,
            agent_id=body.agentUserId,
            customer_number=body.customerNumber,
            to_agent_from_number_display=body.toAgentFromNumberDisplay,
            to_agent_from_number_display_alias=body.toAgentFromNumberDisplayAlias,
            to_customer_from_number=body.toCustomerFromNumber,
        )
    )
    return success(who.project_id, "Callout success", callId=call_id)
