"""Call records: exactly one per call, written when the call ends (issue 2, point 11).

A record keeps every leg (each agent the call was connected to, transfers included), the
IVR path and keys, the timestamps, the durations and the routing decisions that placed it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from helpline.core.plain import freeze_interpreted


class Direction(StrEnum):
    INBOUND = "inbound"
    CALLOUT = "callout"  # seed 000 Step 4 method 2
    CALLBACK = "callback"  # seed 004 Callback Call API


class Result(StrEnum):
    ANSWERED = "answered"
    ABANDONED_IN_IVR = "abandoned_in_ivr"  # the caller hung up in the IVR
    ABANDONED_IN_QUEUE = "abandoned_in_queue"  # hung up while waiting or ringing an agent
    ENDED_IN_IVR = "ended_in_ivr"  # the IVR itself hung up (a hang-up key or default)
    NO_AGENT = "no_agent"  # a queue fallback hung up (full, waited too long)
    FAILED = "failed"  # could not be completed (unknown number, customer not reached, ...)
    TRANSFERRED_EXTERNAL = "transferred_external"
    VOICEMAIL = "voicemail"
    CALLBACK_REQUESTED = "callback_requested"  # left the line; a callback call took its place


@dataclass(init=False, unsafe_hash=True)
class Leg:
    """One connection of the customer to an agent (or an outside number).

    Built for every answered call, as fast as the commands every call produces (see
    `helpline.core.commands`).
    """

    agent_id: Final[str | None]
    queue_id: Final[str | None]
    offered_at: Final[float | None]
    answered_at: Final[float | None]
    ended_at: Final[float | None]
    talk_s: Final[float]
    hold_s: Final[float]
    external_number: Final[str | None]

    def __init__(  # noqa: PLR0917 (the engine builds a leg positionally, in field order)
        self,
        agent_id: str | None,
        queue_id: str | None,
        offered_at: float | None,
        answered_at: float | None,
        ended_at: float | None,
        talk_s: float,
        hold_s: float,
        external_number: str | None = None,
    ) -> None:
        self.agent_id = agent_id
        self.queue_id = queue_id
        self.offered_at = offered_at
        self.answered_at = answered_at
        self.ended_at = ended_at
        self.talk_s = talk_s
        self.hold_s = hold_s
        self.external_number = external_number


freeze_interpreted(Leg)


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One agent examined by a routing decision, and what became of it."""

    agent_id: str
    verdict: str  # "chosen", "busy", "not_available", "offline", "no_phone", "missed", ...
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TierView:
    """What a routing decision saw of one priority tier of a queue."""

    priority: int
    groups: tuple[str, ...]
    open: bool  # False while the call has not waited the tier's `after_wait_s`
    members: int
    eligible: int
    candidates: tuple[Candidate, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Why a call went to whom (issue 2, point 12): every assignment keeps one."""

    at: float
    queue_id: str | None
    rule: str  # the strategy, "router_list", "transfer_to_agent"
    chosen: tuple[str, ...]  # one agent, or every agent rung for ring all
    tiers: tuple[TierView, ...] = ()
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class CallRecord:
    """The one record of a call. Frozen, but without slots: the engine writes one per call
    through `new_record`, which fills the instance's dict at once, where a frozen dataclass's
    `__init__` sets each of the 26 fields through `object.__setattr__` (issue 3: that was
    about 5% of a simulated caller). Compiled (hatch_build.py) it is a native class without a
    dict, and `native_record` writes its fields straight into the object instead."""

    call_id: str
    direction: Direction
    from_number: str
    to_number: str
    result: Result
    disconnected_by: str  # customer, agent, system
    end_reason: str
    created_at: float
    queued_at: float | None
    offered_at: float | None
    answered_at: float | None
    ended_at: float
    wait_s: float  # in queue, until answered or the end
    talk_s: float
    hold_s: float
    wrap_up_s: float | None  # None while the agent is still in wrap-up (see AmendCallRecord)
    queue_id: str | None
    agent_id: str | None  # the agent of the last leg that answered
    ivr_tree: str | None
    ivr_path: tuple[str, ...]
    keys: str
    priority: int
    legs: tuple[Leg, ...]
    decisions: tuple[Decision, ...] = ()
    recorded: bool = False
    data: dict[str, str] = field(default_factory=dict)


_new_object: Final = object.__new__
# Compiled by mypyc (hatch_build.py), `CallRecord` is a native class with no `__dict__` to
# fill: the engine builds its records with `native_record.native_record` then.
COMPILED: Final = "__dict__" not in dir(CallRecord)  # no instance dict: a native class


def new_record(fields: dict[str, Any]) -> CallRecord:
    """`CallRecord(**fields)` for a caller that gives every field (defaults included): the
    same frozen record, built in one dict update (tests/core/test_records.py checks that the
    engine's records equal the dataclass-built ones, field for field). A dict, not keywords:
    a call with 26 keywords packs them into a dict of its own first (0.7 us a record).
    Interpreted builds only: compiled, `CallRecord` has no instance dict (see `COMPILED`)."""
    record: CallRecord = _new_object(CallRecord)
    record.__dict__.update(fields)
    return record
