"""Plain-data forms of engine facts: for websockets, webhooks, the API and the store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.calls import Call
from helpline.core.plain import plain
from helpline.core.records import CallRecord
from helpline.core.timers import TimerKind


def record_dict(record: CallRecord) -> dict[str, Any]:
    data: dict[str, Any] = plain(record)
    return data


def state_message(
    tenant_id: str, change: cmd.CallStateChanged | cmd.AgentStateChanged
) -> dict[str, Any]:
    """The message live views receive: `{"type", "tenant_id", "at", "data"}`."""
    kind = (
        "call.state_changed" if isinstance(change, cmd.CallStateChanged) else "agent.state_changed"
    )
    data = plain(change)
    return {"type": kind, "tenant_id": tenant_id, "at": data.pop("at"), "data": data}


def offer_message(tenant_id: str, offer: cmd.OfferCall, at: float) -> dict[str, Any]:
    """An agent's phone rings: what a softphone shows (seed 002 `IncomingCall`)."""
    data = plain(offer)
    data["offered_to"] = [offer.agent_id]
    return {"type": "call.offered", "tenant_id": tenant_id, "at": at, "data": data}


# -- telling an agent a call is no longer its (issue 6: the softphone stops ringing) -----------
# An agent's live view sees the calls that name it (api/events.py `visible`); once an offer
# ends or the call is transferred away, the call's later changes no longer name the agent, so
# without these it would learn nothing. The engine's commands say whom (CancelOffer) and the
# event applied says why; a rejection and a transfer have no command of their own to the agent
# (its own device acted), so the event and the call as it was before name them.


Before = tuple[tuple[str, ...], str | None]  # (agents a call rang on, the agent it was with)


def ringing_before(calls: Mapping[str, Call], event: ev.Event) -> Before:
    """The agents the event's call rang on, and the agent it was with, before the event."""
    call_id = getattr(event, "call_id", None)
    call = calls.get(call_id) if isinstance(call_id, str) else None
    if call is None:
        return (), None
    return tuple(call.offered_to), call.agent_id


def offer_end_reason(event: ev.Event, agent_id: str) -> str:
    """Why the engine withdrew an offer (a CancelOffer), from the event it was applying."""
    if isinstance(event, ev.TimerFired):
        return "timeout" if event.timer.kind is TimerKind.OFFER else "withdrawn"
    if isinstance(event, ev.CallHungUp):
        return "caller_hung_up" if event.party is ev.Party.CUSTOMER else "hung_up"
    if isinstance(event, ev.OfferAnswered):
        return "answered_elsewhere" if event.agent_id != agent_id else "withdrawn"
    if isinstance(event, ev.AgentPresenceChanged | ev.AgentReachChanged):
        return "agent_unreachable"
    return "withdrawn"


def offer_ended_message(
    tenant_id: str, call_id: str, agent_id: str, reason: str, at: float
) -> dict[str, Any]:
    """The call stopped ringing on the agent without it answering: `reason` is `timeout`,
    `rejected` (or the device's reason), `caller_hung_up`, `answered_elsewhere`, ..."""
    data = {"call_id": call_id, "agent_id": agent_id, "reason": reason}
    return {"type": "call.offer_ended", "tenant_id": tenant_id, "at": at, "data": data}


def released_by_event(
    tenant_id: str, event: ev.Event, before: Before, at: float
) -> list[dict[str, Any]]:
    """What an applied rejection or transfer tells the agent it concerned (no command does)."""
    ringing, agent_id = before
    if isinstance(event, ev.OfferRejected) and event.agent_id in ringing:
        return [offer_ended_message(tenant_id, event.call_id, event.agent_id, event.reason, at)]
    if isinstance(event, ev.TransferRequested) and agent_id is not None:
        data = {
            "call_id": event.call_id,
            "agent_id": agent_id,
            "reason": "transferred",
            "to_agent": event.to_agent,
            "to_queue": event.to_queue,
            "to_number": event.to_number,
        }
        return [{"type": "call.transferred", "tenant_id": tenant_id, "at": at, "data": data}]
    return []
