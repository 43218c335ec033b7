"""Events and commands stay immutable and typed whatever they are built with (issue 3).

The ones every call produces are plain classes with `Final` fields for speed (core/commands.py,
compiled to native classes); these tests hold them to what the frozen dataclasses promise: no
field can be changed, compiled or run as Python; fields are read by name; equality is by type
and fields; and `plain()` gives them (and a record's legs) as a dict by field name.
"""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys
from typing import Any

import pytest

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.engine import Engine
from helpline.core.errors import ClientError
from helpline.core.estimators import WaitEstimate
from helpline.core.model import Center, Number, Queue, RoutingType
from helpline.core.plain import plain
from helpline.core.records import CallRecord, Direction, Leg, Result
from helpline.core.routing import OfferTarget
from helpline.core.timers import Timer, TimerKind

TIMER = Timer(TimerKind.OFFER, "c1", 1)
LEG = Leg(
    agent_id="a1",
    queue_id="q",
    offered_at=1.0,
    answered_at=2.0,
    ended_at=5.0,
    talk_s=3.0,
    hold_s=0.0,
)
BUILT: list[Any] = [
    cmd.StartTimer(timer=TIMER, at=3.0),
    cmd.CancelTimer(timer=TIMER),
    cmd.PlayQueueAudio(call_id="c1", greeting=None, greeting_text=None, hold_music=None),
    cmd.OfferCall(
        call_id="c1",
        agent_id="a1",
        timeout_s=15.0,
        routing_type=RoutingType.APP,
        phone_number=None,
        from_number="+1555",
        queue_id="q",
    ),
    cmd.Bridge(call_id="c1", agent_id="a1"),
    cmd.Hangup(call_id="c1", reason="customer_hangup"),
    ev.CallArrived(call_id="c1", from_number="+1555", to_number="100"),
    ev.OfferAnswered(call_id="c1", agent_id="a1"),
    ev.CallHungUp(call_id="c1"),
    ev.TimerFired(timer=TIMER),
    LEG,
    TIMER,
    OfferTarget(agent_id="a1", timeout_s=15.0, routing_type=RoutingType.APP, phone_number=None),
    WaitEstimate(queue_id="q", waiting=2, staffed=3, ql_s=4.0, hol_s=1.0, les_s=None),
]


@pytest.mark.parametrize("message", BUILT, ids=lambda m: type(m).__name__)
def test_no_field_can_be_changed(message: Any) -> None:
    name = next(iter(plain(message)))
    with pytest.raises(AttributeError):  # its own value: only read-only refuses it
        setattr(message, name, getattr(message, name))
    with pytest.raises(AttributeError):
        message.not_a_field = 1


def test_defaults_are_kept() -> None:
    assert cmd.Bridge(call_id="c1", agent_id="a1").record is False
    assert cmd.Hangup(call_id="c1", reason="r").prompt is None
    hung_up = ev.CallHungUp(call_id="c1")
    assert (hung_up.party, hung_up.reason) == (ev.Party.CUSTOMER, "")


def test_plain_gives_a_message_as_a_dict_by_field_name() -> None:
    offer = next(m for m in BUILT if isinstance(m, cmd.OfferCall))
    data = plain(offer)
    assert list(data) == [f.name for f in dataclasses.fields(offer)]  # in declaration order
    assert data["call_id"] == "c1"
    assert data["routing_type"] == RoutingType.APP.value  # enums as their value, as JSON wants
    assert data["display"] is None


def test_plain_record_keeps_its_legs_as_dicts() -> None:
    record = CallRecord(
        call_id="c1",
        direction=Direction.INBOUND,
        from_number="+1555",
        to_number="100",
        result=Result.ANSWERED,
        disconnected_by="customer",
        end_reason="customer_hangup",
        created_at=0.0,
        queued_at=0.5,
        offered_at=1.0,
        answered_at=2.0,
        ended_at=5.0,
        wait_s=1.5,
        talk_s=3.0,
        hold_s=0.0,
        wrap_up_s=0.0,
        queue_id="q",
        agent_id="a1",
        ivr_tree=None,
        ivr_path=(),
        keys="",
        priority=0,
        legs=(LEG,),
    )
    legs = plain(record)["legs"]
    assert legs == [
        {
            "agent_id": "a1",
            "queue_id": "q",
            "offered_at": 1.0,
            "answered_at": 2.0,
            "ended_at": 5.0,
            "talk_s": 3.0,
            "hold_s": 0.0,
            "external_number": None,
        }
    ]


def test_a_leg_is_changed_only_into_a_new_leg() -> None:
    ended = dataclasses.replace(LEG, ended_at=9.0, talk_s=7.0)
    assert (ended.ended_at, ended.talk_s, LEG.ended_at) == (9.0, 7.0, 5.0)


def test_messages_equal_only_their_own_type() -> None:
    """Two messages with equal fields but of different types must differ, or an assertion on
    which command came could pass on the wrong one."""
    timer = Timer(TimerKind.OVERFLOW, "c1", 1)
    assert cmd.CancelTimer(timer=timer) == cmd.CancelTimer(timer=timer)
    assert cmd.CancelTimer(timer=timer) != ev.TimerFired(timer=timer)
    assert cmd.CancelTimer(timer=timer) != (timer,)
    assert hash(cmd.CancelTimer(timer=timer)) == hash(cmd.CancelTimer(timer=timer))
    assert len({cmd.CancelTimer(timer=timer), cmd.CancelTimer(timer=timer)}) == 1


def test_a_call_with_no_id_is_a_client_error_that_changes_nothing() -> None:
    # `CallArrived` has no `__post_init__`: its check is the engine's, when it handles the event
    center = Center(queues={"q": Queue(id="q")}, numbers={"100": Number(number="100", queue="q")})
    engine = Engine(center, rng=random.Random(1))
    with pytest.raises(ClientError, match="call_id is required"):
        engine.handle(ev.CallArrived(call_id="", from_number="+1555", to_number="100"), 1.0)
    assert engine.calls == {}
    assert not engine.queues["q"].waiting
    commands = engine.handle(
        ev.CallArrived(call_id="c1", from_number="+1555", to_number="100"), 2.0
    )
    assert cmd.PlayQueueAudio in [type(c) for c in commands]
    assert list(engine.calls) == ["c1"]


POSITIONAL: list[tuple[Any, Any]] = [
    (cmd.StartTimer(TIMER, 3.0), cmd.StartTimer(timer=TIMER, at=3.0)),
    (cmd.CancelTimer(TIMER), cmd.CancelTimer(timer=TIMER)),
    (
        cmd.PlayQueueAudio("c1", None, "hi", "default"),
        cmd.PlayQueueAudio(call_id="c1", greeting=None, greeting_text="hi", hold_music="default"),
    ),
    (
        cmd.OfferCall("c1", "a1", 15.0, RoutingType.APP, None, "+1555", "q"),
        cmd.OfferCall(
            call_id="c1",
            agent_id="a1",
            timeout_s=15.0,
            routing_type=RoutingType.APP,
            phone_number=None,
            from_number="+1555",
            queue_id="q",
        ),
    ),
    (cmd.Bridge("c1", "a1", True), cmd.Bridge(call_id="c1", agent_id="a1", record=True)),
    (cmd.Hangup("c1", "bye", None), cmd.Hangup(call_id="c1", reason="bye")),
    (ev.CallArrived("c1", "+1555", "100"), BUILT[6]),
    (
        ev.CallHungUp("c1", ev.Party.AGENT, "x"),
        ev.CallHungUp(call_id="c1", party=ev.Party.AGENT, reason="x"),
    ),
    (ev.OfferAnswered("c1", "a1"), ev.OfferAnswered(call_id="c1", agent_id="a1")),
    (ev.TimerFired(TIMER), ev.TimerFired(timer=TIMER)),
    (Timer(TimerKind.OFFER, "c1", 1), Timer(kind=TimerKind.OFFER, subject="c1", serial=1)),
    (Leg("a1", "q", 1.0, 2.0, 5.0, 3.0, 0.0), LEG),
    (
        OfferTarget("a1", 15.0, RoutingType.PHONE, "+1"),
        OfferTarget(
            agent_id="a1", timeout_s=15.0, routing_type=RoutingType.PHONE, phone_number="+1"
        ),
    ),
]


@pytest.mark.parametrize(("made", "built"), POSITIONAL, ids=lambda m: type(m).__name__)
def test_built_in_field_order_or_by_keyword_the_message_is_the_same(made: Any, built: Any) -> None:
    # the engine's hot paths build positionally, in field order; tests and adapters by keyword
    assert type(made) is type(built)
    assert made == built
    assert plain(made) == plain(built)  # defaults included (display, external_number)


def test_a_timer_is_found_by_an_equal_timer_and_equals_nothing_else() -> None:
    """Timers are set members: one rebuilt from its fields (a driver that keeps timers
    elsewhere) must find the engine's, and only a timer with every field equal may."""
    timers = {TIMER}
    rebuilt = Timer(TimerKind.OFFER, "c1", 1)
    assert rebuilt is not TIMER
    assert rebuilt in timers
    assert hash(rebuilt) == hash(TIMER)
    assert Timer(TimerKind.OFFER, "c1", 2) not in timers
    assert Timer(TimerKind.OFFER, "c2", 1) not in timers
    assert Timer(TimerKind.WRAP_UP, "c1", 1) not in timers
    assert TIMER != (TimerKind.OFFER, "c1", 1)


def test_messages_stay_read_only_when_run_as_python() -> None:
    """Compiled (the build CI tests), `Final` fields are read-only in C; run as Python,
    `plain.freeze_interpreted` must refuse the same writes, in a process of its own."""
    script = """
import dataclasses
from helpline.compiled import BUILD
from helpline.core import commands as cmd
from helpline.core.timers import Timer, TimerKind
assert not BUILD.compiled, BUILD
timer = Timer(TimerKind.OFFER, "c1", 1)
start = cmd.StartTimer(timer, 3.0)
for target, name in ((timer, "serial"), (start, "at"), (start, "not_a_field")):
    try:
        setattr(target, name, 9)
    except AttributeError:
        continue
    raise SystemExit(f"{type(target).__name__}.{name} was changed")
try:
    del start.at
except AttributeError:
    pass
else:
    raise SystemExit("StartTimer.at was deleted")
assert dataclasses.replace(start, at=4.0) == cmd.StartTimer(timer, 4.0)
print("read-only")
"""
    env = {**os.environ, "HELPLINE_PURE_PYTHON": "1"}
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "read-only"
