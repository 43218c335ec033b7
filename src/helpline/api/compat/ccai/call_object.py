"""The CCAI call object (seed 004 "Sample API response"), from Helpline's live call or record.

Every field of the sample is answered with its type. What Helpline knows fills it: times
(ISO 8601, milliseconds, `Z`), durations in whole seconds, the agent, the ticket, the numbers,
the recording's URL, how the call ended. What Helpline has no notion of (ratings, feedback,
photos and videos, deflection, verification) keeps the sample's neutral value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from helpline.core.calls import Call
from helpline.core.model import Center, Strategy
from helpline.core.states import CallState
from helpline.store.compat.ccai import CcaiCall
from helpline.store.models import CallRecordRow

CALL_TYPE = "IncomingCall"  # seed 004: "server code refers to all inbound call requests,
# including call-back calls, as 'incoming'"

_STATUS = {
    CallState.CREATED: "queued",
    CallState.QUEUED: "queued",
    CallState.OFFERING: "assigned",  # an agent's phone rings
    CallState.RINGING_AGENT: "assigned",
    CallState.DIALING_CUSTOMER: "connecting",  # the agent took it; the end user is dialled
    CallState.CONNECTED: "connected",
    CallState.HELD: "connected",
    CallState.EXTERNAL: "connected",
    CallState.VOICEMAIL: "voicemail",
}

_DISCONNECTED_BY = {"customer": "end_user", "agent": "agent", "system": "system"}


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    moment = datetime.fromtimestamp(at, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seconds(value: float) -> int:
    return max(0, round(value))


def _agent_info(center: Center, agent_id: str | None) -> dict[str, Any] | None:
    if agent_id is None:
        return None
    agent = center.agents.get(agent_id)
    return {"id": agent_id, "name": agent.name if agent is not None else ""}


def _offer_type(center: Center, queue_id: str | None) -> str:
    queue = center.queues.get(queue_id) if queue_id is not None else None
    # ring all offers the call to every eligible agent at once; the others one at a time
    return "broadcast" if queue is not None and queue.strategy is Strategy.RING_ALL else "cascade"


def call_object(
    row: CcaiCall,
    center: Center,
    *,
    now: float,
    live: Call | None = None,
    record: CallRecordRow | None = None,
    materialized_path: str | None = None,
) -> dict[str, Any]:
    """The call as seed 004 shows it; `live` while it lasts, then its `record`."""
    body = _base(row, center, materialized_path)
    if live is not None:
        waiting = live.in_queue and live.state in (CallState.QUEUED, CallState.OFFERING)
        talking = live.state in (CallState.CONNECTED, CallState.HELD)
        talk = live.talk_total
        if talking and live.leg_answered_at is not None:
            talk += now - live.leg_answered_at - live.leg_hold
        body.update(
            status=_STATUS.get(live.state, "queued"),
            created_at=iso(live.created_at),
            queued_at=iso(live.queued_at),
            assigned_at=iso(live.offered_at),
            connected_at=iso(live.answered_at),
            wait_duration=_seconds(live.wait_total + (now - live.enqueued_at if waiting else 0)),
            call_duration=_seconds(talk),
            hold_duration=_seconds(live.hold_total),
            agent_info=_agent_info(center, live.agent_id if live.answered_at else None),
            offer_type=_offer_type(center, live.queue_id),
        )
    elif record is not None:
        answered = record.answered_at is not None
        body.update(
            status="finished" if answered else "failed",
            created_at=iso(record.created_at),
            queued_at=iso(record.queued_at),
            assigned_at=iso(record.offered_at),
            connected_at=iso(record.answered_at),
            ends_at=iso(record.ended_at),
            wait_duration=_seconds(record.wait_s),
            call_duration=_seconds(record.talk_s),
            hold_duration=_seconds(record.hold_s),
            agent_info=_agent_info(center, record.agent_id),
            recording_url=record.recording_url,
            disconnected_by="disconnected_by_"
            + _DISCONNECTED_BY.get(record.disconnected_by, "unknown"),
            fail_reason="nothing" if answered else record.end_reason,
            fail_details=None if answered else record.result,
            offer_type=_offer_type(center, record.queue_id),
        )
    return body


def _base(row: CcaiCall, center: Center, materialized_path: str | None) -> dict[str, Any]:
    """The call as it is before anything happened to it (the sample's queued call)."""
    return {
        "id": row.id,
        "lang": row.lang,
        "call_type": CALL_TYPE,
        "status": "queued",
        "created_at": iso(row.created_at),
        "queued_at": iso(row.created_at),
        "assigned_at": None,
        "connected_at": None,
        "ends_at": None,
        "scheduled_at": None,
        "wait_duration": 0,
        "call_duration": 0,
        "hold_duration": 0,
        "rating": None,
        "has_feedback": False,
        "out_ticket_id": row.ticket_id,
        "out_ticket_url": None,
        "verified": False,
        "recording_url": None,
        "voicemail_reason": "not_voicemail",
        "deflection": "no_deflection",
        "disconnected_by": "disconnected_by_unknown",
        "fail_reason": "nothing",
        "fail_details": None,
        "support_number": row.outbound_number or center.settings.global_number,
        "selected_menu": row.menu_id,
        "menu_path": materialized_path,
        "queue_priority_level": 0,
        "agent_info": None,
        "end_user": None,
        "photos": [],
        "videos": [],
        "transfers": [],
        "participants": [],
        "offer_type": "cascade",
        "offer_events": [],
        "answer_type": "manual",
        "outbound_number": row.outbound_number,
    }
