"""`/v1/sandbox`: the virtual carrier, driven over the API (issue 4, point 5).

Place a call from any number to a hotline number, press keys, hang up; register a test agent
device that rings, answers (optionally after a delay), rejects and hangs up; decide how a
dialled number responds (a customer's, or an agent's phone an agent line calls); see an
agent line (seed 003) and what its agent heard, and hang it up as the agent. Calls go
through exactly the engine real calls use.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from helpline.api.deps import Principal, api_key_only, app_state
from helpline.api.state import AppState
from helpline.telephony.virtual import CustomerBehaviour, VirtualCall, VirtualDevice
from helpline.telephony.virtual_lines import VirtualLine

router = APIRouter(prefix="/v1/sandbox", tags=["sandbox"])

State = Annotated[AppState, Depends(app_state)]
Tenant = Annotated[Principal, Depends(api_key_only)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlaceCall(_Body):
    to: str = Field(min_length=1, description="a hotline number of this tenant")
    from_: str = Field("+15550000000", alias="from", min_length=1, description="caller id")
    call_id: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[\w.:-]+$")


class Keys(_Body):
    digits: str = Field(min_length=1, max_length=32, pattern=r"^[0-9*#]+$")


class CallRef(_Body):
    call_id: str = Field(min_length=1, max_length=100)


class DeviceBody(_Body):
    auto_answer: bool = True
    answer_delay_s: float = Field(0.0, ge=0, le=300)
    reject: bool = False


class CustomerBody(_Body):
    answer: bool = True
    delay_s: float = Field(0.0, ge=0, le=300)
    failure: Literal["busy", "no_answer", "failed"] = "no_answer"


class SandboxCall(BaseModel):
    call_id: str
    from_number: str
    to_number: str
    state: str = Field(
        description="ringing, ivr, queued, connected, dialing, external, voicemail or ended"
    )
    agent_id: str | None
    held: bool
    keys: str
    heard: list[dict[str, Any]] = Field(description="prompts, greeting and hold music, in order")
    end_reason: str | None


class SandboxDevice(BaseModel):
    agent_id: str
    auto_answer: bool
    answer_delay_s: float
    reject: bool
    ringing: list[str]
    on_call: str | None
    offers: int


class SandboxAgentLine(BaseModel):
    call_id: str = Field(description="the line's own call id")
    agent_id: str
    phone_number: str | None = Field(description="the number called; null: the agent's device")
    state: str = Field(
        description="ringing, announcing, hold, connecting, talking, wrap_up or ended"
    )
    customer_call_id: str | None = Field(description="the call connected on the line now")
    heard: list[dict[str, Any]] = Field(
        description="what the agent heard, in order: its agent id, hold music, a beep and "
        "each customer, hold music again, a farewell"
    )
    end_reason: str | None


def _line(line: VirtualLine) -> SandboxAgentLine:
    return SandboxAgentLine(
        call_id=line.call.call_id,
        agent_id=line.agent_id,
        phone_number=line.command.phone_number,
        state=line.state.value,
        customer_call_id=line.attached,
        heard=list(line.call.heard),
        end_reason=line.call.end_reason,
    )


def _call(placed: VirtualCall) -> SandboxCall:
    return SandboxCall(
        call_id=placed.call_id,
        from_number=placed.from_number,
        to_number=placed.to_number,
        state=placed.state,
        agent_id=placed.agent_id,
        held=placed.held,
        keys=placed.keys,
        heard=list(placed.heard),
        end_reason=placed.end_reason,
    )


def _device(device: VirtualDevice) -> SandboxDevice:
    return SandboxDevice(
        agent_id=device.agent_id,
        auto_answer=device.auto_answer,
        answer_delay_s=device.answer_delay_s,
        reject=device.reject,
        ringing=list(device.ringing),
        on_call=device.on_call,
        offers=device.offers,
    )


CallId = Annotated[str, Path(min_length=1, max_length=100)]
AgentId = Annotated[str, Path(min_length=1, max_length=100)]


@router.post("/calls", status_code=201, response_model=SandboxCall)
async def place_call(body: PlaceCall, state: State, who: Tenant) -> SandboxCall:
    """Place a call from any number to a hotline number; it enters the IVR or a queue."""
    runtime = state.hub.runtime(who.tenant_id)
    call_id = body.call_id or f"sb-{uuid.uuid4().hex[:12]}"
    placed = state.carrier.place_call(who.tenant_id, call_id, body.from_, body.to)
    await runtime.settle()
    return _call(placed)


@router.get("/calls/{call_id}", response_model=SandboxCall)
async def get_call(call_id: CallId, state: State, who: Tenant) -> SandboxCall:
    return _call(state.carrier.call(who.tenant_id, call_id))


@router.post("/calls/{call_id}/keys", response_model=SandboxCall)
async def press_keys(call_id: CallId, body: Keys, state: State, who: Tenant) -> SandboxCall:
    """Press DTMF keys on the call (e.g. "1", or "12" typed ahead)."""
    state.carrier.press(who.tenant_id, call_id, body.digits)
    await state.hub.runtime(who.tenant_id).settle()
    return _call(state.carrier.call(who.tenant_id, call_id))


@router.post("/calls/{call_id}/hangup", response_model=SandboxCall)
async def hang_up(call_id: CallId, state: State, who: Tenant) -> SandboxCall:
    """The caller hangs up."""
    state.carrier.hang_up(who.tenant_id, call_id)
    await state.hub.runtime(who.tenant_id).settle()
    return _call(state.carrier.call(who.tenant_id, call_id))


@router.put("/devices/{agent_id}", response_model=SandboxDevice)
async def register_device(
    agent_id: AgentId, body: DeviceBody, state: State, who: Tenant
) -> SandboxDevice:
    """Register a test device for an agent: the agent is online and its calls ring here."""
    runtime = state.hub.runtime(who.tenant_id)
    runtime.require_agent(agent_id)
    device = state.carrier.register_device(
        who.tenant_id,
        VirtualDevice(
            agent_id=agent_id,
            auto_answer=body.auto_answer,
            answer_delay_s=body.answer_delay_s,
            reject=body.reject,
        ),
    )
    await runtime.settle()
    return _device(device)


@router.get("/devices/{agent_id}", response_model=SandboxDevice)
async def get_device(agent_id: AgentId, state: State, who: Tenant) -> SandboxDevice:
    return _device(state.carrier.device(who.tenant_id, agent_id))


@router.delete("/devices/{agent_id}", status_code=204)
async def unregister_device(agent_id: AgentId, state: State, who: Tenant) -> None:
    """The device goes away: the agent is offline (for routing type 1)."""
    state.carrier.unregister_device(who.tenant_id, agent_id)
    await state.hub.runtime(who.tenant_id).settle()


@router.post("/devices/{agent_id}/answer", response_model=SandboxDevice)
async def device_answer(
    agent_id: AgentId, body: CallRef, state: State, who: Tenant
) -> SandboxDevice:
    state.carrier.device_answer(who.tenant_id, agent_id, body.call_id)
    await state.hub.runtime(who.tenant_id).settle()
    return _device(state.carrier.device(who.tenant_id, agent_id))


@router.post("/devices/{agent_id}/reject", response_model=SandboxDevice)
async def device_reject(
    agent_id: AgentId, body: CallRef, state: State, who: Tenant
) -> SandboxDevice:
    state.carrier.device_reject(who.tenant_id, agent_id, body.call_id)
    await state.hub.runtime(who.tenant_id).settle()
    return _device(state.carrier.device(who.tenant_id, agent_id))


@router.post("/devices/{agent_id}/hangup", response_model=SandboxDevice)
async def device_hang_up(agent_id: AgentId, state: State, who: Tenant) -> SandboxDevice:
    """The agent hangs up the call it is on."""
    state.carrier.device_hang_up(who.tenant_id, agent_id)
    await state.hub.runtime(who.tenant_id).settle()
    return _device(state.carrier.device(who.tenant_id, agent_id))


@router.get("/agent-lines/{agent_id}", response_model=SandboxAgentLine)
async def get_agent_line(agent_id: AgentId, state: State, who: Tenant) -> SandboxAgentLine:
    """The agent's latest agent line (CallFire sendAgentCallBack, seed 003), open or ended."""
    return _line(state.carrier.lines.line(who.tenant_id, agent_id))


@router.post("/agent-lines/{agent_id}/hangup", response_model=SandboxAgentLine)
async def hang_up_agent_line(agent_id: AgentId, state: State, who: Tenant) -> SandboxAgentLine:
    """The agent puts its phone down: a call on the line ends, the agent leaves its campaign."""
    state.carrier.lines.hang_up(who.tenant_id, agent_id)
    await state.hub.runtime(who.tenant_id).settle()
    return _line(state.carrier.lines.line(who.tenant_id, agent_id))


@router.put("/customers/{number}", response_model=CustomerBody)
async def set_customer(
    number: Annotated[str, Path(min_length=1, max_length=40)],
    body: CustomerBody,
    state: State,
    who: Tenant,
) -> CustomerBody:
    """How a number responds when the carrier dials it: a customer's (callouts, callbacks,
    campaigns) or an agent's phone that an agent line calls (busy, no answer)."""
    state.carrier.customers[(who.tenant_id, number)] = CustomerBehaviour(
        answer=body.answer, delay_s=body.delay_s, failure=body.failure
    )
    return body
