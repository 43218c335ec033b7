"""Live calls and agents (issue 4, point 4): list, get, hang up, hold, transfer, callout,
callback call; agent status; a queue's estimated wait.

Requests go to the tenant's engine through its runtime; a request the engine refuses (hold a
call that is ringing, transfer to a busy agent) answers 409 and changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from helpline.api.deps import Principal, api_key_only, app_state, principal
from helpline.api.errors import Forbidden
from helpline.api.state import AppState
from helpline.core import events as ev
from helpline.core.calls import Call
from helpline.core.errors import NotFound
from helpline.core.states import system_status
from helpline.runtime.tenant import TenantRuntime

router = APIRouter(prefix="/v1", tags=["calls"])

State = Annotated[AppState, Depends(app_state)]
Anyone = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(api_key_only)]
CallId = Annotated[str, Path(min_length=1, max_length=100)]
AgentId = Annotated[str, Path(min_length=1, max_length=100)]
QueueId = Annotated[str, Path(min_length=1, max_length=100)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LiveCall(BaseModel):
    call_id: str
    direction: str
    state: str
    from_number: str
    to_number: str
    queue_id: str | None
    priority: int
    agent_id: str | None
    offered_to: list[str]
    created_at: float
    queued_at: float | None
    answered_at: float | None
    ivr_path: list[str]
    keys: str


class LiveCallPage(BaseModel):
    items: list[LiveCall]
    next_cursor: str | None


class Transfer(_Body):
    to_agent: str | None = Field(None, min_length=1)
    to_queue: str | None = Field(None, min_length=1)
    to_number: str | None = Field(None, min_length=1)
    keep_position: bool | None = None
    priority: int | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Transfer:
        if sum(t is not None for t in (self.to_agent, self.to_queue, self.to_number)) != 1:
            raise ValueError("give exactly one of to_agent, to_queue, to_number")
        return self


class Callout(_Body):
    """Seed 000 Step 4 method 2: ring the agent, then the customer, then bridge."""

    agent_id: str = Field(min_length=1)
    customer_number: str = Field(min_length=1, max_length=40)
    agent_display_number: str | None = None
    agent_display_alias: str | None = None
    caller_id: str | None = Field(None, description="the number the customer sees")
    answer_timeout_s: float = Field(30.0, gt=0, le=600)


class CallbackCall(_Body):
    """Seed 004 Callback Call API: waits in a queue; the customer is dialled once an agent
    takes it."""

    queue_id: str = Field(min_length=1)
    customer_number: str = Field(min_length=1, max_length=40)
    outbound_number: str | None = None
    priority: int = 0
    recording_permission: Literal[
        "recording_permission_not_asked",
        "recording_permission_denied",
        "recording_permission_granted",
    ] = "recording_permission_not_asked"


class Created(BaseModel):
    call_id: str


class AgentStatus(_Body):
    manual_status: str = Field(min_length=1, max_length=40, examples=["AVAILABLE"])
    reason: str = Field("", max_length=200)


class WrapUp(_Body):
    disposition: str | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=5000)


class AgentState(BaseModel):
    """Seed 000 Step 3a: `manual_status`, `system_status` and online, plus the activity."""

    agent_id: str
    manual_status: str
    system_status: int
    activity: str
    online: bool
    routing_type: int
    phone_number: str | None
    reason: str
    call_id: str | None
    calls_taken: int
    missed_in_row: int


class WaitTime(BaseModel):
    queue_id: str
    waiting: int
    staffed: int
    estimated_wait_s: float | None = Field(description="QL estimate (Ibrahim & Whitt)")
    head_of_line_wait_s: float
    last_started_wait_s: float | None


def _live(call: Call) -> LiveCall:
    return LiveCall(
        call_id=call.id,
        direction=call.direction.value,
        state=call.state.value,
        from_number=call.from_number,
        to_number=call.to_number,
        queue_id=call.queue_id,
        priority=call.priority,
        agent_id=call.agent_id,
        offered_to=list(call.offered_to),
        created_at=call.created_at,
        queued_at=call.queued_at,
        answered_at=call.answered_at,
        ivr_path=list(call.ivr_path),
        keys="".join(call.keys),
    )


def _call_for(runtime: TenantRuntime, who: Principal, call_id: str) -> Call:
    call = runtime.engine.calls.get(call_id)
    if call is None or (who.is_agent and who.agent_id not in (call.agent_id, *call.offered_to)):
        raise NotFound(f"call {call_id} not found", details={"field": "call_id"})
    return call


@router.get("/calls", response_model=LiveCallPage)
async def list_calls(
    state: State,
    who: Anyone,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> LiveCallPage:
    """Live calls, by id; an agent sees only its own."""
    runtime = state.hub.runtime(who.tenant_id)
    calls = sorted(runtime.engine.calls.values(), key=lambda c: c.id)
    if who.is_agent:
        calls = [c for c in calls if who.agent_id in (c.agent_id, *c.offered_to)]
    if cursor is not None:
        calls = [c for c in calls if c.id > cursor]
    page = calls[:limit]
    more = len(calls) > limit
    return LiveCallPage(items=[_live(c) for c in page], next_cursor=page[-1].id if more else None)


@router.get("/calls/{call_id}", response_model=LiveCall)
async def get_call(call_id: CallId, state: State, who: Anyone) -> LiveCall:
    return _live(_call_for(state.hub.runtime(who.tenant_id), who, call_id))


@router.post("/calls/{call_id}/hangup", status_code=204)
async def hang_up_call(call_id: CallId, state: State, who: Anyone) -> None:
    runtime = state.hub.runtime(who.tenant_id)
    _call_for(runtime, who, call_id)
    party = ev.Party.AGENT if who.is_agent else ev.Party.SYSTEM
    await runtime.submit(ev.CallHungUp(call_id=call_id, party=party, reason="api_hangup"))


@router.post("/calls/{call_id}/hold", response_model=LiveCall)
async def hold_call(call_id: CallId, state: State, who: Anyone) -> LiveCall:
    runtime = state.hub.runtime(who.tenant_id)
    _call_for(runtime, who, call_id)
    await runtime.submit(ev.HoldRequested(call_id=call_id))
    return _live(_call_for(runtime, who, call_id))


@router.post("/calls/{call_id}/resume", response_model=LiveCall)
async def resume_call(call_id: CallId, state: State, who: Anyone) -> LiveCall:
    runtime = state.hub.runtime(who.tenant_id)
    _call_for(runtime, who, call_id)
    await runtime.submit(ev.ResumeRequested(call_id=call_id))
    return _live(_call_for(runtime, who, call_id))


@router.post("/calls/{call_id}/transfer", status_code=202)
async def transfer_call(
    call_id: CallId, body: Transfer, state: State, who: Anyone
) -> dict[str, str]:
    """Blind transfer to exactly one of: an agent, a queue, an outside number."""
    runtime = state.hub.runtime(who.tenant_id)
    _call_for(runtime, who, call_id)
    await runtime.submit(
        ev.TransferRequested(
            call_id=call_id,
            to_agent=body.to_agent,
            to_queue=body.to_queue,
            to_number=body.to_number,
            keep_position=body.keep_position,
            priority=body.priority,
        )
    )
    return {"call_id": call_id, "status": "transferring"}


@router.post("/calls/callout", status_code=201, response_model=Created)
async def callout(body: Callout, state: State, who: Anyone) -> Created:
    if who.is_agent and who.agent_id != body.agent_id:
        raise Forbidden("an agent may only place its own callouts")
    call_id = f"co-{uuid.uuid4().hex[:16]}"
    await state.hub.runtime(who.tenant_id).submit(
        ev.CalloutRequested(
            call_id=call_id,
            agent_id=body.agent_id,
            customer_number=body.customer_number,
            to_agent_from_number_display=body.agent_display_number,
            to_agent_from_number_display_alias=body.agent_display_alias,
            to_customer_from_number=body.caller_id,
            answer_timeout_s=body.answer_timeout_s,
        )
    )
    return Created(call_id=call_id)


@router.post("/calls/callback", status_code=201, response_model=Created)
async def callback(body: CallbackCall, state: State, who: Admin) -> Created:
    call_id = f"cb-{uuid.uuid4().hex[:16]}"
    await state.hub.runtime(who.tenant_id).submit(
        ev.CallbackRequested(
            call_id=call_id,
            queue_id=body.queue_id,
            customer_number=body.customer_number,
            outbound_number=body.outbound_number,
            priority=body.priority,
            recording_permission=body.recording_permission,
        )
    )
    return Created(call_id=call_id)


def _agent_state(runtime: TenantRuntime, agent_id: str) -> AgentState:
    runtime.require_agent(agent_id)
    agent = runtime.engine.agents[agent_id]
    return AgentState(
        agent_id=agent.id,
        manual_status=agent.manual_status,
        system_status=system_status(agent.activity),
        activity=agent.activity.value,
        online=agent.online,
        routing_type=int(agent.routing_type),
        phone_number=agent.phone_number,
        reason=agent.reason,
        call_id=agent.call_id,
        calls_taken=agent.calls_taken,
        missed_in_row=agent.missed_in_row,
    )


@router.get("/agents/{agent_id}/state", response_model=AgentState, tags=["agents"])
async def get_agent_state(agent_id: AgentId, state: State, who: Anyone) -> AgentState:
    if who.is_agent and who.agent_id != agent_id:
        raise NotFound(f"agent {agent_id} not found", details={"field": "agent_id"})
    return _agent_state(state.hub.runtime(who.tenant_id), agent_id)


@router.put("/agents/{agent_id}/status", response_model=AgentState, tags=["agents"])
async def set_agent_status(
    agent_id: AgentId, body: AgentStatus, state: State, who: Anyone
) -> AgentState:
    """Set `manual_status` (AVAILABLE receives calls; anything else is not ready)."""
    if who.is_agent and who.agent_id != agent_id:
        raise NotFound(f"agent {agent_id} not found", details={"field": "agent_id"})
    runtime = state.hub.runtime(who.tenant_id)
    await runtime.submit(
        ev.AgentStatusSet(agent_id=agent_id, manual_status=body.manual_status, reason=body.reason)
    )
    return _agent_state(runtime, agent_id)


@router.post("/agents/{agent_id}/wrap-up/end", response_model=AgentState, tags=["agents"])
async def end_wrap_up(agent_id: AgentId, body: WrapUp, state: State, who: Anyone) -> AgentState:
    """End wrap-up now, with a disposition and notes for the call record."""
    if who.is_agent and who.agent_id != agent_id:
        raise NotFound(f"agent {agent_id} not found", details={"field": "agent_id"})
    runtime = state.hub.runtime(who.tenant_id)
    await runtime.submit(
        ev.WrapUpEnded(agent_id=agent_id, disposition=body.disposition, notes=body.notes)
    )
    return _agent_state(runtime, agent_id)


@router.get("/queues/{queue_id}/wait-time", response_model=WaitTime, tags=["queues"])
async def wait_time(queue_id: QueueId, state: State, who: Anyone) -> WaitTime:
    """The estimated wait for a caller joining the queue now (QL, with HOL and LES)."""
    estimate = state.hub.runtime(who.tenant_id).engine.estimated_wait(queue_id)
    return WaitTime(
        queue_id=queue_id,
        waiting=estimate.waiting,
        staffed=estimate.staffed,
        estimated_wait_s=estimate.ql_s,
        head_of_line_wait_s=estimate.hol_s,
        last_started_wait_s=estimate.les_s,
    )
