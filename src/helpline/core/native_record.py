"""A `CallRecord` built by the compiled engine (hatch_build.py): its fields written straight
into the native object, where the frozen dataclass's `__init__` is generated Python that sets
each of the 26 fields through `object.__setattr__` (issue 3: that was 40,000 of the 150,000
CPU instructions of a simulated caller, compiled).

Only for the compiled build: interpreted, the frozen dataclass refuses these writes (and
`call_end` fills the instance's dict at once through `records.new_record` instead, from the
same values). It reads the call itself, where a dict of the fields would cost a dict build
and 26 lookups a record. The writes are the dataclass's own fields, in order;
tests/core/test_records.py checks, field for field, that the engine's records equal the
dataclass-built ones, and tests/test_compiled_build.py that both builds simulate alike.
"""

# mypy: disable-error-code="misc"
# (misc: "property is read-only", the frozen dataclass's fields, written once here)

from __future__ import annotations

from typing import Final

from helpline.core.calls import Call
from helpline.core.records import CallRecord, Result

_native_new: Final = CallRecord.__new__


def native_record(  # noqa: PLR0917 (the record's values that do not come from the call)
    call: Call,
    result: Result,
    by: str,
    reason: str,
    ended_at: float,
    wrap_up_s: float | None,
    agent_id: str | None,
    recorded: bool,
) -> CallRecord:
    """The record of `call` for the compiled engine: what `CallEndLayer._record` gives
    `new_record` as a dict, written field by field."""
    record: CallRecord = _native_new(CallRecord)
    record.call_id = call.id
    record.direction = call.direction
    record.from_number = call.from_number
    record.to_number = call.to_number
    record.result = result
    record.disconnected_by = by
    record.end_reason = reason
    record.created_at = call.created_at
    record.queued_at = call.queued_at
    record.offered_at = call.offered_at
    record.answered_at = call.answered_at
    record.ended_at = ended_at
    record.wait_s = call.wait_total
    record.talk_s = call.talk_total
    record.hold_s = call.hold_total
    record.wrap_up_s = wrap_up_s
    record.queue_id = call.queue_id
    record.agent_id = agent_id
    record.ivr_tree = call.ivr_tree
    record.ivr_path = call.ivr_path
    record.keys = call.keys
    record.priority = call.priority
    record.legs = tuple(call.legs)
    record.decisions = call.decisions
    record.recorded = recorded
    record.data = dict(call.data)
    return record
