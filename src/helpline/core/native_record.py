"""A `CallRecord` built by the compiled engine (hatch_build.py): its fields written straight
into the native object, where the frozen dataclass's `__init__` is generated Python that sets
each of the 26 fields through `object.__setattr__` (issue 3: that was 40,000 of the 150,000
CPU instructions of a simulated caller, compiled).

Only for the compiled build: interpreted, the frozen dataclass refuses these writes (and
`records.new_record` fills the instance's dict at once instead). The writes are the
dataclass's own fields, in order; tests/core/test_records.py checks, field for field, that
the engine's records equal the dataclass-built ones.
"""

# mypy: disable-error-code="misc"
# (misc: "property is read-only", the frozen dataclass's fields, written once here)

from __future__ import annotations

from typing import Any, Final

from helpline.core.records import CallRecord

_native_new: Final = CallRecord.__new__


def native_record(fields: dict[str, Any]) -> CallRecord:
    """`CallRecord(**fields)` for the compiled engine: every field, defaults included."""
    record: CallRecord = _native_new(CallRecord)
    record.call_id = fields["call_id"]
    record.direction = fields["direction"]
    record.from_number = fields["from_number"]
    record.to_number = fields["to_number"]
    record.result = fields["result"]
    record.disconnected_by = fields["disconnected_by"]
    record.end_reason = fields["end_reason"]
    record.created_at = fields["created_at"]
    record.queued_at = fields["queued_at"]
    record.offered_at = fields["offered_at"]
    record.answered_at = fields["answered_at"]
    record.ended_at = fields["ended_at"]
    record.wait_s = fields["wait_s"]
    record.talk_s = fields["talk_s"]
    record.hold_s = fields["hold_s"]
    record.wrap_up_s = fields["wrap_up_s"]
    record.queue_id = fields["queue_id"]
    record.agent_id = fields["agent_id"]
    record.ivr_tree = fields["ivr_tree"]
    record.ivr_path = fields["ivr_path"]
    record.keys = fields["keys"]
    record.priority = fields["priority"]
    record.legs = fields["legs"]
    record.decisions = fields["decisions"]
    record.recorded = fields["recorded"]
    record.data = fields["data"]
    return record
