"""Issue 2, point 6: the agent selection strategy of a queue."""

from __future__ import annotations

from collections import Counter

import pytest
from engine_harness import Harness, cancelled_offers, center, connect, of_type, offered_agents

from helpline.core import commands as cmd
from helpline.core.model import Agent, GroupTier, Queue, Strategy
from helpline.core.states import AgentActivity, CallState
from helpline.core.timers import TimerKind

AGENTS = ("a1", "a2", "a3")


def harness(strategy: Strategy | None = None, *, seed: int = 0, **options: object) -> Harness:
    """a1, a2, a3 in group g1 (in that order), all online; q1 uses `strategy`."""
    if strategy is not None:
        options["strategy"] = strategy
    h = Harness(center(AGENTS, **options), seed=seed)
    h.online(*AGENTS)
    return h


def serve(h: Harness, call_id: str, at: float, talk_s: float = 1.0) -> str:
    """A call arrives, rings one agent, who answers at once and hangs up after `talk_s`."""
    out = h.arrive(call_id, at=at)
    [agent_id] = offered_agents(out, call_id)
    h.answer(call_id, agent_id)
    h.hangup(call_id, at=at + talk_s)
    return agent_id


# -- a history that tells the strategies apart -----------------------------------------------------

# (agent, answered at, ended at), each served while the others are on break:
#   a3: 2 calls, 40 s of talk, idle since 41    (longest idle)
#   a1: 1 call, 100 s of talk, idle since 150   (fewest calls; first in agent order)
#   a2: 3 calls, 3 s of talk, idle since 165    (least talk time; best proficiency)
HISTORY = [
    ("a3", 0.0, 20.0),
    ("a3", 21.0, 41.0),
    ("a1", 50.0, 150.0),
    ("a2", 160.0, 161.0),
    ("a2", 162.0, 163.0),
    ("a2", 164.0, 165.0),
]
PROFICIENCY = {"a1": 2, "a2": 5, "a3": 1}


def with_history(strategy: Strategy | None) -> Harness:
    agents = [Agent(id=a, skills={"billing": PROFICIENCY[a]}) for a in AGENTS]
    options: dict[str, object] = {"required_skills": {"billing": 1}}
    if strategy is not None:
        options["strategy"] = strategy
    h = Harness(center(agents, **options))
    h.online(*AGENTS)
    for agent_id in AGENTS:
        h.status(agent_id, "BREAK")
    for n, (agent_id, start, end) in enumerate(HISTORY):
        h.status(agent_id, "AVAILABLE", at=start)
        connect(h, f"h{n}", agent_id)
        h.status(agent_id, "BREAK")
        h.hangup(f"h{n}", at=end)
    for agent_id in AGENTS:
        h.status(agent_id, "AVAILABLE", at=190.0)
    return h


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        pytest.param(None, ["a3"], id="default-is-longest-idle"),
        pytest.param(Strategy.LONGEST_IDLE, ["a3"], id="longest-idle"),
        pytest.param(Strategy.FEWEST_CALLS, ["a1"], id="fewest-calls"),
        pytest.param(Strategy.LEAST_TALK_TIME, ["a2"], id="least-talk-time"),
        pytest.param(Strategy.LINEAR, ["a1"], id="linear"),
        pytest.param(Strategy.BEST_PROFICIENCY, ["a2"], id="best-proficiency"),
        pytest.param(Strategy.ROUND_ROBIN, ["a3"], id="round-robin-least-recently-offered"),
        pytest.param(Strategy.RING_ALL, ["a1", "a2", "a3"], id="ring-all"),
    ],
)
def test_strategy_picks_from_the_same_history(
    strategy: Strategy | None, expected: list[str]
) -> None:
    h = with_history(strategy)
    out = h.arrive("probe", at=200.0)
    assert sorted(offered_agents(out, "probe")) == expected
    decision = h.call("probe").decisions[-1]
    assert decision.rule == (strategy or Strategy.LONGEST_IDLE).value
    assert sorted(decision.chosen) == expected


# -- cycles and orders -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        pytest.param(Strategy.ROUND_ROBIN, ["a1", "a2", "a3", "a1", "a2", "a3", "a1"], id="rr"),
        pytest.param(Strategy.LINEAR, ["a1"] * 7, id="linear"),
        pytest.param(Strategy.LONGEST_IDLE, ["a1", "a2", "a3", "a1", "a2", "a3", "a1"], id="li"),
        pytest.param(Strategy.FEWEST_CALLS, ["a1", "a2", "a3", "a1", "a2", "a3", "a1"], id="fc"),
    ],
)
def test_one_call_at_a_time(strategy: Strategy, expected: list[str]) -> None:
    h = harness(strategy)
    picks = [serve(h, f"c{i}", at=10.0 * i) for i in range(len(expected))]
    assert picks == expected


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        pytest.param(Strategy.ROUND_ROBIN, ["a1", "a2", "a3"], id="round-robin"),
        pytest.param(Strategy.LONGEST_IDLE, ["a3", "a2", "a1"], id="longest-idle"),
        pytest.param(Strategy.LINEAR, ["a1", "a2", "a3"], id="linear"),
    ],
)
def test_after_calls_end_in_reverse_order(strategy: Strategy, expected: list[str]) -> None:
    """c1..c3 go to a1..a3 and end in the order a3, a2, a1; then c4..c6 arrive together."""
    h = harness(strategy)
    for i, agent_id in enumerate(AGENTS, start=1):
        connect(h, f"c{i}", agent_id, at=float(i))
    for t, call_id in ((10.0, "c3"), (20.0, "c2"), (30.0, "c1")):
        h.hangup(call_id, at=t)
    picks = []
    for i in (4, 5, 6):
        [agent_id] = offered_agents(h.arrive(f"c{i}", at=40.0))
        h.answer(f"c{i}", agent_id)
        picks.append(agent_id)
    assert picks == expected


def test_linear_follows_the_group_order() -> None:
    h = Harness(center(AGENTS, groups={"g1": ["a3", "a1", "a2"]}, strategy=Strategy.LINEAR))
    h.online(*AGENTS)
    assert serve(h, "c0", at=0.0) == "a3"
    picks = []
    for i in (1, 2, 3):
        [agent_id] = offered_agents(h.arrive(f"c{i}", at=10.0))
        picks.append(agent_id)
        h.answer(f"c{i}", agent_id)
    assert picks == ["a3", "a1", "a2"]


def test_linear_follows_the_tier_order_of_the_groups() -> None:
    queue = Queue(
        id="q1",
        strategy=Strategy.LINEAR,
        groups=(GroupTier(group="g2"), GroupTier(group="g1")),
    )
    h = Harness(center(AGENTS, groups={"g1": ["a1"], "g2": ["a3", "a2"]}, queues=[queue]))
    h.online(*AGENTS)
    picks = [offered_agents(h.arrive(f"c{i}", at=1.0))[0] for i in (1, 2, 3)]
    assert picks == ["a3", "a2", "a1"]


# -- fewest calls and least talk time ------------------------------------------------------------


def test_fewest_calls_counts_answered_calls() -> None:
    h = harness(Strategy.FEWEST_CALLS)
    h.status("a3", "BREAK")
    assert serve(h, "c1", at=0.0) == "a1"
    assert serve(h, "c2", at=10.0) == "a2"
    assert serve(h, "c3", at=20.0) == "a1"
    h.status("a3", "AVAILABLE", at=30.0)
    assert serve(h, "c4", at=40.0) == "a3"  # 0 calls, though idle for less long than a2
    assert serve(h, "c5", at=50.0) == "a2"  # 1 call
    assert serve(h, "c6", at=60.0) == "a3"  # 1 call, tie with a2: a3 idle longer


def test_least_talk_time_sums_talk() -> None:
    h = harness(Strategy.LEAST_TALK_TIME)
    assert serve(h, "c1", at=0.0, talk_s=60.0) == "a1"
    assert serve(h, "c2", at=100.0, talk_s=10.0) == "a2"
    assert serve(h, "c3", at=200.0, talk_s=30.0) == "a3"
    assert serve(h, "c4", at=300.0, talk_s=10.0) == "a2"  # 10 s so far
    assert serve(h, "c5", at=400.0, talk_s=10.0) == "a2"  # 20 s, still under a3's 30 s
    assert serve(h, "c6", at=500.0) == "a3"  # 30 s each: a3 has been idle longer
    engine = h.engine
    assert [engine.agents[a].talk_time for a in AGENTS] == [60.0, 30.0, 31.0]


# -- random ----------------------------------------------------------------------------------------


def random_picks(seed: int, calls: int) -> list[str]:
    h = harness(Strategy.RANDOM, seed=seed)
    return [serve(h, f"c{i}", at=10.0 * i) for i in range(calls)]


def test_random_is_deterministic_given_the_seed() -> None:
    assert random_picks(7, 30) == random_picks(7, 30)
    assert random_picks(7, 30) != random_picks(8, 30)


def test_random_spreads_over_the_agents() -> None:
    counts = Counter(random_picks(11, 90))
    assert set(counts) == set(AGENTS)
    assert min(counts.values()) >= 15


def test_random_picks_only_eligible_agents() -> None:
    h = harness(Strategy.RANDOM, seed=3)
    h.status("a2", "BREAK")
    picks = {serve(h, f"c{i}", at=10.0 * i) for i in range(20)}
    assert picks == {"a1", "a3"}


# -- ring all --------------------------------------------------------------------------------------


def test_ring_all_rings_every_eligible_agent() -> None:
    h = harness(Strategy.RING_ALL)
    h.status("a3", "BREAK")
    out = h.arrive("c1", at=1.0)
    assert sorted(offered_agents(out)) == ["a1", "a2"]
    assert h.due(TimerKind.OFFER, "c1") == [16.0]  # one answer timeout for all
    assert {h.activity(a) for a in ("a1", "a2")} == {AgentActivity.RESERVED}


def test_ring_all_first_answer_wins() -> None:
    h = harness(Strategy.RING_ALL)
    h.arrive("c1", at=1.0)
    out = h.answer("c1", "a2", at=3.0)
    assert of_type(out, cmd.Bridge) == [cmd.Bridge(call_id="c1", agent_id="a2")]
    assert sorted(cancelled_offers(out)) == [("c1", "a1"), ("c1", "a3")]
    assert [h.activity(a) for a in AGENTS] == [
        AgentActivity.IDLE,
        AgentActivity.ON_CALL,
        AgentActivity.IDLE,
    ]
    out = h.answer("c1", "a1", at=3.1)  # too late
    assert of_type(out, cmd.CancelOffer) == [cmd.CancelOffer(call_id="c1", agent_id="a1")]
    assert h.call("c1").agent_id == "a2"
    assert h.activity("a1") is AgentActivity.IDLE


def test_ring_all_skips_busy_agents() -> None:
    h = harness(Strategy.RING_ALL)
    h.arrive("c1")
    h.answer("c1", "a1")
    out = h.arrive("c2", at=1.0)
    assert sorted(offered_agents(out)) == ["a2", "a3"]


def test_ring_all_keeps_ringing_the_others_when_one_rejects() -> None:
    h = harness(Strategy.RING_ALL)
    h.arrive("c1")
    out = h.reject("c1", "a1", at=2.0)
    assert offered_agents(out) == []
    assert sorted(h.call("c1").offered_to) == ["a2", "a3"]
    assert h.state("c1") is CallState.OFFERING


def test_ring_all_withdraws_only_the_agent_who_became_ineligible() -> None:
    h = harness(Strategy.RING_ALL)
    h.arrive("c1")
    out = h.status("a2", "BREAK", at=2.0)
    assert cancelled_offers(out) == [("c1", "a2")]
    assert sorted(h.call("c1").offered_to) == ["a1", "a3"]
    assert h.due(TimerKind.OFFER, "c1") == [15.0]  # the others ring on
    out = h.offline("a1", "a3", at=3.0)
    assert sorted(cancelled_offers(out)) == [("c1", "a1"), ("c1", "a3")]
    assert h.state("c1") is CallState.QUEUED
    assert h.due(TimerKind.OFFER, "c1") == []


def test_ring_all_rings_everyone_again_after_the_timeout() -> None:
    h = harness(Strategy.RING_ALL)
    h.arrive("c1")
    out = h.fire_next(TimerKind.OFFER, "c1")
    assert sorted(cancelled_offers(out)) == [("c1", "a1"), ("c1", "a2"), ("c1", "a3")]
    assert sorted(offered_agents(out, "c1")) == ["a1", "a2", "a3"]  # missed by all: again
    assert [h.engine.agents[a].missed_in_row for a in AGENTS] == [0, 0, 0]


# -- best proficiency -----------------------------------------------------------------------------


def proficient(skills: dict[str, dict[str, int]], required: dict[str, int]) -> Harness:
    agents = [Agent(id=a, skills=skills[a]) for a in AGENTS]
    h = Harness(center(agents, strategy=Strategy.BEST_PROFICIENCY, required_skills=required))
    h.online(*AGENTS)
    return h


def test_best_proficiency_prefers_the_highest_level_then_the_next() -> None:
    h = proficient(
        {"a1": {"billing": 2}, "a2": {"billing": 5}, "a3": {"billing": 3}}, {"billing": 1}
    )
    picks = []
    for i in (1, 2, 3):
        [agent_id] = offered_agents(h.arrive(f"c{i}", at=1.0))
        h.answer(f"c{i}", agent_id)
        picks.append(agent_id)
    assert picks == ["a2", "a3", "a1"]


def test_best_proficiency_sums_the_required_skills_only() -> None:
    skills = {
        "a1": {"es": 5, "billing": 1},  # 6
        "a2": {"es": 2, "billing": 3, "fr": 10},  # 5: fr is not required
        "a3": {"es": 1, "billing": 1},  # 2
    }
    h = proficient(skills, {"es": 1, "billing": 1})
    assert offered_agents(h.arrive("c1")) == ["a1"]


def test_best_proficiency_tie_goes_to_the_longest_idle() -> None:
    h = proficient({"a1": {"x": 4}, "a2": {"x": 4}, "a3": {"x": 1}}, {"x": 1})
    connect(h, "c1", "a1")
    h.hangup("c1", at=5.0)
    assert offered_agents(h.arrive("c2", at=6.0)) == ["a2"]
