"""Issue 2, point 3: queues. FIFO within a priority level (seed 000 1b), maximum size and
maximum wait with their fallbacks, greeting then hold music, abandonment in the queue, and
the end of a fallback loop."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from engine_harness import (
    NUMBER,
    Harness,
    cancelled_offers,
    center,
    connect,
    of_type,
    offered_agents,
    tiers,
)

from helpline.core import commands as cmd
from helpline.core.model import (
    Action,
    ActionKind,
    Fallback,
    FallbackKind,
    IvrNode,
    IvrTree,
    Number,
    Prompt,
    Queue,
    Settings,
)
from helpline.core.records import Direction, Result
from helpline.core.states import AgentActivity, CallState
from helpline.core.timers import TimerKind

PRIORITY_NUMBER = "200"  # an IVR whose key N queues the call in q1 with priority N
SORRY = Prompt(text="All our agents are busy")


def priority_harness(agents: int) -> Harness:
    node = IvrNode(
        id="menu",
        prompt=Prompt(text="Choose"),
        keys={str(p): Action(kind=ActionKind.QUEUE, target="q1", priority=p) for p in range(10)},
    )
    tree = IvrTree(id="t1", root="menu", nodes={"menu": node})
    numbers = [
        Number(number=NUMBER, queue="q1"),
        Number(number=PRIORITY_NUMBER, enable_ivr=True, ivr_tree="t1"),
    ]
    ids = [f"a{i}" for i in range(1, agents + 1)]
    return Harness(center(ids, numbers=numbers, ivr_trees=[tree]))


def two_queues(**q1_options: object) -> Harness:
    """q1 (group g1: a1) with `q1_options`; q2 (group g2: a2). Number 100 goes to q1."""
    return Harness(
        center(
            ["a1", "a2"],
            groups={"g1": ["a1"], "g2": ["a2"]},
            queues=[
                Queue(id="q1", groups=tiers("g1"), **q1_options),  # type: ignore[arg-type]
                Queue(id="q2", groups=tiers("g2")),
            ],
        )
    )


# -- first come, first served within a priority level -------------------------------------------


@pytest.mark.parametrize(
    ("priorities", "order"),
    [
        pytest.param([0, 0, 0], ["c1", "c2", "c3"], id="one-level-fifo"),
        pytest.param([0, 5], ["c2", "c1"], id="higher-priority-first"),
        pytest.param([0, 5, 0, 5], ["c2", "c4", "c1", "c3"], id="two-levels-fifo-in-each"),
        pytest.param([1, 3, 2, 3, 1], ["c2", "c4", "c3", "c1", "c5"], id="three-levels"),
    ],
)
def test_service_order_is_priority_then_arrival(priorities: list[int], order: list[str]) -> None:
    h = priority_harness(agents=len(priorities))
    for i, priority in enumerate(priorities, start=1):
        h.arrive(f"c{i}", to=PRIORITY_NUMBER, at=float(i))
        h.press(f"c{i}", str(priority))
    served: list[str] = []
    for i in range(1, len(priorities) + 1):
        served += [o.call_id for o in of_type(h.online(f"a{i}", at=10.0 + i), cmd.OfferCall)]
    assert served == order


def test_one_agent_serves_waiting_calls_in_arrival_order() -> None:
    h = Harness(center(["a1"]))
    h.online("a1")
    connect(h, "c0", "a1")
    for i in (1, 2, 3):
        h.arrive(f"c{i}", at=float(i))
    served: list[str] = []
    previous = "c0"
    for t in (10.0, 20.0, 30.0):
        out = h.hangup(previous, at=t)
        [offer] = of_type(out, cmd.OfferCall)
        served.append(offer.call_id)
        h.answer(offer.call_id, "a1")
        previous = offer.call_id
    assert served == ["c1", "c2", "c3"]


# -- maximum size and maximum wait, each with a fallback -----------------------------------------


def full_queue(kind: FallbackKind, target: str | None) -> Harness:
    """q1 holds one waiting call; the second one falls back."""
    h = two_queues(max_size=1, on_full=Fallback(kind=kind, target=target, prompt=SORRY))
    h.arrive("c1", at=1.0)
    return h


def long_wait(kind: FallbackKind, target: str | None) -> Harness:
    """q1's calls wait at most 30 s."""
    return two_queues(max_wait_s=30.0, on_max_wait=Fallback(kind=kind, target=target, prompt=SORRY))


def check_queue(h: Harness, call_id: str, reason: str) -> None:
    call = h.call(call_id)
    assert (call.state, call.queue_id) == (CallState.QUEUED, "q2")
    assert h.waiting("q2") == {call_id}
    assert call_id not in h.waiting("q1")
    assert call.data["fallback_from"] == "q1"
    assert offered_agents(h.online("a2", at=h.now + 1)) == ["a2"]  # and q2's agent gets it


def check_callback(h: Harness, call_id: str, reason: str) -> None:
    record = h.record(call_id)
    assert record.result is Result.CALLBACK_REQUESTED
    callback = h.call(record.data["callback_call_id"])
    assert callback.direction is Direction.CALLBACK
    assert (callback.state, callback.queue_id) == (CallState.QUEUED, "q1")  # target: same queue
    assert callback.id in h.waiting("q1")  # a call-back is not turned away by a full queue
    assert h.due(TimerKind.MAX_WAIT, callback.id) == []  # nor timed out: nobody is on the line


def check_voicemail(h: Harness, call_id: str, reason: str) -> None:
    assert h.state(call_id) is CallState.VOICEMAIL
    assert call_id not in h.waiting("q1")
    [voicemail] = h.commands(cmd.StartVoicemail)
    assert (voicemail.call_id, voicemail.prompt) == (call_id, SORRY)
    h.hangup(call_id, at=h.now + 20)
    assert h.record(call_id).result is Result.VOICEMAIL


def check_hangup(h: Harness, call_id: str, reason: str) -> None:
    [hangup] = [c for c in h.commands(cmd.Hangup) if c.call_id == call_id]
    assert hangup.prompt == SORRY
    record = h.record(call_id)
    assert (record.result, record.end_reason, record.disconnected_by) == (
        Result.NO_AGENT,
        reason,
        "system",
    )
    assert record.queue_id == "q1"


FALLBACKS = [
    pytest.param(FallbackKind.QUEUE, "q2", check_queue, id="queue"),
    pytest.param(FallbackKind.CALLBACK, None, check_callback, id="callback"),
    pytest.param(FallbackKind.VOICEMAIL, None, check_voicemail, id="voicemail"),
    pytest.param(FallbackKind.HANGUP, None, check_hangup, id="hangup"),
]
Check = Callable[[Harness, str, str], None]


@pytest.mark.parametrize(("kind", "target", "check"), FALLBACKS)
def test_full_queue_falls_back(kind: FallbackKind, target: str | None, check: Check) -> None:
    h = full_queue(kind, target)
    h.arrive("c2", at=2.0)
    assert "c1" in h.waiting("q1")  # the first caller keeps its place
    assert "c2" not in h.waiting("q1")
    check(h, "c2", "queue_full")


@pytest.mark.parametrize(("kind", "target", "check"), FALLBACKS)
def test_max_wait_falls_back(kind: FallbackKind, target: str | None, check: Check) -> None:
    h = long_wait(kind, target)
    h.arrive("c1", at=5.0)
    assert h.due(TimerKind.MAX_WAIT, "c1") == [35.0]
    h.fire_due_timers(34.9)
    assert h.state("c1") is CallState.QUEUED
    h.fire_due_timers(35.0)
    check(h, "c1", "max_wait")


def test_max_size_zero_turns_every_caller_away() -> None:
    h = two_queues(max_size=0, on_full=Fallback(kind=FallbackKind.HANGUP))
    h.online("a1")  # even with a free agent: the queue takes nobody
    out = h.arrive("c1")
    assert offered_agents(out) == []
    assert h.record("c1").result is Result.NO_AGENT


def test_answered_call_is_not_timed_out() -> None:
    h = long_wait(FallbackKind.HANGUP, None)
    h.online("a1")
    connect(h, "c1", "a1", at=1.0)
    assert h.due(TimerKind.MAX_WAIT, "c1") == []
    h.fire_due_timers(100.0)
    assert h.state("c1") is CallState.CONNECTED


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        pytest.param("timeout", CallState.ENDED, id="offer-times-out-then-fallback"),
        pytest.param("reject", CallState.ENDED, id="offer-rejected-then-fallback"),
        pytest.param("answer", CallState.CONNECTED, id="answered-after-max-wait"),
    ],
)
def test_max_wait_while_ringing_waits_for_the_offer(outcome: str, state: CallState) -> None:
    h = long_wait(FallbackKind.HANGUP, None)
    h.arrive("c1", at=0.0)
    assert offered_agents(h.online("a1", at=25.0)) == ["a1"]
    out = h.fire_due_timers(30.0)  # max wait reached while a1 rings
    assert h.state("c1") is CallState.OFFERING
    assert of_type(out, cmd.CancelOffer) == []
    if outcome == "timeout":
        out = h.fire_next(TimerKind.OFFER, "c1")  # 25 + 15 s
        assert out and h.now == 40.0
    elif outcome == "reject":
        out = h.reject("c1", "a1", at=33.0)
    else:
        out = h.answer("c1", "a1", at=33.0)
    assert h.state("c1") is state
    assert offered_agents(out) == []  # not offered to a1 again: the call has waited enough
    if state is CallState.ENDED:
        record = h.record("c1")
        assert (record.result, record.end_reason) == (Result.NO_AGENT, "max_wait")
        assert h.activity("a1") is AgentActivity.IDLE


def test_max_wait_while_ringing_falls_back_to_the_other_queue() -> None:
    h = long_wait(FallbackKind.QUEUE, "q2")
    h.online("a2")
    h.arrive("c1", at=0.0)
    h.online("a1", at=25.0)
    h.fire_due_timers(30.0)
    out = h.reject("c1", "a1", at=31.0)
    assert offered_agents(out, "c1") == ["a2"]
    assert h.call("c1").queue_id == "q2"


# -- greeting, then hold music --------------------------------------------------------------------


def test_queue_plays_greeting_then_hold_music() -> None:
    greeting = Prompt(text="Thanks for calling", language="en")
    h = Harness(center(["a1", "a2"], greeting=greeting, hold_music="jazz.mp3"))
    h.online("a1")
    out = h.arrive("c1", at=1.0)
    assert of_type(out, cmd.PlayQueueAudio) == [
        cmd.PlayQueueAudio(
            call_id="c1",
            greeting=greeting,
            greeting_text="Thanks for calling",
            hold_music="jazz.mp3",
        )
    ]
    # back in line after a missed offer: hold music only, no second greeting
    out = h.reject("c1", "a1", at=3.0)
    assert of_type(out, cmd.PlayQueueAudio) == [
        cmd.PlayQueueAudio(call_id="c1", greeting=None, greeting_text=None, hold_music="jazz.mp3")
    ]


def test_queue_without_greeting_plays_hold_music_only() -> None:
    h = Harness(center(["a1"], hold_music="jazz.mp3"))
    out = h.arrive("c1")
    [audio] = of_type(out, cmd.PlayQueueAudio)
    assert (audio.greeting, audio.greeting_text, audio.hold_music) == (None, None, "jazz.mp3")


@pytest.mark.parametrize(
    ("agent_busy", "texts"),
    [
        pytest.param(
            False,
            ["#1, 0 s, 0 min", "#2, 0 s, 0 min", "#3, 0 s, 0 min"],
            id="nobody-staffed",
        ),
        pytest.param(
            True,
            ["#1, 180 s, 3 min", "#2, 360 s, 6 min", "#3, 540 s, 9 min"],
            id="one-busy-agent",
        ),
    ],
)
def test_greeting_renders_position_and_estimated_wait(agent_busy: bool, texts: list[str]) -> None:
    greeting = Prompt(text="#{position}, {ewt_seconds} s, {ewt_minutes} min")
    h = Harness(center(["a1"], greeting=greeting))
    if agent_busy:  # one staffed agent, busy: the QL estimate uses the default 180 s per call
        h.online("a1")
        connect(h, "c0", "a1")
    rendered = []
    for i in (1, 2, 3):
        [audio] = of_type(h.arrive(f"c{i}", at=float(i)), cmd.PlayQueueAudio)
        rendered.append(audio.greeting_text)
    assert rendered == texts


# -- a caller who hangs up while waiting ----------------------------------------------------------


@pytest.mark.parametrize("ringing", [False, True], ids=["waiting", "ringing-an-agent"])
def test_caller_hangup_in_queue_is_abandoned_in_queue(ringing: bool) -> None:
    h = Harness(center(["a1"], max_wait_s=100.0))
    if ringing:
        h.online("a1")
    h.arrive("c1", at=2.0)
    assert h.state("c1") is (CallState.OFFERING if ringing else CallState.QUEUED)
    out = h.hangup("c1", at=12.0)
    assert cancelled_offers(out) == ([("c1", "a1")] if ringing else [])
    assert h.timers == {}  # max wait (and the offer timeout) are gone
    assert h.waiting() == set()
    assert h.activity("a1") is AgentActivity.IDLE
    record = h.record("c1")
    assert (record.result, record.disconnected_by) == (Result.ABANDONED_IN_QUEUE, "customer")
    assert (record.queue_id, record.queued_at, record.wait_s) == ("q1", 2.0, 10.0)
    assert record.agent_id is None and record.answered_at is None


def test_abandoned_call_leaves_the_line_for_the_next() -> None:
    h = Harness(center(["a1"]))
    h.arrive("c1", at=1.0)
    h.arrive("c2", at=2.0)
    h.hangup("c1", at=3.0)
    assert offered_agents(h.online("a1", at=4.0), "c2") == ["a1"]


# -- a fallback loop ends -------------------------------------------------------------------------


def loop_harness(max_fallbacks: int, **options: object) -> Harness:
    """q1 falls back to q2 and q2 to q1 (`on_full` or `on_max_wait`, by `options`)."""
    full = options.pop("fallback_on", "on_full")
    queues = [
        Queue(
            id=queue_id,
            groups=tiers("g1"),
            **{str(full): Fallback(kind=FallbackKind.QUEUE, target=target)},  # type: ignore[arg-type]
            **options,  # type: ignore[arg-type]
        )
        for queue_id, target in (("q1", "q2"), ("q2", "q1"))
    ]
    return Harness(center(["a1"], queues=queues, settings=Settings(max_fallbacks=max_fallbacks)))


@pytest.mark.parametrize(
    ("max_fallbacks", "last_queue", "came_from"),
    [
        pytest.param(0, "q1", None, id="no-fallback-allowed"),
        pytest.param(1, "q2", "q1", id="q1-q2"),
        pytest.param(2, "q1", "q2", id="q1-q2-q1"),
        pytest.param(5, "q2", "q1", id="default-five"),
    ],
)
def test_full_queue_loop_q1_q2_q1_ends_with_no_agent(
    max_fallbacks: int, last_queue: str, came_from: str | None
) -> None:
    h = loop_harness(max_fallbacks, max_size=0)
    h.online("a1")
    out = h.arrive("c1")
    assert offered_agents(out) == []
    record = h.record("c1")
    assert (record.result, record.end_reason) == (Result.NO_AGENT, "fallback_loop")
    assert record.queue_id == last_queue
    assert record.data.get("fallback_from") == came_from
    assert record.wait_s == 0.0


@pytest.mark.parametrize("max_fallbacks", [1, 3, 5])
def test_max_wait_loop_q1_q2_q1_ends_after_max_fallbacks(max_fallbacks: int) -> None:
    h = loop_harness(max_fallbacks, fallback_on="on_max_wait", max_wait_s=10.0)
    h.arrive("c1")
    h.fire_due_timers(1000.0)
    visits = [(a.call_id, a.greeting) for a in h.commands(cmd.PlayQueueAudio)]
    assert len(visits) == max_fallbacks + 1  # q1, then one queue per allowed fallback
    record = h.record("c1")
    assert (record.result, record.end_reason) == (Result.NO_AGENT, "fallback_loop")
    assert record.ended_at == 10.0 * (max_fallbacks + 1)
    assert record.wait_s == pytest.approx(record.ended_at)


def test_wait_before_a_fallback_to_a_full_queue_is_counted_once() -> None:
    q1 = Queue(
        id="q1",
        groups=tiers("g1"),
        max_wait_s=30.0,
        on_max_wait=Fallback(kind=FallbackKind.QUEUE, target="q2"),
    )
    q2 = Queue(id="q2", groups=tiers("g1"), max_size=0)  # turns the call away: hang-up
    h = Harness(center(["a1"], queues=[q1, q2]))
    h.arrive("c1", at=5.0)
    h.fire_due_timers(100.0)
    record = h.record("c1")
    assert (record.result, record.end_reason, record.ended_at) == (
        Result.NO_AGENT,
        "queue_full",
        35.0,
    )
    assert record.wait_s == 30.0
    assert h.engine.queues["q2"].wait_weight == 0.0  # q2 never had the call in line
