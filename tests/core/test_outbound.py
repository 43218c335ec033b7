"""Issue 2, point 10: callout (seed 000 Step 4, method 2) and callback calls (seed 004)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from helpers_outbound import Driver, build_center, of, one

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.errors import ClientError, Conflict, NotFound
from helpline.core.model import Agent, Queue, RecordingMode, RoutingType, Settings
from helpline.core.model import GroupTier as Tier
from helpline.core.records import Direction, Result
from helpline.core.states import AgentActivity, CallState
from helpline.core.timers import TimerKind

CUSTOMER = "84909982888"
GLOBAL = "+18005550000"


def callout(**fields: Any) -> ev.CalloutRequested:
    fields.setdefault("call_id", "co1")
    fields.setdefault("agent_id", "a1")
    fields.setdefault("customer_number", CUSTOMER)
    return ev.CalloutRequested(**fields)


def outbound_driver(**queue_fields: Any) -> Driver:
    center = build_center(
        agents=("a1", Agent(id="a2", routing_type=RoutingType.PHONE, phone_number="+842")),
        groups={"g1": ["a1"], "g2": ["a2"]},  # a2 serves no queue here
        settings=Settings(global_number=GLOBAL),
        **queue_fields,
    )
    driver = Driver(center)
    driver.online("a1")
    return driver


# -- callout -------------------------------------------------------------------------------------


def test_callout_rings_the_agent_then_dials_the_customer_then_bridges() -> None:
    d = outbound_driver()
    out = d.send(
        callout(
            to_agent_from_number_display="Call-out-from-842473082686",
            to_customer_from_number="84899199586",
            answer_timeout_s=20.0,
        ),
        at=1.0,
    )
    offer = one(out, cmd.OfferCall)
    assert offer.agent_id == "a1"
    assert offer.display == "Call-out-from-842473082686"
    assert offer.from_number == CUSTOMER
    assert offer.queue_id is None
    assert offer.timeout_s == 20.0
    assert of(out, cmd.DialCustomer) == []  # the customer is dialled only once the agent answers
    assert d.timers[d.timer(TimerKind.OFFER, "co1")] == 21.0
    assert d.call("co1").state is CallState.RINGING_AGENT
    assert d.engine.agents["a1"].activity is AgentActivity.RESERVED

    out = d.answer("co1", "a1", at=4.0)
    dial = one(out, cmd.DialCustomer)
    assert (dial.number, dial.caller_id) == (CUSTOMER, "84899199586")
    assert of(out, cmd.Bridge) == []
    assert not d.has_timer(TimerKind.OFFER, "co1")
    assert d.call("co1").state is CallState.DIALING_CUSTOMER

    out = d.send(ev.CustomerAnswered(call_id="co1"), at=9.0)
    assert one(out, cmd.Bridge) == cmd.Bridge(call_id="co1", agent_id="a1", record=False)
    assert d.call("co1").state is CallState.CONNECTED

    d.hangup("co1", at=69.0)
    record = d.record("co1")
    assert record.direction is Direction.CALLOUT
    assert (record.result, record.agent_id, record.queue_id) == (Result.ANSWERED, "a1", None)
    assert (record.from_number, record.to_number) == ("84899199586", CUSTOMER)
    assert (record.offered_at, record.answered_at, record.ended_at) == (1.0, 9.0, 69.0)
    assert record.talk_s == 60.0
    assert d.engine.agents["a1"].activity is AgentActivity.IDLE


@pytest.mark.parametrize(
    ("alias", "display", "shown"),
    [
        ("Sales line", "842473082686", "Sales line"),
        (None, "842473082686", "842473082686"),
        (None, None, None),
    ],
    ids=["alias_wins", "display", "nothing"],
)
def test_callout_shows_the_agent_the_alias_or_the_number(
    alias: str | None, display: str | None, shown: str | None
) -> None:
    d = outbound_driver()
    out = d.send(
        callout(to_agent_from_number_display=display, to_agent_from_number_display_alias=alias)
    )
    assert one(out, cmd.OfferCall).display == shown


def test_callout_without_a_caller_id_uses_the_global_number() -> None:
    d = outbound_driver()
    d.send(callout())
    assert one(d.answer("co1", "a1"), cmd.DialCustomer).caller_id == GLOBAL


def test_callout_to_a_phone_agent_rings_the_agents_phone() -> None:
    d = outbound_driver()
    offer = one(d.send(callout(agent_id="a2")), cmd.OfferCall)
    assert (offer.routing_type, offer.phone_number) == (RoutingType.PHONE, "+842")


def _agent_no_answer(d: Driver) -> None:
    d.fire(TimerKind.OFFER, "co1")


def _agent_rejects(d: Driver) -> None:
    d.reject("co1", "a1")


def _agent_hangs_up_ringing(d: Driver) -> None:
    d.hangup("co1", ev.Party.AGENT)


def _customer(reason: str) -> Callable[[Driver], None]:
    def fail(d: Driver) -> None:
        d.answer("co1", "a1")
        d.send(ev.CustomerDialFailed(call_id="co1", reason=reason))

    return fail


def _customer_side_hangup(d: Driver) -> None:
    d.answer("co1", "a1")
    d.hangup("co1", ev.Party.AGENT)


@pytest.mark.parametrize(
    ("step", "by", "reason"),
    [
        (_agent_no_answer, "system", "agent_no_answer"),
        (_agent_rejects, "agent", "agent_rejected"),
        (_agent_hangs_up_ringing, "agent", "agent_hangup"),
        (_customer("busy"), "customer", "busy"),
        (_customer("no_answer"), "customer", "no_answer"),
        (_customer_side_hangup, "agent", "agent_hangup"),
    ],
    ids=[
        "agent_no_answer",
        "agent_rejects",
        "agent_hangs_up_ringing",
        "customer_busy",
        "customer_no_answer",
        "agent_gives_up_dialing",
    ],
)
def test_a_callout_that_does_not_connect_ends_failed(
    step: Callable[[Driver], None], by: str, reason: str
) -> None:
    d = outbound_driver()
    d.send(callout())
    step(d)
    record = d.record("co1")
    assert (record.result, record.disconnected_by, record.end_reason) == (
        Result.FAILED,
        by,
        reason,
    )
    assert record.answered_at is None
    assert record.agent_id is None
    assert "co1" not in d.engine.calls
    assert one(d.log, cmd.Hangup).call_id == "co1"
    assert len(of(d.log, cmd.CancelOffer)) <= 1  # an offer that still rings is cancelled once
    agent = d.engine.agents["a1"]
    assert (agent.activity, agent.call_id) == (AgentActivity.IDLE, None)


def test_the_agent_of_a_failed_callout_gets_queue_calls_again() -> None:
    d = outbound_driver()
    d.send(callout())
    d.reject("co1", "a1")
    assert d.offers(d.arrive("c1")) == [("c1", "a1")]


def test_an_agent_ringing_for_a_callout_gets_no_queue_call() -> None:
    d = outbound_driver()
    d.send(callout())
    assert of(d.arrive("c1"), cmd.OfferCall) == []
    d.answer("co1", "a1")
    assert of(d.send(ev.CustomerAnswered(call_id="co1")), cmd.OfferCall) == []
    assert d.offers(d.hangup("co1")) == [("c1", "a1")]


def _make_busy(d: Driver) -> None:
    d.arrive("c1")
    d.answer("c1", "a1")


def _make_ringing(d: Driver) -> None:
    d.arrive("c1")


def _make_offline(d: Driver) -> None:
    d.offline("a1")


@pytest.mark.parametrize(
    ("prepare", "request_", "error"),
    [
        (lambda d: None, callout(agent_id="nobody"), NotFound),
        (_make_busy, callout(), Conflict),
        (_make_ringing, callout(), Conflict),
        (_make_offline, callout(), Conflict),
        (lambda d: d.send(callout(agent_id="a2")), callout(agent_id="a2"), Conflict),
    ],
    ids=["unknown_agent", "busy_agent", "ringing_agent", "offline_app_agent", "same_call_id"],
)
def test_a_callout_that_cannot_start_raises_and_changes_nothing(
    prepare: Callable[[Driver], object], request_: ev.CalloutRequested, error: type[ClientError]
) -> None:
    d = outbound_driver()
    prepare(d)
    calls = {k: (c.state, c.agent_id) for k, c in d.engine.calls.items()}
    agents = {k: (a.activity, a.call_id) for k, a in d.engine.agents.items()}
    with pytest.raises(error):
        d.send(request_)
    assert {k: (c.state, c.agent_id) for k, c in d.engine.calls.items()} == calls
    assert {k: (a.activity, a.call_id) for k, a in d.engine.agents.items()} == agents


# -- callback calls (seed 004) -------------------------------------------------------------------


def callback(**fields: Any) -> ev.CallbackRequested:
    fields.setdefault("call_id", "cb1")
    fields.setdefault("queue_id", "q1")
    fields.setdefault("customer_number", CUSTOMER)
    return ev.CallbackRequested(**fields)


def test_a_callback_call_is_queued_then_offered_then_dials_the_customer_then_bridges() -> None:
    d = outbound_driver(outbound_numbers=("+1111",))
    d.offline("a1")
    out = d.send(callback(data={"ticket_id": "T-42"}), at=0.0)
    assert of(out, cmd.PlayQueueAudio) == []  # nobody on the line to hear it
    assert of(out, cmd.DialCustomer) == []
    assert d.call("cb1").state is CallState.QUEUED

    out = d.online("a1", at=30.0)
    offer = one(out, cmd.OfferCall)
    assert (offer.call_id, offer.agent_id, offer.queue_id) == ("cb1", "a1", "q1")
    assert offer.from_number == CUSTOMER
    assert of(out, cmd.DialCustomer) == []

    out = d.answer("cb1", "a1", at=32.0)
    assert one(out, cmd.DialCustomer) == cmd.DialCustomer(
        call_id="cb1", number=CUSTOMER, caller_id="+1111"
    )
    assert of(out, cmd.Bridge) == []
    assert d.call("cb1").state is CallState.DIALING_CUSTOMER

    out = d.send(ev.CustomerAnswered(call_id="cb1"), at=40.0)
    assert one(out, cmd.Bridge).agent_id == "a1"
    d.hangup("cb1", at=100.0)
    record = d.record("cb1")
    assert record.direction is Direction.CALLBACK
    assert (record.result, record.agent_id, record.queue_id) == (Result.ANSWERED, "a1", "q1")
    assert (record.queued_at, record.offered_at, record.answered_at) == (0.0, 30.0, 40.0)
    assert record.wait_s == 32.0
    assert record.talk_s == 60.0
    assert record.data == {"ticket_id": "T-42"}


@pytest.mark.parametrize(
    ("given", "queue_numbers", "global_number", "caller_id"),
    [
        ("+1999", ("+1111", "+1222"), GLOBAL, "+1999"),
        ("+1999", (), GLOBAL, "+1999"),
        (None, ("+1111", "+1222"), GLOBAL, "+1111"),
        (None, ("+1111",), None, "+1111"),
        (None, (), GLOBAL, GLOBAL),
        (None, (), None, None),
    ],
    ids=[
        "given",
        "given_no_queue_numbers",
        "queue_first",
        "queue_only",
        "global",
        "none_at_all",
    ],
)
def test_callback_outbound_number_logic(
    given: str | None,
    queue_numbers: tuple[str, ...],
    global_number: str | None,
    caller_id: str | None,
) -> None:
    center = build_center(
        outbound_numbers=queue_numbers, settings=Settings(global_number=global_number)
    )
    d = Driver(center)
    d.online("a1")
    d.send(callback(outbound_number=given))
    assert one(d.answer("cb1", "a1"), cmd.DialCustomer).caller_id == caller_id


@pytest.mark.parametrize(
    ("mode", "permission", "recorded"),
    [
        (RecordingMode.RECORD, "recording_permission_not_asked", True),
        (RecordingMode.RECORD, "recording_permission_denied", True),
        (RecordingMode.DO_NOT_RECORD, "recording_permission_granted", False),
        (RecordingMode.DO_NOT_RECORD, "recording_permission_not_asked", False),
        (RecordingMode.ASK, "recording_permission_granted", True),
        (RecordingMode.ASK, "recording_permission_denied", False),
        (RecordingMode.ASK, "recording_permission_not_asked", False),
    ],
    ids=lambda v: str(v.value if isinstance(v, RecordingMode) else v),
)
def test_callback_recording_follows_the_queue_and_the_permission(
    mode: RecordingMode, permission: str, recorded: bool
) -> None:
    d = outbound_driver(recording=mode)
    d.send(callback(recording_permission=permission))
    d.answer("cb1", "a1")
    assert one(d.send(ev.CustomerAnswered(call_id="cb1")), cmd.Bridge).record is recorded
    d.hangup("cb1")
    assert d.record("cb1").recorded is recorded


@pytest.mark.parametrize(
    ("reason", "by"),
    [("busy", "customer"), ("no_answer", "customer"), ("failed", "customer")],
)
def test_a_callback_whose_customer_is_not_reached_ends_failed(reason: str, by: str) -> None:
    d = outbound_driver()
    d.send(callback())
    d.answer("cb1", "a1")
    d.send(ev.CustomerDialFailed(call_id="cb1", reason=reason))
    record = d.record("cb1")
    assert (record.result, record.end_reason, record.disconnected_by) == (
        Result.FAILED,
        reason,
        by,
    )
    assert d.engine.agents["a1"].activity is AgentActivity.IDLE
    assert d.engine.queues["q1"].waiting == {}


def test_a_rejected_callback_goes_to_the_next_agent() -> None:
    center = build_center(agents=("a1", "a2"), groups={"g1": ["a1", "a2"]})
    d = Driver(center)
    d.online("a1", "a2")
    first = one(d.send(callback()), cmd.OfferCall).agent_id
    other = "a2" if first == "a1" else "a1"
    assert d.offers(d.reject("cb1", first)) == [("cb1", other)]


def test_a_callback_to_an_unknown_queue_is_not_found() -> None:
    d = outbound_driver()
    with pytest.raises(NotFound):
        d.send(callback(queue_id="nowhere"))
    assert d.engine.calls == {}


def test_a_callback_with_a_priority_goes_ahead_of_earlier_callers() -> None:
    center = build_center(queues=[Queue(id="q1", groups=(Tier(group="g1"),))])
    d = Driver(center)
    d.arrive("c-early", at=0.0)
    d.send(callback(priority=1), at=1.0)
    assert d.offers(d.online("a1", at=3.0)) == [("cb1", "a1")]
