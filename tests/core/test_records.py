"""Issue 2, point 11 (one call record per call, with its fields) and point 12 (decision traces)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from helpers_outbound import Driver, build_center, of, one

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.base import EngineOptions
from helpline.core.model import (
    Action,
    ActionKind,
    Fallback,
    FallbackKind,
    GroupTier,
    IvrNode,
    IvrTree,
    Prompt,
    Queue,
    Settings,
    Strategy,
)
from helpline.core.records import CallRecord, Candidate, Decision, Result
from helpline.core.states import AgentActivity
from helpline.core.timers import TimerKind

IVR_NUMBER = "200"
HELLO = Prompt(text="Hello")

TREE = IvrTree(
    id="t1",
    root="main",
    nodes={
        "main": IvrNode(
            id="main",
            prompt=HELLO,
            timeout_s=5.0,
            keys={
                "1": Action(kind=ActionKind.QUEUE, target="q1"),
                "2": Action(kind=ActionKind.HANGUP),
                "3": Action(kind=ActionKind.EXTERNAL, target="+19995550000"),
                "4": Action(kind=ActionKind.VOICEMAIL, target="mb1"),
                "5": Action(kind=ActionKind.CALLBACK, target="q1"),
                "6": Action(kind=ActionKind.QUEUE, target="q-small"),
                "9": Action(kind=ActionKind.NODE, target="sub"),
            },
        ),
        "sub": IvrNode(
            id="sub",
            prompt=Prompt(text="Sales"),
            keys={"1": Action(kind=ActionKind.QUEUE, target="q1", priority=2)},
        ),
    },
)


def records_driver(**q1_fields: Any) -> Driver:
    """Number 100 -> q1 (group g1: a1); number 200 -> IVR t1; q-small times out at 60 s."""
    q1_fields.setdefault("groups", (GroupTier(group="g1"),))
    center = build_center(
        agents=("a1",),
        ivr_numbers={IVR_NUMBER: "t1"},
        ivr_trees=[TREE],
        queues=[
            Queue(id="q1", **q1_fields),
            Queue(
                id="q-small",
                groups=(GroupTier(group="g1"),),
                max_wait_s=60.0,
                on_max_wait=Fallback(kind=FallbackKind.HANGUP),
            ),
        ],
    )
    return Driver(center)


# -- point 11: exactly one record, whatever the ending ------------------------------------------


@dataclass(frozen=True)
class Expected:
    result: Result
    by: str
    reason: str
    queue_id: str | None = None
    agent_id: str | None = None
    ivr_path: tuple[str, ...] = ()
    keys: str = ""
    queued_at: float | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    ended_at: float = 0.0
    wait_s: float = 0.0
    talk_s: float = 0.0
    hold_s: float = 0.0
    legs: int = 0
    created_at: float = 0.0


def answered(d: Driver) -> None:
    d.arrive("c1", at=0.0)  # nobody online: it waits
    d.online("a1", at=10.0)
    d.answer("c1", "a1", at=12.0)
    d.send(ev.HoldRequested(call_id="c1"), at=20.0)
    d.send(ev.ResumeRequested(call_id="c1"), at=25.0)
    d.hangup("c1", ev.Party.AGENT, at=40.0)


def abandoned_in_ivr(d: Driver) -> None:
    d.arrive("c1", IVR_NUMBER, at=0.0)
    d.press("c1", "9", at=2.0)
    d.hangup("c1", at=5.0)


def ended_in_ivr(d: Driver) -> None:
    d.arrive("c1", IVR_NUMBER, at=0.0)
    d.press("c1", "2", at=3.0)


def abandoned_in_queue(d: Driver) -> None:
    d.arrive("c1", IVR_NUMBER, at=0.0)
    d.press("c1", "1", at=3.0)
    d.hangup("c1", at=30.0)


def abandoned_ringing(d: Driver) -> None:
    d.online("a1", at=0.0)
    d.arrive("c1", at=1.0)
    d.hangup("c1", at=4.0)


def no_agent(d: Driver) -> None:
    d.arrive("c1", IVR_NUMBER, at=0.0)
    d.press("c1", "6", at=1.0)
    d.run_until(100.0)


def failed_unknown_number(d: Driver) -> None:
    d.arrive("c1", "999", at=7.0)


def ended_by_the_system_in_queue(d: Driver) -> None:
    d.arrive("c1", at=0.0)
    d.hangup("c1", ev.Party.SYSTEM, at=8.0)


def transferred_external_from_ivr(d: Driver) -> None:
    d.arrive("c1", IVR_NUMBER, at=0.0)
    d.press("c1", "3", at=2.0)
    d.hangup("c1", at=50.0)


def voicemail(d: Driver) -> None:
    d.arrive("c1", IVR_NUMBER, at=0.0)
    d.press("c1", "4", at=2.0)
    d.hangup("c1", at=32.0)


def callback_requested(d: Driver) -> None:
    d.arrive("c1", IVR_NUMBER, at=0.0)
    d.press("c1", "5", at=2.0)


def ivr_timeouts_then_default(d: Driver) -> None:
    d.arrive("c1", IVR_NUMBER, at=0.0)
    d.run_until(60.0)  # no key: replayed twice, then the default (hang up)


SCENARIOS: list[Any] = [
    pytest.param(
        answered,
        Expected(
            Result.ANSWERED,
            "agent",
            "agent_hangup",
            queue_id="q1",
            agent_id="a1",
            queued_at=0.0,
            offered_at=10.0,
            answered_at=12.0,
            ended_at=40.0,
            wait_s=12.0,
            talk_s=23.0,
            hold_s=5.0,
            legs=1,
        ),
        id="answered",
    ),
    pytest.param(
        abandoned_in_ivr,
        Expected(
            Result.ABANDONED_IN_IVR,
            "customer",
            "customer_hangup",
            ivr_path=("main", "sub"),
            keys="9",
            ended_at=5.0,
        ),
        id="abandoned_in_ivr",
    ),
    pytest.param(
        ended_in_ivr,
        Expected(
            Result.ENDED_IN_IVR, "system", "ivr_hangup", ivr_path=("main",), keys="2", ended_at=3.0
        ),
        id="ended_in_ivr",
    ),
    pytest.param(
        abandoned_in_queue,
        Expected(
            Result.ABANDONED_IN_QUEUE,
            "customer",
            "customer_hangup",
            queue_id="q1",
            ivr_path=("main",),
            keys="1",
            queued_at=3.0,
            ended_at=30.0,
            wait_s=27.0,
        ),
        id="abandoned_in_queue",
    ),
    pytest.param(
        abandoned_ringing,
        Expected(
            Result.ABANDONED_IN_QUEUE,
            "customer",
            "customer_hangup",
            queue_id="q1",
            queued_at=1.0,
            offered_at=1.0,
            ended_at=4.0,
            wait_s=3.0,
            created_at=1.0,
        ),
        id="abandoned_while_ringing",
    ),
    pytest.param(
        no_agent,
        Expected(
            Result.NO_AGENT,
            "system",
            "max_wait",
            queue_id="q-small",
            ivr_path=("main",),
            keys="6",
            queued_at=1.0,
            ended_at=61.0,
            wait_s=60.0,
        ),
        id="no_agent",
    ),
    pytest.param(
        failed_unknown_number,
        Expected(Result.FAILED, "system", "unknown_number", ended_at=7.0, created_at=7.0),
        id="failed_unknown_number",
    ),
    pytest.param(
        ended_by_the_system_in_queue,
        Expected(
            Result.FAILED,
            "system",
            "system_hangup",
            queue_id="q1",
            queued_at=0.0,
            ended_at=8.0,
            wait_s=8.0,
        ),
        id="ended_by_the_system_in_queue",
    ),
    pytest.param(
        transferred_external_from_ivr,
        Expected(
            Result.TRANSFERRED_EXTERNAL,
            "customer",
            "customer_hangup",
            ivr_path=("main",),
            keys="3",
            ended_at=50.0,
            legs=1,
        ),
        id="transferred_external",
    ),
    pytest.param(
        voicemail,
        Expected(
            Result.VOICEMAIL,
            "customer",
            "customer_hangup",
            ivr_path=("main",),
            keys="4",
            ended_at=32.0,
        ),
        id="voicemail",
    ),
    pytest.param(
        callback_requested,
        Expected(
            Result.CALLBACK_REQUESTED,
            "system",
            "callback_requested",
            ivr_path=("main",),
            keys="5",
            ended_at=2.0,
        ),
        id="callback_requested",
    ),
    pytest.param(
        ivr_timeouts_then_default,
        Expected(Result.ENDED_IN_IVR, "system", "ivr_hangup", ivr_path=("main",), ended_at=15.0),
        id="ivr_no_input",
    ),
]


@pytest.mark.parametrize(("scenario", "expected"), SCENARIOS)
def test_every_call_ends_with_exactly_one_record(
    scenario: Callable[[Driver], None], expected: Expected
) -> None:
    d = records_driver()
    scenario(d)
    assert "c1" not in d.engine.calls
    record = d.record("c1")
    got = Expected(
        record.result,
        record.disconnected_by,
        record.end_reason,
        queue_id=record.queue_id,
        agent_id=record.agent_id,
        ivr_path=record.ivr_path,
        keys=record.keys,
        queued_at=record.queued_at,
        offered_at=record.offered_at,
        answered_at=record.answered_at,
        ended_at=record.ended_at,
        wait_s=record.wait_s,
        talk_s=record.talk_s,
        hold_s=record.hold_s,
        legs=len(record.legs),
        created_at=record.created_at,
    )
    assert got == expected
    assert record.from_number == "+15550001"
    # the telephony may report the end twice, or late: still one record
    d.hangup("c1", at=d.now + 1.0)
    d.hangup("c1", ev.Party.AGENT, at=d.now + 1.0)
    d.record("c1")


@pytest.mark.parametrize(("scenario", "expected"), SCENARIOS)
def test_the_engines_record_is_the_dataclass_built_record(
    scenario: Callable[[Driver], None], expected: Expected
) -> None:
    # the engine builds records with `new_record` (one dict update), or `native_record` when
    # compiled (writes into the native object): every field, nothing else
    d = records_driver()
    scenario(d)
    record = d.record("c1")
    values = {f.name: getattr(record, f.name) for f in dataclasses.fields(CallRecord)}
    assert CallRecord(**values) == record
    assert getattr(record, "__dict__", values).keys() == values.keys()  # compiled: no dict
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.wait_s = 1.0  # type: ignore[misc]


def test_record_numbers_and_ids() -> None:
    d = records_driver()
    d.arrive("call-xyz", IVR_NUMBER, from_number="+84986776777", at=0.0)
    d.hangup("call-xyz", at=1.0)
    record = d.record("call-xyz")
    assert (record.call_id, record.from_number, record.to_number) == (
        "call-xyz",
        "+84986776777",
        IVR_NUMBER,
    )
    assert record.ivr_tree == "t1"


def test_the_callback_that_replaces_a_caller_ends_with_its_own_record() -> None:
    d = records_driver()
    callback_requested(d)
    original = d.record("c1")
    callback_id = original.data["callback_call_id"]
    callback = d.call(callback_id)
    assert callback.data["origin_call_id"] == "c1"
    assert callback.customer_number == "+15550001"
    d.online("a1", at=10.0)
    d.answer(callback_id, "a1", at=11.0)
    d.send(ev.CustomerAnswered(call_id=callback_id), at=15.0)
    d.hangup(callback_id, at=45.0)
    record = d.record(callback_id)
    assert (record.result, record.agent_id, record.talk_s) == (Result.ANSWERED, "a1", 30.0)


def test_priority_from_the_ivr_is_on_the_record() -> None:
    d = records_driver()
    d.arrive("c1", IVR_NUMBER, at=0.0)
    d.press("c1", "9", at=1.0)
    d.press("c1", "1", at=2.0)
    d.hangup("c1", at=3.0)
    record = d.record("c1")
    assert (record.priority, record.keys, record.ivr_path) == (2, "91", ("main", "sub"))


def test_wrap_up_is_pending_on_the_record_then_amended() -> None:
    d = records_driver(agent_wrap_up_after_calls=True, wrap_up_time_limit=30.0)
    d.online("a1", at=0.0)
    d.arrive("c1", at=0.0)
    d.answer("c1", "a1", at=1.0)
    d.hangup("c1", at=21.0)
    assert d.record("c1").wrap_up_s is None
    assert d.engine.agents["a1"].activity is AgentActivity.WRAP_UP
    out = d.send(ev.WrapUpEnded(agent_id="a1", disposition="sold", notes="ok"), at=33.0)
    assert one(out, cmd.AmendCallRecord) == cmd.AmendCallRecord(
        call_id="c1", agent_id="a1", wrap_up_s=12.0, disposition="sold", notes="ok"
    )
    assert len(d.records) == 1


def test_wrap_up_ended_by_its_timer_amends_the_record_with_the_limit() -> None:
    d = records_driver(agent_wrap_up_after_calls=True, wrap_up_time_limit=30.0)
    d.online("a1", at=0.0)
    d.arrive("c1", at=0.0)
    d.answer("c1", "a1", at=1.0)
    d.hangup("c1", at=21.0)
    out = d.fire(TimerKind.WRAP_UP, "a1")
    amend = one(out, cmd.AmendCallRecord)
    assert (amend.call_id, amend.wrap_up_s) == ("c1", 30.0)


def test_no_wrap_up_records_zero() -> None:
    d = records_driver()
    d.online("a1")
    d.arrive("c1")
    d.answer("c1", "a1")
    d.hangup("c1")
    assert d.record("c1").wrap_up_s == 0.0
    assert of(d.log, cmd.AmendCallRecord) == []


# -- point 12: decision traces -------------------------------------------------------------------


def trace_driver(**fields: Any) -> Driver:
    """q1 (linear) over g1 = a1..a5. a4 takes c0 first; a2 stays offline; a3 is at lunch."""
    fields.setdefault("strategy", Strategy.LINEAR)
    d = Driver(build_center(agents=("a1", "a2", "a3", "a4", "a5"), **fields))
    d.online("a4")
    d.arrive("c0")
    d.answer("c0", "a4")
    d.online("a1", "a3", "a5")
    d.status("a3", "LUNCH")
    return d


def candidates(decision: Decision, tier: int = 0) -> dict[str, str]:
    return {c.agent_id: c.verdict for c in decision.tiers[tier].candidates}


def test_a_decision_names_the_rule_the_winner_and_why_each_other_agent_lost() -> None:
    d = trace_driver()
    d.arrive("c1", at=5.0)
    (decision,) = d.call("c1").decisions
    assert (decision.rule, decision.chosen, decision.queue_id, decision.at) == (
        "linear",
        ("a1",),
        "q1",
        5.0,
    )
    tier = decision.tiers[0]
    assert (tier.priority, tier.groups, tier.open, tier.members, tier.eligible) == (
        1,
        ("g1",),
        True,
        5,
        2,  # a1 and a5
    )
    assert candidates(decision) == {
        "a1": "chosen",
        "a2": "offline",
        "a3": "not_available",
        "a4": "busy",
        "a5": "ranked_below",
    }


@pytest.mark.parametrize(
    "strategy", [Strategy.LONGEST_IDLE, Strategy.FEWEST_CALLS, Strategy.ROUND_ROBIN]
)
def test_the_rule_is_the_queues_strategy(strategy: Strategy) -> None:
    d = trace_driver(strategy=strategy)
    d.arrive("c1")
    (decision,) = d.call("c1").decisions
    assert decision.rule == strategy.value
    assert len(decision.chosen) == 1


def test_ring_all_chooses_every_eligible_agent() -> None:
    d = trace_driver(strategy=Strategy.RING_ALL)
    out = d.arrive("c1")
    (decision,) = d.call("c1").decisions
    assert decision.rule == "ring_all"
    assert sorted(decision.chosen) == ["a1", "a5"]
    assert sorted(o.agent_id for o in of(out, cmd.OfferCall)) == ["a1", "a5"]


def test_an_agent_who_missed_the_call_is_traced_as_missed() -> None:
    d = trace_driver()
    d.arrive("c1")
    d.reject("c1", "a1")
    _, second = d.call("c1").decisions
    assert second.chosen == ("a5",)
    assert candidates(second)["a1"] == "missed"
    assert candidates(second)["a5"] == "chosen"


def test_a_ringing_agent_is_traced_as_ringing() -> None:
    d = trace_driver()
    d.arrive("c1")  # rings a1
    d.arrive("c2")  # goes to a5
    assert candidates(d.call("c2").decisions[0])["a1"] == "ringing"


def test_a_tier_not_yet_open_is_traced_as_closed() -> None:
    center = build_center(
        agents=("a1", "a2", "a3"),
        groups={"g1": ["a1"], "g2": ["a2"], "g3": ["a3"]},
        queues=[
            Queue(
                id="q1",
                groups=(
                    GroupTier(group="g1", priority=1),
                    GroupTier(group="g2", priority=2, after_wait_s=30.0),
                    GroupTier(group="g3", priority=3),
                ),
            )
        ],
    )
    d = Driver(center)
    d.online("a2", "a3")
    d.arrive("c1", at=0.0)
    (decision,) = d.call("c1").decisions
    assert decision.chosen == ("a3",)
    assert [(t.priority, t.open) for t in decision.tiers] == [(1, True), (2, False), (3, True)]
    assert candidates(decision, 0) == {"a1": "offline"}
    assert candidates(decision, 1) == {"a2": "tier_closed"}
    assert decision.tiers[1].candidates[0].detail == "opens after 30 s of waiting"


def test_a_large_pool_does_not_list_every_member() -> None:
    agents = tuple(f"a{i:02d}" for i in range(12))
    d = Driver(
        build_center(
            agents=agents, strategy=Strategy.LINEAR, settings=Settings(trace_detail_limit=5)
        )
    )
    d.online(*agents)
    d.arrive("c1")
    d.reject("c1", "a00")
    decision = d.call("c1").decisions[-1]
    tier = decision.tiers[0]
    assert (tier.members, tier.eligible) == (12, 12)
    assert {c.agent_id: c.verdict for c in tier.candidates} == {"a01": "chosen", "a00": "missed"}


def test_a_pool_at_the_limit_lists_every_member() -> None:
    agents = tuple(f"a{i}" for i in range(5))
    d = Driver(build_center(agents=agents, settings=Settings(trace_detail_limit=5)))
    d.online(*agents)
    d.arrive("c1")
    assert len(d.call("c1").decisions[0].tiers[0].candidates) == 5


def test_the_record_keeps_every_decision() -> None:
    d = trace_driver()
    d.arrive("c1")
    d.reject("c1", "a1")
    d.answer("c1", "a5")
    d.hangup("c1")
    record = d.record("c1")
    assert [x.chosen for x in record.decisions] == [("a1",), ("a5",)]
    assert record.decisions[0].tiers[0].candidates[0] == Candidate(agent_id="a1", verdict="chosen")


def test_traces_can_be_turned_off() -> None:
    center = build_center(agents=("a1",))
    d = Driver(center, options=EngineOptions(trace=False))
    d.online("a1")
    d.arrive("c1")
    d.answer("c1", "a1")
    d.hangup("c1")
    record: CallRecord = d.record("c1")
    assert record.decisions == ()
    assert record.agent_id == "a1"
