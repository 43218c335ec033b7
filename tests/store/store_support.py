"""What the store tests share: a clock that moves when told, full call records, and where
PostgreSQL is (`HELPLINE_TEST_POSTGRES_URL`).

A module of its own, not `conftest`: test modules may import it by name.
"""

from __future__ import annotations

from typing import Any

from helpline.core.records import (
    CallRecord,
    Candidate,
    Decision,
    Direction,
    Leg,
    Result,
    TierView,
)


class FakeClock:
    """Time as an input: starts at a fixed epoch and moves only when told."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_record(call_id: str, ended_at: float, **changes: Any) -> CallRecord:
    """A full answered inbound record: two legs (a transfer), one traced decision."""
    created = ended_at - 100.0
    values: dict[str, Any] = {
        "call_id": call_id,
        "direction": Direction.INBOUND,
        "from_number": "+15550001",
        "to_number": "100",
        "result": Result.ANSWERED,
        "disconnected_by": "customer",
        "end_reason": "hangup",
        "created_at": created,
        "queued_at": created + 10.0,
        "offered_at": created + 20.0,
        "answered_at": created + 25.5,
        "ended_at": ended_at,
        "wait_s": 15.5,
        "talk_s": 70.25,
        "hold_s": 4.25,
        "wrap_up_s": None,
        "queue_id": "q1",
        "agent_id": "a2",
        "ivr_tree": "main",
        "ivr_path": ("root", "sales"),
        "keys": "12",
        "priority": 2,
        "legs": (
            Leg(
                agent_id="a1",
                queue_id="q1",
                offered_at=created + 20.0,
                answered_at=created + 25.5,
                ended_at=created + 50.0,
                talk_s=24.5,
                hold_s=0.0,
            ),
            Leg(
                agent_id="a2",
                queue_id="q1",
                offered_at=created + 50.0,
                answered_at=created + 52.0,
                ended_at=ended_at,
                talk_s=45.75,
                hold_s=4.25,
            ),
        ),
        "decisions": (
            Decision(
                at=created + 20.0,
                queue_id="q1",
                rule="longest_idle",
                chosen=("a1",),
                tiers=(
                    TierView(
                        priority=1,
                        groups=("g1",),
                        open=True,
                        members=2,
                        eligible=1,
                        candidates=(
                            Candidate(agent_id="a1", verdict="chosen"),
                            Candidate(agent_id="a3", verdict="busy", detail="x"),
                        ),
                    ),
                ),
                note="first",
            ),
        ),
        "recorded": False,
        "data": {"crm": "42"},
    }
    values.update(changes)
    return CallRecord(**values)
