"""Issue 2, point 13: estimated wait from live state (the QL, HOL and LES estimators)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers_outbound import Driver, build_center, one

from helpline.core import commands as cmd
from helpline.core.errors import NotFound
from helpline.core.estimators import DEFAULT_BUSY_S, ql_wait
from helpline.core.model import Fallback, FallbackKind, Prompt

# -- the QL formula ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ahead", "servers", "mu", "theta", "expected"),
    [
        (0, 1, 1 / 60, 0.0, 60.0),  # nobody ahead, one agent: one service time
        (4, 2, 1 / 60, 0.0, 150.0),  # (n + 1) / (s * mu)
        (9, 10, 1 / 100, 0.0, 100.0),
        (0, 1, 1.0, 1.0, 1.0),  # k = 0: nobody ahead can abandon
        (1, 1, 1.0, 1.0, 1.0 + 1 / 2),  # sum over k of 1 / (s*mu + k*theta)
        (2, 2, 0.5, 0.5, 1.0 + 1 / 1.5 + 1 / 2),
        (3, 1, 1 / 180, 1 / 60, sum(1 / (1 / 180 + k / 60) for k in range(4))),
    ],
    ids=["single", "no_abandon", "ten_agents", "abandon_first", "abandon_1", "abandon_2", "mixed"],
)
def test_ql_wait_values(ahead: int, servers: int, mu: float, theta: float, expected: float) -> None:
    assert ql_wait(ahead, servers, mu, theta) == pytest.approx(expected)


@pytest.mark.parametrize(("servers", "mu"), [(0, 1.0), (-1, 1.0), (3, 0.0)])
def test_ql_wait_is_none_when_nobody_serves(servers: int, mu: float) -> None:
    assert ql_wait(5, servers, mu, 0.1) is None


def test_ql_wait_grows_with_the_line_and_shrinks_with_agents_and_abandonment() -> None:
    by_line = [ql_wait(n, 2, 0.01, 0.0) for n in range(6)]
    assert by_line == sorted(by_line) and len(set(by_line)) == 6
    assert ql_wait(5, 3, 0.01, 0.0) < ql_wait(5, 2, 0.01, 0.0)  # type: ignore[operator]
    assert ql_wait(5, 2, 0.01, 0.005) < ql_wait(5, 2, 0.01, 0.0)  # type: ignore[operator]


# -- the engine's estimate -----------------------------------------------------------------------


def busy_driver(**queue_fields: object) -> Driver:
    """q1 over g1 (a1, a2, a3), all offline; a1 then takes c0 and stays on it."""
    d = Driver(build_center(agents=("a1", "a2", "a3"), **queue_fields))
    d.online("a1", at=0.0)
    d.arrive("c0", at=0.0)
    d.answer("c0", "a1", at=0.0)
    return d


def test_unknown_queue_is_not_found() -> None:
    d = Driver(build_center())
    with pytest.raises(NotFound):
        d.engine.estimated_wait("nope")


def test_zero_when_an_eligible_agent_is_idle() -> None:
    d = Driver(build_center(agents=("a1", "a2")))
    d.online("a2")
    estimate = d.engine.estimated_wait("q1")
    assert (estimate.ql_s, estimate.hol_s, estimate.waiting, estimate.staffed) == (0.0, 0.0, 0, 1)


def test_none_when_no_agent_is_staffed() -> None:
    d = Driver(build_center())
    d.arrive("c1")
    estimate = d.engine.estimated_wait("q1")
    assert (estimate.ql_s, estimate.staffed, estimate.waiting) == (None, 0, 1)


def test_ql_grows_with_the_queue_length() -> None:
    d = busy_driver()
    estimates = []
    for n in range(5):
        estimate = d.engine.estimated_wait("q1")
        assert estimate.waiting == n
        estimates.append(estimate.ql_s)
        d.arrive(f"c{n + 1}", at=1.0)
    # one busy agent, no history: (n + 1) default handle times
    assert estimates == pytest.approx([DEFAULT_BUSY_S * (n + 1) for n in range(5)])


def test_ql_learns_the_handle_time_including_wrap_up() -> None:
    d = busy_driver(agent_wrap_up_after_calls=True, wrap_up_time_limit=30.0)
    d.hangup("c0", at=60.0)  # busy from 0: 60 s of talk, then 30 s of wrap-up
    d.arrive("c1", at=61.0)  # waits: a1 is in wrap-up
    d.run_until(90.0)  # the wrap-up ends; c1 is offered to a1
    d.answer("c1", "a1", at=91.0)
    d.arrive("c2", at=92.0)
    assert d.engine.estimated_wait("q1").ql_s == pytest.approx(2 * 90.0)


def test_ql_counts_abandonment() -> None:
    d = busy_driver()
    d.arrive("c1", at=0.0)
    d.hangup("c1", at=100.0)  # theta = 1 abandonment / 100 s waited
    d.arrive("c2", at=100.0)
    d.arrive("c3", at=100.0)
    expected = ql_wait(2, 1, 1 / DEFAULT_BUSY_S, 1 / 100)
    assert d.engine.estimated_wait("q1").ql_s == pytest.approx(expected)
    assert expected is not None and expected < 3 * DEFAULT_BUSY_S


def test_hol_is_the_wait_of_the_head_of_the_line() -> None:
    d = busy_driver()
    d.arrive("c1", at=0.0)
    d.arrive("c2", at=10.0)
    d.arrive("c3", at=20.0)
    d.tick(50.0)
    assert d.engine.estimated_wait("q1").hol_s == 50.0
    d.hangup("c1", at=55.0)
    assert d.engine.estimated_wait("q1").hol_s == 45.0


def test_les_is_the_wait_of_the_last_call_that_reached_an_agent() -> None:
    d = Driver(
        build_center(
            agents=("a1",),
            max_wait_s=200.0,
            on_max_wait=Fallback(kind=FallbackKind.VOICEMAIL),
        )
    )
    assert d.engine.estimated_wait("q1").les_s is None
    d.arrive("c1", at=0.0)
    d.online("a1", at=20.0)
    d.answer("c1", "a1", at=25.0)
    assert d.engine.estimated_wait("q1").les_s == 25.0
    d.arrive("c2", at=30.0)
    d.hangup("c2", at=70.0)  # abandoned: not LES
    d.arrive("c3", at=70.0)
    d.run_until(300.0)  # waited the maximum: voicemail, not an agent
    assert d.engine.estimated_wait("q1").les_s == 25.0
    d.hangup("c1", at=300.0)
    d.arrive("c4", at=301.0)
    d.answer("c4", "a1", at=306.0)
    assert d.engine.estimated_wait("q1").les_s == 5.0


def _online(agent_id: str) -> Callable[[Driver], object]:
    return lambda d: d.online(agent_id)


@pytest.mark.parametrize(
    ("steps", "staffed"),
    [
        ([], 0),
        ([_online("a1")], 1),
        ([_online("a1"), _online("a2"), _online("a3")], 3),
        ([_online("a1"), _online("a2"), lambda d: d.status("a2", "LUNCH")], 1),
        ([_online("a1"), _online("a2"), lambda d: d.offline("a1")], 1),
        (
            [
                _online("a1"),
                lambda d: d.status("a1", "LUNCH"),
                lambda d: d.status("a1", "AVAILABLE"),
            ],
            1,
        ),
        ([_online("a1"), lambda d: d.arrive("c1"), lambda d: d.answer("c1", "a1")], 1),
    ],
    ids=["nobody", "one", "three", "one_at_lunch", "one_offline", "back_from_lunch", "busy"],
)
def test_staffed_follows_agent_statuses(
    steps: list[Callable[[Driver], object]], staffed: int
) -> None:
    d = Driver(build_center(agents=("a1", "a2", "a3")))
    for step in steps:
        step(d)
    assert d.engine.estimated_wait("q1").staffed == staffed


def test_the_greeting_can_tell_the_caller_the_estimate() -> None:
    greeting = Prompt(text="You are number {position}; about {ewt_minutes} minutes.")
    d = busy_driver(greeting=greeting)
    first = one(d.arrive("c1", at=1.0), cmd.PlayQueueAudio)
    second = one(d.arrive("c2", at=2.0), cmd.PlayQueueAudio)
    assert first.greeting_text == "You are number 1; about 3 minutes."  # 180 s
    assert second.greeting_text == "You are number 2; about 6 minutes."  # 360 s
