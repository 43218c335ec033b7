"""Issue 2, points 7 and 8: offers (answer timeout, reject, re-offer to a single agent, missed
offers in a row, stale answers; seed 000 Step 6) and wrap-up after calls."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from engine_harness import Harness, cancelled_offers, center, connect, of_type, offered_agents

from helpline.core import commands as cmd
from helpline.core.errors import Conflict, NotFound
from helpline.core.events import Party, TimerFired, WrapUpEnded
from helpline.core.model import AVAILABLE, Settings, Strategy
from helpline.core.states import AgentActivity, CallState
from helpline.core.timers import TimerKind


def linear(*agents: str, settings: Settings | None = None, **options: object) -> Harness:
    """The agents, online, serve q1 in this order (linear); answer timeout 15 s by default."""
    h = Harness(center(agents, strategy=Strategy.LINEAR, settings=settings, **options))
    h.online(*agents)
    return h


def time_out(h: Harness, call_id: str) -> list[cmd.Command]:
    return h.fire_next(TimerKind.OFFER, call_id)


def reject(h: Harness, call_id: str) -> list[cmd.Command]:
    [agent_id] = h.call(call_id).offered_to
    return h.reject(call_id, agent_id, at=h.now + 2)


Miss = Callable[[Harness, str], list[cmd.Command]]
MISSES = [pytest.param(time_out, id="timeout"), pytest.param(reject, id="reject")]


# -- point 7: the offer moves on -------------------------------------------------------------------


@pytest.mark.parametrize("miss", MISSES)
def test_missed_offer_moves_to_the_next_agent(miss: Miss) -> None:
    h = linear("a1", "a2")
    out = h.arrive("c1", at=1.0)
    [offer] = of_type(out, cmd.OfferCall)
    assert (offer.agent_id, offer.timeout_s, offer.queue_id) == ("a1", 15.0, "q1")
    assert h.due(TimerKind.OFFER, "c1") == [16.0]
    out = miss(h, "c1")
    # a timeout withdraws the ringing offer; a reject needs no withdrawal
    assert cancelled_offers(out) == ([("c1", "a1")] if miss is time_out else [])
    assert offered_agents(out, "c1") == ["a2"]
    assert h.due(TimerKind.OFFER, "c1") == [h.now + 15.0]  # a fresh answer timeout, only one
    assert h.activity("a1") is AgentActivity.IDLE
    assert h.call("c1").offered_to == ["a2"]
    assert offered_agents(h.arrive("c2", at=h.now)) == ["a1"]  # missing c1 is about c1 only


@pytest.mark.parametrize("timeout", [7.0, 30.0])
def test_offer_rings_for_the_queues_answer_timeout(timeout: float) -> None:
    h = linear("a1", "a2", wait_agent_answer_timeout=timeout)
    out = h.arrive("c1", at=2.0)
    assert [o.timeout_s for o in of_type(out, cmd.OfferCall)] == [timeout]
    assert offered_agents(h.fire_due_timers(2.0 + timeout - 0.1)) == []
    assert offered_agents(h.fire_due_timers(2.0 + timeout)) == ["a2"]


def test_offer_goes_round_every_agent_then_starts_over() -> None:
    h = linear("a1", "a2", "a3")
    offered = offered_agents(h.arrive("c1"))
    for _ in range(4):
        offered += offered_agents(time_out(h, "c1"))
    assert offered == ["a1", "a2", "a3", "a1", "a2"]
    [*_, decision] = h.call("c1").decisions
    assert decision.chosen == ("a2",)


@pytest.mark.parametrize("miss", MISSES)
def test_single_agent_is_offered_the_call_again(miss: Miss) -> None:
    h = linear("a1", settings=Settings(max_missed_offers=0))
    h.arrive("c1")
    out = miss(h, "c1")
    assert offered_agents(out, "c1") == ["a1"]
    assert h.state("c1") is CallState.OFFERING
    assert "missed the call" in h.call("c1").decisions[-1].note
    h.answer("c1", "a1", at=h.now + 1)
    assert h.state("c1") is CallState.CONNECTED


def test_busy_agent_is_skipped_and_the_free_one_rung_again() -> None:
    h = linear("a1", "a2", settings=Settings(max_missed_offers=0))
    connect(h, "c0", "a1")
    assert offered_agents(h.arrive("c1", at=1.0)) == ["a2"]  # a1 comes first but is busy
    assert offered_agents(time_out(h, "c1")) == ["a2"]  # missed by every free agent: again
    assert offered_agents(h.reject("c1", "a2", at=20.0)) == ["a2"]
    out = h.hangup("c0", at=22.0)  # a1 is free, but c1 rings a2: nothing to offer
    assert offered_agents(out) == []
    assert h.call("c1").offered_to == ["a2"]
    assert offered_agents(h.reject("c1", "a2", at=23.0)) == ["a1"]  # a1 has not missed it


# -- point 7: missed offers in a row ---------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_missed_offers_in_a_row_set_the_agent_not_ready(limit: int) -> None:
    h = linear("a1", settings=Settings(max_missed_offers=limit))
    h.arrive("c1")
    for _ in range(limit - 1):
        time_out(h, "c1")
        assert h.engine.agents["a1"].manual_status == AVAILABLE
    out = time_out(h, "c1")
    agent = h.engine.agents["a1"]
    assert (agent.manual_status, agent.reason) == ("NOT_AVAILABLE", "missed_offers")
    published = [s for s in of_type(out, cmd.AgentStateChanged) if s.agent_id == "a1"][-1]
    assert (published.manual_status, published.reason) == ("NOT_AVAILABLE", "missed_offers")
    assert offered_agents(out) == []  # nobody else: the call waits
    assert h.state("c1") is CallState.QUEUED
    assert h.due(TimerKind.OFFER) == []


def test_missed_status_is_configurable() -> None:
    h = linear("a1", settings=Settings(max_missed_offers=1, missed_status="AWAY"))
    h.arrive("c1")
    time_out(h, "c1")
    assert h.engine.agents["a1"].manual_status == "AWAY"


def test_missed_offers_count_across_calls() -> None:
    h = linear("a1", "a2", settings=Settings(max_missed_offers=2))
    h.arrive("c1")
    assert offered_agents(time_out(h, "c1")) == ["a2"]
    h.answer("c1", "a2")
    h.arrive("c2", at=20.0)
    out = time_out(h, "c2")
    assert h.engine.agents["a1"].manual_status == "NOT_AVAILABLE"
    assert offered_agents(out) == []  # a2 is busy with c1


def test_answer_resets_the_count() -> None:
    h = linear("a1", settings=Settings(max_missed_offers=3))
    h.arrive("c1")
    time_out(h, "c1")
    time_out(h, "c1")
    h.answer("c1", "a1", at=h.now + 1)
    assert h.engine.agents["a1"].missed_in_row == 0
    h.hangup("c1", at=h.now + 10)
    h.arrive("c2", at=h.now + 1)
    time_out(h, "c2")
    time_out(h, "c2")
    agent = h.engine.agents["a1"]
    assert (agent.manual_status, agent.missed_in_row) == (AVAILABLE, 2)


def test_setting_available_again_resets_the_count_and_serves() -> None:
    h = linear("a1", settings=Settings(max_missed_offers=2))
    h.arrive("c1")
    time_out(h, "c1")
    time_out(h, "c1")
    out = h.status("a1", AVAILABLE, at=h.now + 5)
    assert offered_agents(out, "c1") == ["a1"]
    time_out(h, "c1")
    assert h.engine.agents["a1"].manual_status == AVAILABLE  # one miss since


@pytest.mark.parametrize(
    ("limit", "strategy"),
    [
        pytest.param(0, Strategy.LINEAR, id="limit-0-never"),
        pytest.param(1, Strategy.RING_ALL, id="ring-all-timeouts-do-not-count"),
    ],
)
def test_misses_that_do_not_set_not_ready(limit: int, strategy: Strategy) -> None:
    h = Harness(center(["a1", "a2"], strategy=strategy, settings=Settings(max_missed_offers=limit)))
    h.online("a1", "a2")
    h.arrive("c1")
    for _ in range(6):
        time_out(h, "c1")
    assert [h.engine.agents[a].manual_status for a in ("a1", "a2")] == [AVAILABLE, AVAILABLE]


def test_rejects_do_not_count_as_missed() -> None:
    h = linear("a1", settings=Settings(max_missed_offers=1))
    h.arrive("c1")
    for _ in range(3):
        out = reject(h, "c1")
        assert offered_agents(out) == ["a1"]
    assert h.engine.agents["a1"].manual_status == AVAILABLE


# -- point 7: answers that come too late ----------------------------------------------------------


def withdraw_by_timeout(h: Harness) -> None:
    time_out(h, "c1")


def withdraw_by_status(h: Harness) -> None:
    h.status("a1", "BREAK", at=3.0)


def withdraw_by_caller(h: Harness) -> None:
    h.hangup("c1", at=3.0)


@pytest.mark.parametrize(
    "withdraw",
    [
        pytest.param(withdraw_by_timeout, id="after-timeout"),
        pytest.param(withdraw_by_status, id="after-status-change"),
        pytest.param(withdraw_by_caller, id="after-caller-left"),
    ],
)
def test_stale_answer_gets_cancel_offer(withdraw: Callable[[Harness], None]) -> None:
    h = linear("a1", "a2")
    h.arrive("c1", at=1.0)
    withdraw(h)
    state_before = h.state("c1")
    out = h.answer("c1", "a1", at=h.now + 0.5)
    assert out == [cmd.CancelOffer(call_id="c1", agent_id="a1")]
    assert h.state("c1") is state_before
    assert h.activity("a1") is AgentActivity.IDLE
    assert h.engine.agents["a1"].call_id is None


def test_stale_answer_leaves_the_agents_new_offer_alone() -> None:
    h = linear("a1", "a2")
    h.arrive("c1", at=1.0)
    time_out(h, "c1")  # c1 now rings a2
    h.arrive("c2", at=17.0)  # and c2 rings a1
    out = h.answer("c1", "a1", at=17.5)
    assert out == [cmd.CancelOffer(call_id="c1", agent_id="a1")]
    assert h.call("c2").offered_to == ["a1"]
    assert h.engine.agents["a1"].call_id == "c2"
    h.answer("c2", "a1", at=18.0)
    assert h.state("c2") is CallState.CONNECTED


def test_offer_timer_of_an_answered_call_is_ignored() -> None:
    h = linear("a1", "a2")
    out = h.arrive("c1", at=1.0)
    [start] = [c for c in of_type(out, cmd.StartTimer) if c.timer.kind is TimerKind.OFFER]
    h.answer("c1", "a1", at=2.0)
    assert start.timer not in h.timers  # cancelled on answer
    assert h.send(TimerFired(timer=start.timer), at=16.0) == []  # a racing driver fires it
    assert h.state("c1") is CallState.CONNECTED


def test_stale_reject_is_ignored() -> None:
    h = linear("a1", "a2")
    h.arrive("c1", at=1.0)
    time_out(h, "c1")
    assert h.reject("c1", "a1", at=17.0) == []
    assert h.call("c1").offered_to == ["a2"]


# -- point 8: wrap-up ------------------------------------------------------------------------------


def wrapping(limit: float | None = 30.0, *agents: str) -> Harness:
    h = Harness(
        center(
            agents or ("a1",),
            strategy=Strategy.LINEAR,
            agent_wrap_up_after_calls=True,
            wrap_up_time_limit=limit,
        )
    )
    h.online(*(agents or ("a1",)))
    connect(h, "c1", "a1")
    return h


@pytest.mark.parametrize(
    ("after_calls", "limit", "activity", "wrap_up_s"),
    [
        pytest.param(False, 30.0, AgentActivity.IDLE, 0.0, id="off"),
        pytest.param(True, 0.0, AgentActivity.IDLE, 0.0, id="zero-limit"),
        pytest.param(True, 30.0, AgentActivity.WRAP_UP, None, id="timed"),
        pytest.param(True, None, AgentActivity.WRAP_UP, None, id="until-agent-ends"),
    ],
)
def test_wrap_up_after_a_call(
    after_calls: bool, limit: float | None, activity: AgentActivity, wrap_up_s: float | None
) -> None:
    h = Harness(center(["a1"], agent_wrap_up_after_calls=after_calls, wrap_up_time_limit=limit))
    h.online("a1")
    connect(h, "c1", "a1")
    out = h.hangup("c1", at=10.0)
    assert h.activity("a1") is activity
    assert h.record("c1").wrap_up_s == wrap_up_s
    wraps_up = activity is AgentActivity.WRAP_UP
    assert h.due(TimerKind.WRAP_UP) == ([40.0] if wraps_up and limit else [])
    assert of_type(out, cmd.AmendCallRecord) == []
    published = [s.activity for s in of_type(out, cmd.AgentStateChanged)]
    assert published[-1] == activity.value


@pytest.mark.parametrize("party", [Party.CUSTOMER, Party.AGENT])
def test_no_offer_during_wrap_up_until_the_timer(party: Party) -> None:
    h = wrapping(30.0)
    h.hangup("c1", party, at=10.0)
    assert offered_agents(h.arrive("c2", at=15.0)) == []
    assert offered_agents(h.fire_due_timers(39.9)) == []
    assert h.activity("a1") is AgentActivity.WRAP_UP
    out = h.fire_due_timers(40.0)
    assert of_type(out, cmd.AmendCallRecord) == [
        cmd.AmendCallRecord(
            call_id="c1", agent_id="a1", wrap_up_s=30.0, disposition=None, notes=None
        )
    ]
    assert offered_agents(out, "c2") == ["a1"]


def test_agent_ends_wrap_up_with_disposition_and_notes() -> None:
    h = wrapping(30.0)
    h.hangup("c1", at=10.0)
    h.arrive("c2", at=12.0)
    event = WrapUpEnded(agent_id="a1", disposition="sale", notes="wants a callback")
    out = h.send(event, at=22.5)
    assert of_type(out, cmd.AmendCallRecord) == [
        cmd.AmendCallRecord(
            call_id="c1",
            agent_id="a1",
            wrap_up_s=12.5,
            disposition="sale",
            notes="wants a callback",
        )
    ]
    assert [c.timer.kind for c in of_type(out, cmd.CancelTimer)] == [TimerKind.WRAP_UP]
    assert offered_agents(out, "c2") == ["a1"]
    assert of_type(h.fire_due_timers(100.0), cmd.AmendCallRecord) == []  # the timer is gone
    assert len(h.amendments) == 1


def test_wrap_up_without_limit_lasts_until_the_agent_ends_it() -> None:
    h = wrapping(None)
    h.hangup("c1", at=10.0)
    h.arrive("c2", at=11.0)
    h.fire_due_timers(10_000.0)
    assert h.activity("a1") is AgentActivity.WRAP_UP
    assert h.state("c2") is CallState.QUEUED
    out = h.send(WrapUpEnded(agent_id="a1"), at=10_010.0)
    [amend] = of_type(out, cmd.AmendCallRecord)
    assert amend.wrap_up_s == 10_000.0
    assert offered_agents(out, "c2") == ["a1"]


def test_other_agents_serve_while_one_wraps_up() -> None:
    h = wrapping(30.0, "a1", "a2")
    h.hangup("c1", at=10.0)
    assert offered_agents(h.arrive("c2", at=11.0)) == ["a2"]  # a1 comes first but wraps up


def test_status_set_during_wrap_up_holds_after_it() -> None:
    h = wrapping(30.0)
    h.hangup("c1", at=10.0)
    h.status("a1", "BREAK", at=12.0)
    h.arrive("c2", at=13.0)
    out = h.fire_due_timers(40.0)
    assert len(of_type(out, cmd.AmendCallRecord)) == 1
    assert offered_agents(out) == []
    assert h.activity("a1") is AgentActivity.IDLE


def test_ending_wrap_up_when_not_in_wrap_up_is_a_conflict() -> None:
    h = wrapping(30.0)  # a1 is talking on c1
    with pytest.raises(Conflict):
        h.send(WrapUpEnded(agent_id="a1", disposition="x"), at=5.0)
    assert h.activity("a1") is AgentActivity.ON_CALL
    assert h.amendments == []
    with pytest.raises(NotFound):
        h.send(WrapUpEnded(agent_id="nobody"), at=5.0)
