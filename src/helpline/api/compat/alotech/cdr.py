"""`function=reportsCDRLogs` (seed 002 "ReportsCDRLogs"): Helpline's call records as CDRs.

Two ways to ask (seed 002):

- `startdate` and `finishdate` (`YYYY-MM-DD HH:MM:SS`, UTC): at most 100 records a page, oldest
  first. The answer always carries a `cursor`; the client repeats the request with it until
  `CallList` has fewer than 100 records. The cursor is the position after the page's last
  record (`store.records.record_cursor`), so no record is returned twice or skipped, and a
  client that keeps the last cursor later gets only the records that ended since.
- `activecallkey` (the hangup body's `call_id`): one record if it matches, else an empty list;
  the other parameters are then ignored.

Both read `state.store.records` (the same records as `GET /v1/call-records`), filtered by the
tenant of the `app_token`. The date range is on the time a call ended, `finishdate` taken
whole to the second (Helpline's records are kept in the order calls end: that is what makes
the cursor exact while calls keep ending).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from helpline.api.compat.alotech.auth import reporting_tenant
from helpline.api.compat.alotech.params import BadParameter, date, format_date, text
from helpline.api.state import AppState
from helpline.core.model import Center
from helpline.core.records import Direction, Result
from helpline.runtime.hangup import dial_status
from helpline.store.base import InvalidCursor
from helpline.store.models import CallRecordRow
from helpline.store.records import record_cursor
from helpline.store.serialize import row_to_call_record

PAGE_SIZE = 100  # seed 002: "a maximum of 100 records will be returned"
_ABANDONED = (Result.ABANDONED_IN_IVR.value, Result.ABANDONED_IN_QUEUE.value)


async def reports_cdr_logs(state: AppState, query: Mapping[str, str]) -> dict[str, Any]:
    tenant_id = await reporting_tenant(state, query)
    center = state.hub.runtime(tenant_id).engine.center
    key = text(query, "activecallkey", max_length=200)
    if key is not None:
        row = await state.store.records.get_record(tenant_id, key)
        return {"cursor": "", "CallList": [] if row is None else [cdr(row, center)]}
    start = date(query, "startdate")
    finish = date(query, "finishdate")
    if finish < start:
        raise BadParameter("finishdate", "must not be before startdate")
    cursor = text(query, "cursor", max_length=500)
    try:
        page = await state.store.records.list_records(
            tenant_id, start=start, end=finish + 1.0, cursor=cursor, limit=PAGE_SIZE
        )
    except InvalidCursor:  # named like every other bad parameter here: details.field
        raise BadParameter("cursor", "not a cursor this API gave") from None
    if page.next_cursor is not None:
        next_cursor = page.next_cursor
    elif page.items:
        next_cursor = record_cursor(page.items[-1])
    else:
        next_cursor = cursor or ""  # nothing more yet: the same position
    return {"cursor": next_cursor, "CallList": [cdr(row, center) for row in page.items]}


def cdr(row: CallRecordRow, center: Center) -> dict[str, Any]:
    """One Helpline call record as an Alo-Tech CDR, field by field (docs/compat.md).

    Dates are the seeds' `YYYY-MM-DD HH:MM:SS` in UTC (None when the call never got there);
    durations are whole seconds.
    """
    agent = center.agents.get(row.agent_id) if row.agent_id else None
    queue = center.queues.get(row.queue_id) if row.queue_id else None
    data = dict(row.data)
    if agent is not None:
        username: str | None = agent.email or agent.id
    else:  # unanswered click2call: its agent; else an agent no longer in the center
        username = row.agent_id or data.get("agent_username")
    answered = row.answered_at is not None and row.result == Result.ANSWERED.value
    return {
        "activecallkey": row.call_id,
        "callid": row.call_id,
        "direction": "inbound" if row.direction == Direction.INBOUND.value else "outbound",
        "calldate": format_date(row.created_at),
        "queuedate": format_date(row.queued_at),
        "talkdate": format_date(row.answered_at),
        "hangupdate": format_date(row.ended_at),
        "callerid": row.from_number,
        "called_num": row.to_number,
        "queue": ((queue.name or queue.id) if queue is not None else row.queue_id),
        "queuekey": row.queue_id,
        "agent": username,
        "agentid": row.agent_id,
        "answeredby": username if answered else None,
        "queued": row.queued_at is not None,
        "assigned": row.offered_at is not None,
        "answered": answered,
        "abandon": row.result in _ABANDONED,
        "transferred": len(row.legs) > 1 or row.result == Result.TRANSFERRED_EXTERNAL.value,
        "voicemail": row.result == Result.VOICEMAIL.value,
        "localrelease": row.disconnected_by == "agent",
        "hold": row.hold_s > 0,
        "holdduration": round(row.hold_s),
        "waitduration": round(row.wait_s),
        "duration": round(row.talk_s),
        "disposition": dial_status(row_to_call_record(row)),
        "recordingurl": row.recording_url,
        "transaction_id": data.get("transaction_id"),
        "agent_disposition": row.disposition,
        "agent_notes": row.notes,
        "ivr_path": list(row.ivr_path),
        "keys": row.keys,
    }
