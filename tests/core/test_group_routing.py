"""Issue 2, points 4 and 5: group routing by tiers (seed 000 1d) with overflow over time,
skills with a proficiency, and agent eligibility (seed 000 Step 3b), mid-offer included."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from engine_harness import Harness, cancelled_offers, center, connect, of_type, offered_agents

from helpline.core import commands as cmd
from helpline.core.events import AgentReachChanged
from helpline.core.model import Agent, GroupTier, Queue, RoutingType, Strategy
from helpline.core.states import AgentActivity, CallState
from helpline.core.timers import TimerKind

PHONE = "+15554444"


def tiered(*tier_list: GroupTier, groups: dict[str, list[str]] | None = None) -> Harness:
    """Agents a1..a4; by default group gN holds aN; q1 serves the given tiers."""
    groups = groups or {"g1": ["a1"], "g2": ["a2"], "g3": ["a3"], "g4": ["a4"]}
    return Harness(
        center(
            ["a1", "a2", "a3", "a4"],
            groups=groups,
            queues=[Queue(id="q1", groups=tier_list)],
        )
    )


# -- point 4: tiers by priority -------------------------------------------------------------------

# listed worst first on purpose: the priority number decides, not the order
THREE_TIERS = (
    GroupTier(group="g3", priority=3),
    GroupTier(group="g2", priority=2),
    GroupTier(group="g1", priority=1),
)


@pytest.mark.parametrize(
    ("online", "busy", "on_break", "expected"),
    [
        pytest.param(["a1", "a2", "a3"], [], [], ["a1"], id="best-tier-first"),
        pytest.param(["a2", "a3"], [], [], ["a2"], id="tier-1-offline"),
        pytest.param(["a1", "a2", "a3"], [], ["a1"], ["a2"], id="tier-1-on-break"),
        pytest.param(["a1", "a2", "a3"], ["a1"], [], ["a2"], id="tier-1-busy"),
        pytest.param(["a1", "a2", "a3"], ["a1", "a2"], [], ["a3"], id="tiers-1-2-busy"),
        pytest.param(["a3"], [], [], ["a3"], id="only-tier-3"),
        pytest.param(["a4"], [], [], [], id="agent-of-no-tier"),
        pytest.param([], [], [], [], id="nobody"),
    ],
)
def test_best_tier_with_an_eligible_agent_serves(
    online: list[str], busy: list[str], on_break: list[str], expected: list[str]
) -> None:
    h = tiered(*THREE_TIERS)
    h.online(*online)
    for i, agent_id in enumerate(busy):
        out = h.arrive(f"busy{i}")
        assert offered_agents(out) == [agent_id]  # also checks the tier order
        h.answer(f"busy{i}", agent_id)
    for agent_id in on_break:
        h.status(agent_id, "BREAK")
    out = h.arrive("c1", at=1.0)
    assert offered_agents(out, "c1") == expected
    assert h.state("c1") is (CallState.OFFERING if expected else CallState.QUEUED)


def test_better_agent_freed_takes_the_next_call() -> None:
    h = tiered(GroupTier(group="g1", priority=1), GroupTier(group="g2", priority=2))
    h.online("a1", "a2")
    connect(h, "c1", "a1")
    connect(h, "c2", "a2", at=1.0)  # a1 busy: the lower tier serves
    h.hangup("c1", at=5.0)
    out = h.arrive("c3", at=6.0)
    assert offered_agents(out) == ["a1"]


def test_groups_of_one_priority_form_one_tier() -> None:
    h = tiered(GroupTier(group="g1", priority=1), GroupTier(group="g2", priority=1))
    h.online("a2", at=0.0)
    h.online("a1", at=0.0)
    # a1 busy since 0, then free at 10: a2 has been idle longer and is in the same tier
    connect(h, "c1", "a1")
    h.hangup("c1", at=10.0)
    out = h.arrive("c2", at=11.0)
    assert offered_agents(out) == ["a2"]


def test_agent_in_several_tiers_counts_in_its_best_one() -> None:
    h = tiered(
        GroupTier(group="g1", priority=1),
        GroupTier(group="g2", priority=2),
        groups={"g1": ["a1"], "g2": ["a1", "a2"]},
    )
    best, lower = h.engine.queues["q1"].tiers
    assert set(best.members) == {"a1"}
    assert set(lower.members) == {"a2"}
    h.online("a1", "a2")
    out = h.arrive("c1")
    assert offered_agents(out) == ["a1"]
    [decision] = h.call("c1").decisions
    assert [(t.priority, t.members) for t in decision.tiers] == [(1, 1)]
    out = h.arrive("c2", at=1.0)  # a1 rings for c1: not offered c2 through the other tier
    assert offered_agents(out) == ["a2"]


# -- point 4: overflow over time ------------------------------------------------------------------

OVERFLOW = (GroupTier(group="g1", priority=1), GroupTier(group="g2", priority=2, after_wait_s=20))


def test_lower_tier_opens_only_after_the_wait() -> None:
    h = tiered(*OVERFLOW)
    h.online("a2")  # tier 1 has nobody: still, the call waits 20 s before tier 2
    out = h.arrive("c1", at=5.0)
    assert offered_agents(out) == []
    assert h.due(TimerKind.OVERFLOW, "c1") == [25.0]
    assert offered_agents(h.fire_due_timers(24.9)) == []
    assert h.state("c1") is CallState.QUEUED
    out = h.fire_due_timers(25.0)
    assert offered_agents(out) == ["a2"]
    decision = h.call("c1").decisions[-1]
    assert [(t.priority, t.open) for t in decision.tiers] == [(1, True), (2, True)]


def test_better_agent_freed_before_the_overflow_takes_the_call() -> None:
    h = tiered(*OVERFLOW)
    h.online("a1", "a2")
    connect(h, "c0", "a1")
    h.arrive("c1", at=1.0)
    out = h.hangup("c0", at=10.0)
    assert offered_agents(out, "c1") == ["a1"]
    h.answer("c1", "a1", at=11.0)
    assert h.due(TimerKind.OVERFLOW, "c1") == []
    assert offered_agents(h.fire_due_timers(60.0)) == []


def test_agent_joining_an_open_tier_serves_at_once() -> None:
    h = tiered(*OVERFLOW)
    h.arrive("c1", at=0.0)
    h.fire_due_timers(30.0)  # tier 2 opened at 20 s with nobody in it
    out = h.online("a2", at=40.0)
    assert offered_agents(out) == ["a2"]


def test_overflow_counts_each_calls_own_wait() -> None:
    h = tiered(*OVERFLOW, groups={"g1": ["a1"], "g2": ["a2", "a3"]})
    h.online("a2", "a3")
    h.arrive("c1", at=0.0)
    h.arrive("c2", at=10.0)
    out = h.fire_due_timers(25.0)
    assert [o.call_id for o in of_type(out, cmd.OfferCall)] == ["c1"]  # c2 waited 15 s only
    assert h.state("c2") is CallState.QUEUED
    out = h.fire_due_timers(30.0)
    assert [o.call_id for o in of_type(out, cmd.OfferCall)] == ["c2"]


# -- point 4: skills -------------------------------------------------------------------------------


def skilled(skills: dict[str, int], required: dict[str, int], **queue: object) -> Harness:
    agent = Agent(id="a1", skills=skills)
    return Harness(
        center(
            [agent],
            groups={},
            queues=[Queue(id="q1", required_skills=required, **queue)],  # type: ignore[arg-type]
        )
    )


@pytest.mark.parametrize(
    ("skills", "required", "eligible"),
    [
        pytest.param({"es": 5}, {"es": 3}, True, id="above-minimum"),
        pytest.param({"es": 3}, {"es": 3}, True, id="at-minimum"),
        pytest.param({"es": 2}, {"es": 3}, False, id="below-minimum"),
        pytest.param({"fr": 9}, {"es": 3}, False, id="other-skill"),
        pytest.param({"es": 0}, {"es": 0}, True, id="level-0-has-skill"),
        pytest.param({}, {"es": 0}, False, id="level-0-lacks-skill"),
        pytest.param({"es": 4, "billing": 2}, {"es": 3, "billing": 1}, True, id="all-of-two"),
        pytest.param({"es": 4}, {"es": 3, "billing": 1}, False, id="one-of-two"),
    ],
)
def test_required_skills_select_agents(
    skills: dict[str, int], required: dict[str, int], eligible: bool
) -> None:
    h = skilled(skills, required)
    h.online("a1")
    out = h.arrive("c1")
    assert offered_agents(out) == (["a1"] if eligible else [])


def test_required_skills_filter_group_members() -> None:
    agents = [Agent(id="a1", skills={"es": 1}), Agent(id="a2", skills={"es": 4})]
    h = Harness(
        center(
            agents,
            groups={"g1": ["a1", "a2"]},
            queues=[
                Queue(
                    id="q1",
                    groups=(GroupTier(group="g1"),),
                    required_skills={"es": 2},
                    strategy=Strategy.LINEAR,
                )
            ],
        )
    )
    h.online("a1", "a2")
    out = h.arrive("c1")
    assert offered_agents(out) == ["a2"]  # a1 comes first in order but lacks the level
    out = h.arrive("c2", at=1.0)
    assert offered_agents(out) == []


# -- point 5: eligibility (seed 000 Step 3b) -------------------------------------------------------

Setup = Callable[[Harness], None]


def do_nothing(h: Harness) -> None:
    pass


def go_online(h: Harness) -> None:
    h.online("a1")


def online_on_break(h: Harness) -> None:
    h.online("a1")
    h.status("a1", "BREAK")


def online_busy(h: Harness) -> None:
    h.online("a1")
    connect(h, "c0", "a1")


def online_in_wrap_up(h: Harness) -> None:
    online_busy(h)
    h.hangup("c0")


APP = Agent(id="a1")
APP_WITH_PHONE = Agent(id="a1", phone_number=PHONE)
PHONE_AGENT = Agent(id="a1", routing_type=RoutingType.PHONE, phone_number=PHONE)
PHONE_WITHOUT_NUMBER = Agent(id="a1", routing_type=RoutingType.PHONE)


@pytest.mark.parametrize(
    ("agent", "setup", "eligible"),
    [
        pytest.param(APP, go_online, True, id="app-available-online"),
        pytest.param(APP, do_nothing, False, id="app-offline"),
        pytest.param(APP_WITH_PHONE, do_nothing, False, id="app-offline-with-phone"),
        pytest.param(APP, online_on_break, False, id="not-available"),
        pytest.param(Agent(id="a1", manual_status="LUNCH"), go_online, False, id="config-status"),
        pytest.param(APP, online_busy, False, id="on-a-call"),
        pytest.param(APP, online_in_wrap_up, False, id="in-wrap-up"),
        pytest.param(PHONE_AGENT, do_nothing, True, id="phone-offline-with-number"),
        pytest.param(PHONE_AGENT, go_online, True, id="phone-online-with-number"),
        pytest.param(PHONE_WITHOUT_NUMBER, go_online, False, id="phone-without-number"),
    ],
)
def test_eligibility(agent: Agent, setup: Setup, eligible: bool) -> None:
    h = Harness(center([agent], agent_wrap_up_after_calls=True, wrap_up_time_limit=None))
    setup(h)
    out = h.arrive("c1", at=1.0)
    assert offered_agents(out) == (["a1"] if eligible else [])
    if eligible:
        [offer] = of_type(out, cmd.OfferCall)
        assert (offer.routing_type, offer.phone_number) == (agent.routing_type, agent.phone_number)


def back_available(h: Harness) -> list[cmd.Command]:
    return h.status("a1", "AVAILABLE", at=5.0)


def reach_by_phone(h: Harness) -> list[cmd.Command]:
    event = AgentReachChanged(agent_id="a1", phone_number=PHONE, routing_type=RoutingType.PHONE)
    return h.send(event, at=5.0)


def end_the_call(h: Harness) -> list[cmd.Command]:
    return h.hangup("c0", at=5.0)


def come_online(h: Harness) -> list[cmd.Command]:
    return h.online("a1", at=5.0)


@pytest.mark.parametrize(
    ("setup", "change"),
    [
        pytest.param(online_on_break, back_available, id="status-available"),
        pytest.param(do_nothing, come_online, id="comes-online"),
        pytest.param(do_nothing, reach_by_phone, id="gets-a-phone-number"),
        pytest.param(online_busy, end_the_call, id="call-ends"),
    ],
)
def test_waiting_call_is_offered_the_moment_an_agent_becomes_eligible(
    setup: Setup, change: Callable[[Harness], list[cmd.Command]]
) -> None:
    h = Harness(center(["a1"]))
    setup(h)
    h.arrive("c1", at=1.0)
    assert h.state("c1") is CallState.QUEUED
    out = change(h)
    assert offered_agents(out, "c1") == ["a1"]


def test_going_offline_or_on_break_takes_the_agent_out() -> None:
    h = Harness(center(["a1"]))
    h.online("a1")
    h.offline("a1")
    assert offered_agents(h.arrive("c1")) == []
    assert offered_agents(h.online("a1", at=1.0)) == ["a1"]
    h.hangup("c1", at=2.0)
    h.status("a1", "BREAK", at=3.0)
    assert offered_agents(h.arrive("c2", at=4.0)) == []


# -- point 5: statuses change mid-offer ------------------------------------------------------------


def to_break(h: Harness) -> list[cmd.Command]:
    return h.status("a1", "BREAK", at=3.0)


def to_offline(h: Harness) -> list[cmd.Command]:
    return h.offline("a1", at=3.0)


def to_phone_without_number(h: Harness) -> list[cmd.Command]:
    event = AgentReachChanged(agent_id="a1", phone_number=None, routing_type=RoutingType.PHONE)
    return h.send(event, at=3.0)


Change = Callable[[Harness], list[cmd.Command]]
WITHDRAWING = [
    pytest.param(to_break, back_available, id="not-available"),
    pytest.param(to_offline, come_online, id="offline"),
    pytest.param(to_phone_without_number, reach_by_phone, id="unreachable"),
]


@pytest.mark.parametrize(("change", "restore"), WITHDRAWING)
def test_status_change_while_ringing_withdraws_and_moves_on(
    change: Change, restore: Change
) -> None:
    h = Harness(center(["a1", "a2"], strategy=Strategy.LINEAR))
    h.online("a1", "a2")
    assert offered_agents(h.arrive("c1", at=1.0)) == ["a1"]
    out = change(h)
    assert cancelled_offers(out) == [("c1", "a1")]
    assert offered_agents(out, "c1") == ["a2"]
    assert h.activity("a1") is AgentActivity.IDLE
    assert h.engine.agents["a1"].call_id is None
    assert h.engine.agents["a1"].missed_in_row == 0  # a withdrawal is not a missed offer
    assert h.call("c1").offered_to == ["a2"]
    assert offered_agents(restore(h)) == []  # eligible again, but c1 rings a2 now


@pytest.mark.parametrize(("change", "restore"), WITHDRAWING)
def test_status_change_while_ringing_the_only_agent_puts_the_call_back(
    change: Change, restore: Change
) -> None:
    h = Harness(center(["a1"], hold_music="jazz.mp3"))
    h.online("a1")
    h.arrive("c1", at=1.0)
    out = change(h)
    assert cancelled_offers(out) == [("c1", "a1")]
    assert offered_agents(out) == []
    assert h.state("c1") is CallState.QUEUED
    assert h.waiting() == {"c1"}
    assert [a.hold_music for a in of_type(out, cmd.PlayQueueAudio)] == ["jazz.mp3"]
    assert h.due(TimerKind.OFFER, "c1") == []
    out = restore(h)  # eligible again: rung again at once
    assert offered_agents(out, "c1") == ["a1"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda h: h.status("a1", "AVAILABLE", at=3.0), id="still-available"),
        pytest.param(
            lambda h: h.send(
                AgentReachChanged(agent_id="a1", phone_number=PHONE, routing_type=RoutingType.APP),
                at=3.0,
            ),
            id="still-reachable",
        ),
    ],
)
def test_change_that_keeps_the_agent_eligible_keeps_the_offer(change: Change) -> None:
    h = Harness(center(["a1", "a2"]))
    h.online("a1", "a2")
    h.arrive("c1", at=1.0)
    out = change(h)
    assert of_type(out, cmd.CancelOffer) == []
    assert h.call("c1").offered_to == ["a1"]
    h.answer("c1", "a1", at=4.0)
    assert h.state("c1") is CallState.CONNECTED


def test_not_available_during_a_call_keeps_the_call_and_stops_new_offers() -> None:
    h = Harness(center(["a1"]))
    h.online("a1")
    connect(h, "c1", "a1")
    out = h.status("a1", "BREAK", at=2.0)
    assert of_type(out, cmd.CancelOffer) == []
    assert h.state("c1") is CallState.CONNECTED
    h.arrive("c2", at=3.0)
    out = h.hangup("c1", at=10.0)
    assert offered_agents(out) == []
    assert h.activity("a1") is AgentActivity.IDLE
    assert h.state("c2") is CallState.QUEUED
