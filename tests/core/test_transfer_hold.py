"""Issue 2, point 14: hold and resume; blind transfer to an agent, a queue or a number."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from helpers_outbound import Driver, build_center, of, one

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.errors import ClientError, Conflict, NotFound
from helpline.core.model import GroupTier, Queue, Strategy
from helpline.core.records import Leg, Result
from helpline.core.states import AgentActivity, CallState
from helpline.core.timers import TimerKind

Q2_NUMBER = "102"


def transfer_driver(*, wrap_up: bool = False, q2_keeps: bool = True) -> Driver:
    """q1 (number 100) over g1 = a1; q2 (number 102) over g2 = a2; a3 is in no queue.

    Everyone is online. With `wrap_up`, q1's agents wrap up until they say so.
    """
    center = build_center(
        agents=("a1", "a2", "a3"),
        groups={"g1": ["a1"], "g2": ["a2"], "g3": ["a3"]},
        queues=[
            Queue(
                id="q1",
                groups=(GroupTier(group="g1"),),
                agent_wrap_up_after_calls=wrap_up,
                wrap_up_time_limit=None,
                wait_agent_answer_timeout=12.0,
            ),
            Queue(id="q2", groups=(GroupTier(group="g2"),), transfer_keeps_position=q2_keeps),
        ],
        numbers={"100": "q1", Q2_NUMBER: "q2"},
    )
    d = Driver(center)
    d.online("a1", "a2", "a3")
    return d


def answered_call(d: Driver, call_id: str = "c1") -> None:
    """c1 arrives at 0 on q1 and a1 answers it at 10."""
    d.arrive(call_id, at=0.0)
    d.answer(call_id, "a1", at=10.0)


def hold(d: Driver, call_id: str = "c1", at: float | None = None) -> list[cmd.Command]:
    return d.send(ev.HoldRequested(call_id=call_id), at)


def resume(d: Driver, call_id: str = "c1", at: float | None = None) -> list[cmd.Command]:
    return d.send(ev.ResumeRequested(call_id=call_id), at)


def transfer(d: Driver, at: float | None = None, **target: Any) -> list[cmd.Command]:
    return d.send(ev.TransferRequested(call_id="c1", **target), at)


# -- hold ----------------------------------------------------------------------------------------


def test_hold_and_resume_accumulate_hold_time() -> None:
    d = transfer_driver()
    answered_call(d)
    assert one(hold(d, at=20.0), cmd.SetHold) == cmd.SetHold(call_id="c1", on=True)
    assert d.call("c1").state is CallState.HELD
    assert one(resume(d, at=30.0), cmd.SetHold) == cmd.SetHold(call_id="c1", on=False)
    assert d.call("c1").state is CallState.CONNECTED
    hold(d, at=40.0)
    resume(d, at=45.0)
    d.hangup("c1", at=60.0)
    record = d.record("c1")
    assert (record.hold_s, record.talk_s) == (15.0, 35.0)
    assert record.legs[0].hold_s == 15.0


def test_hanging_up_on_hold_closes_the_hold() -> None:
    d = transfer_driver()
    answered_call(d)
    hold(d, at=20.0)
    d.hangup("c1", at=30.0)
    record = d.record("c1")
    assert (record.result, record.hold_s, record.talk_s) == (Result.ANSWERED, 10.0, 10.0)
    assert d.engine.agents["a1"].activity is AgentActivity.IDLE


def _queued(d: Driver) -> None:
    d.offline("a1")
    d.arrive("c1")


def _ringing(d: Driver) -> None:
    d.arrive("c1")


def _external(d: Driver) -> None:
    answered_call(d)
    transfer(d, to_number="+1999")


@pytest.mark.parametrize(
    ("prepare", "request_"),
    [
        (_queued, ev.HoldRequested(call_id="c1")),
        (_ringing, ev.HoldRequested(call_id="c1")),
        (answered_call, ev.ResumeRequested(call_id="c1")),
        (lambda d: (answered_call(d), hold(d)), ev.HoldRequested(call_id="c1")),
        (_external, ev.HoldRequested(call_id="c1")),
        (_queued, ev.TransferRequested(call_id="c1", to_queue="q2")),
        (_ringing, ev.TransferRequested(call_id="c1", to_agent="a3")),
    ],
    ids=[
        "hold_queued",
        "hold_ringing",
        "resume_not_held",
        "hold_held",
        "hold_external",
        "transfer_queued",
        "transfer_ringing",
    ],
)
def test_hold_or_transfer_of_a_call_not_answered_is_a_conflict(
    prepare: Callable[[Driver], object], request_: ev.Event
) -> None:
    d = transfer_driver()
    prepare(d)
    before = (d.call("c1").state, list(d.call("c1").offered_to), d.call("c1").agent_id)
    with pytest.raises(Conflict):
        d.send(request_)
    assert (d.call("c1").state, d.call("c1").offered_to, d.call("c1").agent_id) == before


@pytest.mark.parametrize(
    "request_",
    [
        ev.HoldRequested(call_id="nope"),
        ev.ResumeRequested(call_id="nope"),
        ev.TransferRequested(call_id="nope", to_number="+1"),
    ],
    ids=["hold", "resume", "transfer"],
)
def test_hold_or_transfer_of_an_unknown_call_is_not_found(request_: ev.Event) -> None:
    d = transfer_driver()
    with pytest.raises(NotFound):
        d.send(request_)


@pytest.mark.parametrize(
    "targets",
    [{}, {"to_agent": "a2", "to_queue": "q2"}, {"to_queue": "q2", "to_number": "+1"}],
    ids=["none", "agent_and_queue", "queue_and_number"],
)
def test_a_transfer_names_exactly_one_target(targets: dict[str, str]) -> None:
    with pytest.raises(ClientError):
        ev.TransferRequested(call_id="c1", **targets)


# -- transfer to an agent ------------------------------------------------------------------------


def test_blind_transfer_to_an_agent_keeps_both_legs() -> None:
    d = transfer_driver()
    answered_call(d)
    hold(d, at=20.0)
    out = transfer(d, at=25.0, to_agent="a3")
    offer = one(out, cmd.OfferCall)
    assert (offer.agent_id, offer.timeout_s) == ("a3", 12.0)  # q1's answer timeout
    assert d.engine.agents["a1"].activity is AgentActivity.IDLE  # released at once
    assert d.engine.agents["a3"].activity is AgentActivity.RESERVED
    assert d.call("c1").state is CallState.OFFERING
    assert "c1" not in d.engine.queues["q1"].waiting
    assert d.call("c1").decisions[-1].rule == "transfer_to_agent"
    assert d.call("c1").decisions[-1].chosen == ("a3",)

    assert one(d.answer("c1", "a3", at=27.0), cmd.Bridge).agent_id == "a3"
    d.hangup("c1", at=57.0)
    record = d.record("c1")
    assert record.legs == (
        Leg(
            agent_id="a1",
            queue_id="q1",
            offered_at=0.0,
            answered_at=10.0,
            ended_at=25.0,
            talk_s=10.0,
            hold_s=5.0,
        ),
        Leg(
            agent_id="a3",
            queue_id="q1",
            offered_at=25.0,
            answered_at=27.0,
            ended_at=57.0,
            talk_s=30.0,
            hold_s=0.0,
        ),
    )
    assert (record.agent_id, record.result, record.answered_at) == ("a3", Result.ANSWERED, 10.0)
    assert (record.talk_s, record.hold_s) == (40.0, 5.0)
    assert record.wait_s == 10.0  # the transfer is not time in line
    assert d.engine.agents["a1"].calls_taken == 1


def test_the_transferring_agent_wraps_up_when_the_queue_says_so() -> None:
    d = transfer_driver(wrap_up=True)
    answered_call(d)
    transfer(d, at=20.0, to_agent="a3")
    assert d.engine.agents["a1"].activity is AgentActivity.WRAP_UP
    out = d.send(ev.WrapUpEnded(agent_id="a1"), at=30.0)
    assert one(out, cmd.AmendCallRecord).wrap_up_s == 10.0


def _at_lunch(d: Driver) -> None:
    d.status("a3", "LUNCH")


def _offline(d: Driver) -> None:
    d.offline("a3")


def _busy(d: Driver) -> None:
    d.arrive("other", Q2_NUMBER)  # goes to a2
    d.answer("other", "a2")


@pytest.mark.parametrize(
    ("prepare", "target", "error"),
    [
        (_at_lunch, "a3", Conflict),
        (_offline, "a3", Conflict),
        (_busy, "a2", Conflict),
        (lambda d: None, "a1", Conflict),  # already on it
        (lambda d: None, "nobody", NotFound),
    ],
    ids=["not_available", "offline", "busy", "same_agent", "unknown_agent"],
)
def test_transfer_to_an_agent_who_cannot_take_it_changes_nothing(
    prepare: Callable[[Driver], None], target: str, error: type[ClientError]
) -> None:
    d = transfer_driver()
    answered_call(d)
    prepare(d)
    mark = len(d.log)
    with pytest.raises(error):
        transfer(d, at=20.0, to_agent=target)
    assert len(d.log) == mark  # no command went out
    call = d.call("c1")
    assert (call.state, call.agent_id, call.legs) == (CallState.CONNECTED, "a1", [])
    assert d.engine.agents["a1"].activity is AgentActivity.ON_CALL
    d.hangup("c1", at=40.0)
    assert d.record("c1").talk_s == 30.0  # the talk went on unbroken


@pytest.mark.parametrize(
    "miss",
    [
        pytest.param(lambda d: d.fire(TimerKind.OFFER, "c1"), id="no_answer"),
        pytest.param(lambda d: d.reject("c1", "a3"), id="rejected"),
        pytest.param(lambda d: d.offline("a3"), id="went_offline"),
    ],
)
def test_a_failed_transfer_to_an_agent_returns_the_call_to_its_queue(
    miss: Callable[[Driver], object],
) -> None:
    d = transfer_driver(wrap_up=True)  # a1 stays in wrap-up: the call has to wait
    answered_call(d)
    transfer(d, at=20.0, to_agent="a3")
    miss(d)
    call = d.call("c1")
    assert (call.state, call.queue_id, call.agent_id) == (CallState.QUEUED, "q1", None)
    assert "c1" in d.engine.queues["q1"].waiting
    assert call.position_time == 0.0  # its original place in line
    assert d.offers(d.send(ev.WrapUpEnded(agent_id="a1"))) == [("c1", "a1")]


# -- transfer to a queue -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keep_position", "queue_default", "first"),
    [
        (True, False, "c1"),
        (False, True, "c2"),
        (None, True, "c1"),
        (None, False, "c2"),
    ],
    ids=["keep", "do_not_keep", "queue_default_keeps", "queue_default_does_not_keep"],
)
def test_transfer_to_a_queue_keeps_the_place_in_line_as_configured(
    keep_position: bool | None, queue_default: bool, first: str
) -> None:
    d = transfer_driver(q2_keeps=queue_default)
    d.arrive("c0", Q2_NUMBER, at=0.0)  # a2 takes c0 and stays busy
    d.answer("c0", "a2", at=0.0)
    answered_call(d)  # c1 arrived at 0 on q1
    d.arrive("c2", Q2_NUMBER, at=15.0)  # waits in q2
    out = transfer(d, at=20.0, to_queue="q2", keep_position=keep_position)
    assert of(out, cmd.OfferCall) == []
    assert one(out, cmd.PlayQueueAudio).call_id == "c1"
    assert d.engine.agents["a1"].activity is AgentActivity.IDLE
    call = d.call("c1")
    assert (call.state, call.queue_id) == (CallState.QUEUED, "q2")
    out = d.hangup("c0", at=30.0)  # a2 is free: the first in line is offered
    assert d.offers(out) == [(first, "a2")]


def test_a_call_transferred_to_a_queue_keeps_its_first_leg_and_times() -> None:
    d = transfer_driver()
    answered_call(d)
    transfer(d, at=20.0, to_queue="q2")
    d.answer("c1", "a2", at=24.0)
    d.hangup("c1", at=44.0)
    record = d.record("c1")
    assert [(leg.agent_id, leg.queue_id, leg.talk_s) for leg in record.legs] == [
        ("a1", "q1", 10.0),
        ("a2", "q2", 20.0),
    ]
    assert (record.queue_id, record.agent_id) == ("q2", "a2")
    assert (record.queued_at, record.answered_at) == (0.0, 10.0)
    assert record.wait_s == 10.0 + 4.0  # in q1, then in q2


def test_transfer_to_a_queue_can_change_the_priority() -> None:
    d = transfer_driver()
    d.arrive("c0", Q2_NUMBER, at=0.0)
    d.answer("c0", "a2", at=0.0)
    answered_call(d)
    d.arrive("c2", Q2_NUMBER, at=11.0)
    transfer(d, at=20.0, to_queue="q2", keep_position=False, priority=5)
    assert d.offers(d.hangup("c0", at=30.0)) == [("c1", "a2")]


def test_transfer_to_an_unknown_queue_is_not_found() -> None:
    d = transfer_driver()
    answered_call(d)
    with pytest.raises(NotFound):
        transfer(d, to_queue="nowhere")
    assert d.call("c1").state is CallState.CONNECTED


# -- transfer to an outside number ---------------------------------------------------------------


def test_transfer_to_an_outside_number() -> None:
    d = transfer_driver()
    answered_call(d)
    out = transfer(d, at=20.0, to_number="+19995550000")
    assert one(out, cmd.DialExternal) == cmd.DialExternal(call_id="c1", number="+19995550000")
    assert d.call("c1").state is CallState.EXTERNAL
    assert d.engine.agents["a1"].activity is AgentActivity.IDLE
    d.hangup("c1", at=80.0)
    record = d.record("c1")
    assert (record.result, record.disconnected_by) == (Result.TRANSFERRED_EXTERNAL, "customer")
    assert [(leg.agent_id, leg.external_number, leg.talk_s) for leg in record.legs] == [
        ("a1", None, 10.0),
        (None, "+19995550000", 60.0),
    ]


def test_linear_strategy_transfer_does_not_disturb_the_queue() -> None:
    """A transfer to an agent outside the queue takes no place in the queue's line."""
    center = build_center(agents=("a1", "a2"), strategy=Strategy.LINEAR)
    d = Driver(center)
    d.online("a1", "a2")
    d.arrive("c1", at=0.0)
    d.answer("c1", "a1", at=1.0)
    transfer(d, at=2.0, to_agent="a2")
    out = d.arrive("c2", at=3.0)  # a1 is free again; a2 rings for c1
    assert d.offers(out) == [("c2", "a1")]
    assert d.engine.queues["q1"].waiting == {}
