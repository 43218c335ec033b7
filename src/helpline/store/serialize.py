"""Call records between the engine's dataclasses, table rows and JSON-ready dicts."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from helpline.core.plain import plain
from helpline.core.records import (
    CallRecord,
    Candidate,
    Decision,
    Direction,
    Leg,
    Result,
    TierView,
)
from helpline.store.models import CallRecordRow, LiveCall

# what a record row holds beyond `CallRecord`: added after the call (wrap-up, recording)
EXTRA_FIELDS = ("disposition", "notes", "recording_url", "voicemail_url")
RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(CallRecord))

SYSTEM_RESTART = "system_restart"


def record_values(tenant_id: str, record: CallRecord) -> dict[str, Any]:
    """The column values of a record's row (JSON columns as lists and dicts)."""
    values: dict[str, Any] = {name: plain(getattr(record, name)) for name in RECORD_FIELDS}
    values["tenant_id"] = tenant_id
    values["data"] = dict(record.data)
    return values


def record_to_dict(row: CallRecordRow) -> dict[str, Any]:
    """A stored record as the API shows it: every `CallRecord` field, then the extras.

    The same shape as `plain(record)` of the engine's record, plus `disposition`, `notes` and
    `recording_url`; no `tenant_id`.
    """
    out: dict[str, Any] = {name: getattr(row, name) for name in RECORD_FIELDS}
    out["ivr_path"] = list(row.ivr_path)
    out["legs"] = [dict(leg) for leg in row.legs]
    out["decisions"] = [dict(d) for d in row.decisions]
    out["data"] = dict(row.data)
    for name in EXTRA_FIELDS:
        out[name] = getattr(row, name)
    return out


def _decision(d: Mapping[str, Any]) -> Decision:
    tiers = tuple(
        TierView(
            priority=t["priority"],
            groups=tuple(t["groups"]),
            open=t["open"],
            members=t["members"],
            eligible=t["eligible"],
            candidates=tuple(Candidate(**c) for c in t.get("candidates", ())),
        )
        for t in d.get("tiers", ())
    )
    return Decision(
        at=d["at"],
        queue_id=d["queue_id"],
        rule=d["rule"],
        chosen=tuple(d["chosen"]),
        tiers=tiers,
        note=d.get("note", ""),
    )


def row_to_call_record(row: CallRecordRow) -> CallRecord:
    """The engine's `CallRecord` back from its row (the extras are left out)."""
    values: dict[str, Any] = {name: getattr(row, name) for name in RECORD_FIELDS}
    values["direction"] = Direction(row.direction)
    values["result"] = Result(row.result)
    values["ivr_path"] = tuple(row.ivr_path)
    values["legs"] = tuple(Leg(**leg) for leg in row.legs)
    values["decisions"] = tuple(_decision(d) for d in row.decisions)
    values["data"] = {str(k): str(v) for k, v in row.data.items()}
    return CallRecord(**values)


def _text(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return value if isinstance(value, str) else default


def _opt_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _opt_time(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def live_call_record(live: LiveCall, now: float) -> CallRecord:
    """The record of a call that was live when the server stopped (issue 4, point 11).

    It failed, the system disconnected it, for `system_restart`, at `now` (the restart: the
    real end is unknown). What the live call's `data` knows (`direction`, `from_number`,
    `to_number`, `queue_id`, `agent_id`, `ivr_tree`, `ivr_path`, `keys`, `priority`,
    `queued_at`, `offered_at`, `answered_at`, `data`) is carried over.
    """
    d = live.data
    ended_at = max(now, live.started_at)
    queued_at = _opt_time(d, "queued_at")
    offered_at = _opt_time(d, "offered_at")
    answered_at = _opt_time(d, "answered_at")
    agent_id = _opt_text(d, "agent_id")
    queue_id = _opt_text(d, "queue_id")
    wait_s = max(0.0, (answered_at or ended_at) - queued_at) if queued_at is not None else 0.0
    talk_s = max(0.0, ended_at - answered_at) if answered_at is not None else 0.0
    legs: tuple[Leg, ...] = ()
    if answered_at is not None:
        legs = (
            Leg(
                agent_id=agent_id,
                queue_id=queue_id,
                offered_at=offered_at,
                answered_at=answered_at,
                ended_at=ended_at,
                talk_s=talk_s,
                hold_s=0.0,
            ),
        )
    direction = _text(d, "direction", Direction.INBOUND.value)
    ivr_path = d.get("ivr_path")
    priority = d.get("priority")
    extra = d.get("data")
    return CallRecord(
        call_id=live.call_id,
        direction=Direction(direction) if direction in set(Direction) else Direction.INBOUND,
        from_number=_text(d, "from_number"),
        to_number=_text(d, "to_number"),
        result=Result.FAILED,
        disconnected_by="system",
        end_reason=SYSTEM_RESTART,
        created_at=live.started_at,
        queued_at=queued_at,
        offered_at=offered_at,
        answered_at=answered_at,
        ended_at=ended_at,
        wait_s=wait_s,
        talk_s=talk_s,
        hold_s=0.0,
        wrap_up_s=None,
        queue_id=queue_id,
        agent_id=agent_id,
        ivr_tree=_opt_text(d, "ivr_tree"),
        ivr_path=tuple(str(p) for p in ivr_path) if isinstance(ivr_path, list) else (),
        keys=_text(d, "keys"),
        priority=priority if isinstance(priority, int) and not isinstance(priority, bool) else 0,
        legs=legs,
        data={str(k): str(v) for k, v in extra.items()} if isinstance(extra, dict) else {},
    )
