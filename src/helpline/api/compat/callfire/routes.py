"""The Call Center Connect methods (seed 003) and the campaign methods they need.

Campaigns: `createCampaign` (with its numbers and retry rules), `addNumbers`, `getCampaign`,
`listCampaigns`, `startCampaign`, `stopCampaign` (the Voice Broadcast API's names, which seed
003 points to). Agents: `sendAgentCallBack`, `loginAgent`, `getConnectionForAgent` (blocks
until the agent is connected, or `timeout` seconds: then 204), `storeAgentResponse`,
`kickAgent`. Methods that CallFire documents with "No Response" answer 204.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from helpline.api.compat.callfire.common import (
    Params,
    campaigns_of,
    fault,
    tenant_of,
    vendor_errors,
)
from helpline.api.compat.common import RULE, dialable
from helpline.core import dialer as dl
from helpline.core import dialer_messages as dm
from helpline.store.compat.callfire import CallfireCampaign, rules_of

router = APIRouter(prefix="/compat/callfire", include_in_schema=False)

METHODS = ["GET", "POST"]
MAX_ID = 2**63 - 1
DEFAULT_WAIT_S = 30
_RESPONSE_PARAMS = (
    "campaignId",
    "agentId",
    "callId",
    "agentResponse",
    "disposition",
    "agentNotes",
    "notes",
    "lastcall",
)
MAX_WAIT_S = 300

# CallFire's vocabulary (API 1.1 BroadcastStatus, ActionState, Result)
_STATUS = {
    dm.CampaignStatus.SETUP: "SETUP",
    dm.CampaignStatus.RUNNING: "RUNNING",
    dm.CampaignStatus.STOPPED: "STOPPED",
    dm.CampaignStatus.FINISHED: "FINISHED",
}
_RESULT = {
    dm.Outcome.ANSWERED: "LA",
    dm.Outcome.BUSY: "BUSY",
    dm.Outcome.NO_ANSWER: "NO_ANS",
    dm.Outcome.FAILED: "CARRIER_ERROR",
    dm.Outcome.NOT_DIALED: "UNDIALED",
}


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _state(number: dm.DialNumber) -> str:
    if number.state is dm.NumberState.DIALING:
        return "SELECTED"
    if number.state is dm.NumberState.DONE:
        return "FINISHED"
    return "CALLBACK" if number.attempts else "READY"


def _campaign(row: CallfireCampaign, dialer: dl.Dialer) -> dict[str, Any]:
    numbers = sorted(dialer.numbers.values(), key=lambda n: n.number_id)
    done = [n for n in numbers if n.state is dm.NumberState.DONE]
    return {
        "id": row.id,
        "name": row.name,
        "status": _STATUS[dialer.status],
        "created": _iso(row.created_at),
        "maxAttempts": row.max_attempts,
        "busyRetrySeconds": row.busy_retry_s,
        "noAnswerRetrySeconds": row.no_answer_retry_s,
        "fromNumber": row.caller_id,
        "agentRingSeconds": row.answer_timeout_s,
        "stats": {
            "total": len(numbers),
            "callsRemaining": len(numbers) - len(done),
            "callsAwaitingRedial": sum(
                1 for n in numbers if n.state is dm.NumberState.PENDING and n.attempts
            ),
            "callsLiveAnswer": sum(1 for n in done if n.outcome is dm.Outcome.ANSWERED),
            "callsAttempted": sum(n.attempts for n in numbers),
            "agentsLoggedIn": len(dialer.sessions),
        },
        "numbers": [
            {
                "id": n.number_id,
                "number": n.number,
                "state": _state(n),
                "result": _RESULT[n.outcome] if n.outcome else None,
                "attempts": n.attempts,
                "contact": dict(n.data),
            }
            for n in numbers
        ],
    }


def _call_type(connection: dm.Connection, agent_code: str, caller_id: str | None) -> Any:
    return {
        "CallType": {
            "id": connection.call_id,
            "campaignId": int(connection.campaign_id),
            "agentId": agent_code,
            "toNumber": connection.number,
            "fromNumber": caller_id,
            "numberId": connection.number_id,
            "attempt": connection.attempt,
            "connected": _iso(connection.connected_at),
            "contact": dict(connection.data),
        }
    }


async def _campaign_row(request: Request, params: Params) -> tuple[Any, str, CallfireCampaign]:
    state, tenant_id = await tenant_of(request, params)
    campaign_id = params.integer("campaignId", low=1, high=MAX_ID)
    row = await state.store.callfire.get_campaign(tenant_id, campaign_id)
    if row is None:
        raise fault(404, f"campaignId {campaign_id} not found")
    return state, tenant_id, row


# -- campaigns ----------------------------------------------------------------------------------


@router.api_route("/createCampaign", methods=METHODS)
@vendor_errors
async def create_campaign(request: Request) -> Response:
    params = await Params.read(request)
    state, tenant_id = await tenant_of(request, params)
    name = params.required("name")
    numbers = params.numbers("numbers", required=False)
    defaults = dm.Rules()
    row = await state.store.callfire.create_campaign(
        tenant_id,
        name=name,
        max_attempts=params.integer("maxAttempts", default=defaults.max_attempts, low=1, high=20),
        busy_retry_s=params.integer(
            "busyRetrySeconds", default=int(defaults.retry_delay_s[dm.Outcome.BUSY]), high=86_400
        ),
        no_answer_retry_s=params.integer(
            "noAnswerRetrySeconds",
            default=int(defaults.retry_delay_s[dm.Outcome.NO_ANSWER]),
            high=86_400,
        ),
        caller_id=params.text("fromNumber", required=False, limit=40),
        answer_timeout_s=params.integer(
            "agentRingSeconds", default=int(defaults.answer_timeout_s), low=5, high=300
        ),
    )
    campaigns = await campaigns_of(state, tenant_id)
    dialer = dl.Dialer(str(row.id), rules_of(row), now=state.hub.clock())
    campaigns.add(dialer)
    if numbers:
        await campaigns.apply(str(row.id), dm.NumbersAdded(numbers=tuple(numbers)))
    return JSONResponse({"campaignId": row.id}, status_code=201)


@router.api_route("/addNumbers", methods=METHODS)
@vendor_errors
async def add_numbers(request: Request) -> Response:
    params = await Params.read(request)
    state, tenant_id, row = await _campaign_row(request, params)
    numbers = params.numbers("numbers", required=True)
    campaigns = await campaigns_of(state, tenant_id)
    await campaigns.apply(str(row.id), dm.NumbersAdded(numbers=tuple(numbers)))
    return JSONResponse({"campaignId": row.id, "added": len(numbers)})


@router.api_route("/getCampaign", methods=METHODS)
@vendor_errors
async def get_campaign(request: Request) -> Response:
    params = await Params.read(request)
    state, tenant_id, row = await _campaign_row(request, params)
    dialer = (await campaigns_of(state, tenant_id)).dialer(str(row.id))
    return JSONResponse({"Campaign": _campaign(row, dialer)})


@router.api_route("/listCampaigns", methods=METHODS)
@vendor_errors
async def list_campaigns(request: Request) -> Response:
    params = await Params.read(request)
    state, tenant_id = await tenant_of(request, params)
    campaigns = await campaigns_of(state, tenant_id)
    rows = await state.store.callfire.list_campaigns(tenant_id)
    items = [_campaign(row, campaigns.dialer(str(row.id))) for row in rows]
    return JSONResponse({"totalResults": len(items), "Campaign": items})


@router.api_route("/startCampaign", methods=METHODS)
@vendor_errors
async def start_campaign(request: Request) -> Response:
    params = await Params.read(request)
    state, tenant_id, row = await _campaign_row(request, params)
    await (await campaigns_of(state, tenant_id)).apply(str(row.id), dm.StartRequested())
    return Response(status_code=204)


@router.api_route("/stopCampaign", methods=METHODS)
@vendor_errors
async def stop_campaign(request: Request) -> Response:
    params = await Params.read(request)
    state, tenant_id, row = await _campaign_row(request, params)
    await (await campaigns_of(state, tenant_id)).apply(str(row.id), dm.StopRequested())
    return Response(status_code=204)


# -- agents -------------------------------------------------------------------------------------


@router.api_route("/sendAgentCallBack", methods=METHODS)
@vendor_errors
async def send_agent_call_back(request: Request) -> Response:
    """The agent to call back: `userId` (a Helpline agent id) or `phonenumber` (an agent's
    phone number in the center document), or both (call that agent at that number). Seed
    003 step 1: the agent's phone is called (`phonenumber`, else the agent's number in the
    center document, else its own device), and hears the agent id this answers."""
    params = await Params.read(request)
    state, tenant_id, row = await _campaign_row(request, params)
    campaigns = await campaigns_of(state, tenant_id)
    user = params.text("userId", required=False, limit=100)
    phone = params.text("phonenumber", required=False, limit=40)
    if user is None and phone is None:
        raise fault(400, "phonenumber or userId is required")
    if phone is not None:
        dialled = dialable(phone)
        if dialled is None:
            raise fault(400, f"phonenumber is not {RULE}")
        phone = dialled
    if user is None:
        matches = [
            a.id
            for a in campaigns.runtime.engine.agents.values()
            if not a.removed and a.phone_number == phone
        ]
        if not matches:
            raise fault(404, f"phonenumber {phone} is no agent's phone number")
        user = matches[0]
    if phone is None:
        agent = campaigns.runtime.engine.agents.get(user)
        phone = agent.phone_number if agent is not None and not agent.removed else None
    code = await campaigns.call_back(str(row.id), user, phone)
    return JSONResponse({"agentId": code})


async def _agent(request: Request) -> tuple[Params, Any, str, str, Any]:
    params = await Params.read(request)
    state, tenant_id, row = await _campaign_row(request, params)
    campaigns = await campaigns_of(state, tenant_id)
    code = params.required("agentId", limit=40)
    return params, row, str(row.id), code, campaigns


@router.api_route("/loginAgent", methods=METHODS)
@vendor_errors
async def login_agent(request: Request) -> Response:
    _, _, campaign_id, code, campaigns = await _agent(request)
    await campaigns.login(campaign_id, code)
    return Response(status_code=204)


@router.api_route("/getConnectionForAgent", methods=METHODS)
@vendor_errors
async def get_connection_for_agent(request: Request) -> Response:
    params, row, campaign_id, code, campaigns = await _agent(request)
    timeout = params.integer("timeout", default=DEFAULT_WAIT_S, low=0, high=MAX_WAIT_S)
    agent_id = campaigns.agent_of(campaign_id, code)
    connection = await campaigns.wait_connection(campaign_id, agent_id, float(timeout))
    if connection is None:
        return Response(status_code=204)  # no connection within `timeout`: ask again
    return JSONResponse(_call_type(connection, code, row.caller_id))


@router.api_route("/storeAgentResponse", methods=METHODS)
@vendor_errors
async def store_agent_response(request: Request) -> Response:
    params, _, campaign_id, code, campaigns = await _agent(request)
    # seed 003 names the response `agentResponse` and `agentNotes`; issue 5 calls them the
    # disposition and notes: both names are taken, anything else is refused by name
    params.only(*_RESPONSE_PARAMS)
    call_id = params.required("callId", limit=100)
    last_call = params.boolean("lastcall", default=False)
    disposition = params.aliased("agentResponse", "disposition")
    notes = params.aliased("agentNotes", "notes", limit=5000)
    event = dm.ResponseStored(
        agent_id=campaigns.agent_of(campaign_id, code),
        call_id=call_id,
        last_call=last_call,
        disposition=disposition,
        notes=notes,
    )
    await campaigns.apply(campaign_id, event)
    return Response(status_code=204)


@router.api_route("/kickAgent", methods=METHODS)
@vendor_errors
async def kick_agent(request: Request) -> Response:
    _, _, campaign_id, code, campaigns = await _agent(request)
    await campaigns.kick(campaign_id, code)
    return Response(status_code=204)
