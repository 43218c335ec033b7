"""Issue 2, point 9: external routing through `get_list_agents_url` (seed 000 Step 5)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers_outbound import Driver, build_center, of, one

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.calls import ListedAgent, RouterStatus
from helpline.core.model import Agent, RoutingType, Strategy
from helpline.core.records import Result
from helpline.core.router import MalformedReply, parse_reply
from helpline.core.states import AgentActivity, CallState
from helpline.core.timers import TimerKind

URL = "https://crm.example/agents"


def router_driver(**queue_fields: Any) -> Driver:
    """Queue q1 asks the router; group g1 (a1, a2, a3, linear) is the fallback. All online."""
    queue_fields.setdefault("strategy", Strategy.LINEAR)
    center = build_center(
        agents=(
            "a1",
            Agent(id="a2", phone_number="+84900000002"),
            "a3",
        ),
        get_list_agents_url=URL,
        router_timeout_s=3.0,
        **queue_fields,
    )
    driver = Driver(center)
    driver.online("a1", "a2", "a3")
    return driver


def agent_entry(
    agent_id: str, *, routing: int = 1, timeout: float = 10, phone: str | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "stringee_user_id": agent_id,
        "routing_type": routing,
        "answer_timeout": timeout,
    }
    if phone is not None:
        entry["phone_number"] = phone
    return entry


def reply(*calls: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {"version": 2, "calls": [{"callId": c, "agents": agents} for c, agents in calls]}


def ask(out: list[cmd.Command]) -> cmd.AskRouter:
    return one(out, cmd.AskRouter)


# -- the request ---------------------------------------------------------------------------------


def test_a_call_joining_the_queue_asks_the_router_and_is_not_offered_meanwhile() -> None:
    d = router_driver()
    out = d.arrive("c1", from_number="84986776777", at=1.0)
    request = ask(out)
    assert request.queue_id == "q1"
    assert request.url == URL
    assert request.timeout_s == 3.0
    assert request.body == {
        "queueId": "q1",
        "calls": [{"callId": "c1", "from": "84986776777", "to": "100"}],
    }
    assert d.timers[d.timer(TimerKind.ROUTER, request.request_id)] == 4.0
    assert of(out, cmd.OfferCall) == []  # idle agents wait for the router's word
    assert d.call("c1").state is CallState.QUEUED


def test_one_request_in_flight_per_queue_and_later_calls_go_in_the_next_one() -> None:
    d = router_driver()
    first = ask(d.arrive("c1"))
    assert of(d.arrive("c2"), cmd.AskRouter) == []
    assert of(d.arrive("c3"), cmd.AskRouter) == []
    out = d.send(
        ev.RouterReplied(request_id=first.request_id, body=reply(("c1", [agent_entry("a1")])))
    )
    second = ask(out)
    assert second.request_id != first.request_id
    assert [c["callId"] for c in second.body["calls"]] == ["c2", "c3"]
    assert d.offers(out) == [("c1", "a1")]  # c2 and c3 wait for their own answer


def test_a_failed_request_also_sends_the_backlog() -> None:
    d = router_driver()
    first = ask(d.arrive("c1"))
    d.arrive("c2")
    out = d.send(ev.RouterFailed(request_id=first.request_id, reason="connection refused"))
    assert [c["callId"] for c in ask(out).body["calls"]] == ["c2"]
    assert d.offers(out) == [("c1", "a1")]  # c1 by groups


# -- the reply -----------------------------------------------------------------------------------


def test_listed_agents_are_tried_in_order_each_with_its_own_timeout_and_reach() -> None:
    d = router_driver()
    d.offline("a2")  # the reply reaches a2 on the phone: being offline in the app is no matter
    request = ask(d.arrive("c1", at=0.0))
    body = reply(
        (
            "c1",
            [
                agent_entry("a2", routing=2, timeout=15, phone="+84909992666"),
                agent_entry("a3", routing=1, timeout=10),
            ],
        )
    )
    out = d.send(ev.RouterReplied(request_id=request.request_id, body=body), at=1.0)
    offer = one(out, cmd.OfferCall)
    assert (offer.agent_id, offer.timeout_s) == ("a2", 15)
    assert offer.routing_type is RoutingType.PHONE
    assert offer.phone_number == "+84909992666"
    assert d.timers[d.timer(TimerKind.OFFER, "c1")] == 16.0

    out = d.fire(TimerKind.OFFER, "c1")  # a2 lets it ring: the next one of the list
    offer = one(out, cmd.OfferCall)
    assert (offer.agent_id, offer.timeout_s, offer.routing_type) == ("a3", 10, RoutingType.APP)
    assert d.timers[d.timer(TimerKind.OFFER, "c1")] == 26.0

    out = d.answer("c1", "a3", at=20.0)
    assert one(out, cmd.Bridge).agent_id == "a3"
    decisions = d.call("c1").decisions
    assert [(x.rule, x.chosen) for x in decisions] == [
        ("router_list", ("a2",)),
        ("router_list", ("a3",)),
    ]


def test_a_phone_number_missing_from_the_reply_comes_from_the_agent() -> None:
    d = router_driver()
    request = ask(d.arrive("c1"))
    body = reply(("c1", [agent_entry("a2", routing=2, timeout=12)]))
    offer = one(d.send(ev.RouterReplied(request_id=request.request_id, body=body)), cmd.OfferCall)
    assert (offer.agent_id, offer.phone_number) == ("a2", "+84900000002")


@pytest.mark.parametrize(
    "make_unfit",
    [
        pytest.param(lambda d: _busy(d, "a1"), id="busy"),
        pytest.param(lambda d: d.status("a1", "LUNCH"), id="not_available"),
        pytest.param(lambda d: d.offline("a1"), id="offline_app"),
    ],
)
def test_a_listed_agent_who_cannot_take_the_call_is_skipped(make_unfit: Any) -> None:
    d = router_driver()
    make_unfit(d)
    request = ask(d.arrive("c1"))
    body = reply(("c1", [agent_entry("a1", timeout=5), agent_entry("a3", timeout=7)]))
    out = d.send(ev.RouterReplied(request_id=request.request_id, body=body))
    assert d.offers(out) == [("c1", "a3")]


def _busy(d: Driver, agent_id: str) -> None:
    """Put the agent on a call of the same queue, through the router."""
    request = ask(d.arrive("busy-call"))
    body = reply(("busy-call", [agent_entry(agent_id)]))
    d.send(ev.RouterReplied(request_id=request.request_id, body=body))
    d.answer("busy-call", agent_id)
    assert d.engine.agents[agent_id].activity is AgentActivity.ON_CALL


@pytest.mark.parametrize(
    ("unfit", "fit", "entry"),
    [
        (lambda d: _busy(d, "a1"), lambda d: d.hangup("busy-call"), agent_entry("a1")),
        (
            lambda d: d.status("a1", "LUNCH"),
            lambda d: d.status("a1", "AVAILABLE"),
            agent_entry("a1"),
        ),
        (lambda d: d.offline("a1"), lambda d: d.online("a1"), agent_entry("a1")),
        (
            lambda d: None,
            lambda d: d.send(
                ev.AgentReachChanged(
                    agent_id="a1", phone_number="+8490", routing_type=RoutingType.APP
                )
            ),
            agent_entry("a1", routing=2),  # by phone, but a1 has no number yet
        ),
    ],
    ids=["busy", "not_available", "offline", "no_phone"],
)
def test_a_call_whose_listed_agents_cannot_take_it_waits_for_them(
    unfit: Any, fit: Any, entry: dict[str, Any]
) -> None:
    d = router_driver()
    unfit(d)
    request = ask(d.arrive("c1"))
    out = d.send(ev.RouterReplied(request_id=request.request_id, body=reply(("c1", [entry]))))
    assert of(out, cmd.OfferCall) == []  # a2 and a3 are idle but not on c1's list
    assert d.call("c1").router_status is RouterStatus.LISTED
    mark = len(d.log)
    fit(d)
    assert d.offers(d.log[mark:]) == [("c1", "a1")]


def test_when_every_listed_agent_missed_the_call_the_list_starts_over() -> None:
    d = router_driver()
    request = ask(d.arrive("c1"))
    body = reply(("c1", [agent_entry("a1"), agent_entry("a2")]))
    d.send(ev.RouterReplied(request_id=request.request_id, body=body))
    assert d.offers(d.reject("c1", "a1")) == [("c1", "a2")]
    assert d.offers(d.reject("c1", "a2")) == [("c1", "a1")]  # never a3: it is not listed
    assert d.call("c1").state is CallState.OFFERING


# -- falling back to group routing ---------------------------------------------------------------


MALFORMED: list[Any] = [
    pytest.param(None, id="null"),
    pytest.param([], id="not_an_object"),
    pytest.param("version 2", id="string"),
    pytest.param({"calls": []}, id="no_version"),
    pytest.param({"version": 1, "calls": []}, id="version_1"),
    pytest.param({"version": "2", "calls": []}, id="version_string"),
    pytest.param({"version": 2}, id="no_calls"),
    pytest.param({"version": 2, "calls": {"c1": []}}, id="calls_not_a_list"),
    pytest.param({"version": 2, "calls": ["c1"]}, id="call_not_an_object"),
    pytest.param({"version": 2, "calls": [{"agents": []}]}, id="no_call_id"),
    pytest.param({"version": 2, "calls": [{"callId": 7, "agents": []}]}, id="call_id_not_str"),
    pytest.param({"version": 2, "calls": [{"callId": "c1"}]}, id="no_agents"),
    pytest.param({"version": 2, "calls": [{"callId": "c1", "agents": "a1"}]}, id="agents_str"),
    pytest.param(reply(("c1", ["a1"])), id="agent_not_an_object"),
    pytest.param(
        reply(("c1", [{"routing_type": 1, "answer_timeout": 5}])), id="no_stringee_user_id"
    ),
    pytest.param(reply(("c1", [agent_entry("")])), id="empty_user_id"),
    pytest.param(reply(("c1", [agent_entry("a1", routing=3)])), id="bad_routing_type"),
    pytest.param(
        reply(("c1", [{"stringee_user_id": "a1", "answer_timeout": 5}])), id="no_routing_type"
    ),
    pytest.param(
        reply(("c1", [{"stringee_user_id": "a1", "routing_type": True, "answer_timeout": 5}])),
        id="routing_type_bool",
    ),
    pytest.param(reply(("c1", [agent_entry("a1", timeout=-5)])), id="negative_timeout"),
    pytest.param(reply(("c1", [agent_entry("a1", timeout=0)])), id="zero_timeout"),
    pytest.param(
        reply(("c1", [{"stringee_user_id": "a1", "routing_type": 1, "answer_timeout": "15"}])),
        id="timeout_string",
    ),
    pytest.param(reply(("c1", [{"stringee_user_id": "a1", "routing_type": 1}])), id="no_timeout"),
    pytest.param(reply(("c1", [agent_entry("a1", phone=849)])), id="phone_not_str"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("body", MALFORMED)
def test_parse_reply_rejects_malformed_bodies(body: Any) -> None:
    with pytest.raises(MalformedReply):
        parse_reply(body)


def test_parse_reply_reads_the_seed_example() -> None:
    body = {
        "version": 2,
        "calls": [
            {
                "callId": "call-1",
                "agents": [
                    agent_entry("agent_1", routing=2, timeout=15, phone="84909992666"),
                    agent_entry("agent_2", routing=1, timeout=10, phone="84909992666"),
                ],
            },
            {"callId": "call-2", "agents": [agent_entry("agent_1", routing=2, timeout=15)]},
        ],
    }
    assert parse_reply(body) == {
        "call-1": (
            ListedAgent(
                agent_id="agent_1",
                routing_type=RoutingType.PHONE,
                phone_number="84909992666",
                answer_timeout_s=15.0,
            ),
            ListedAgent(
                agent_id="agent_2",
                routing_type=RoutingType.APP,
                phone_number="84909992666",
                answer_timeout_s=10.0,
            ),
        ),
        "call-2": (
            ListedAgent(
                agent_id="agent_1",
                routing_type=RoutingType.PHONE,
                phone_number=None,
                answer_timeout_s=15.0,
            ),
        ),
    }


def test_parse_reply_names_the_bad_field() -> None:
    with pytest.raises(MalformedReply, match=r"calls\[0\]\.agents\[1\]\.answer_timeout"):
        parse_reply(reply(("c1", [agent_entry("a1"), agent_entry("a2", timeout=-1)])))


def _timeout(d: Driver, request_id: str) -> None:
    d.fire(TimerKind.ROUTER, request_id)


def _failed(d: Driver, request_id: str) -> None:
    d.send(ev.RouterFailed(request_id=request_id, reason="HTTP 500"))


def _replied(body: Any) -> Any:
    return lambda d, request_id: d.send(ev.RouterReplied(request_id=request_id, body=body))


FALLBACKS: list[Any] = [
    pytest.param(_timeout, id="no_reply_in_time"),
    pytest.param(_failed, id="router_failed"),
    *[
        pytest.param(_replied(p.values[0]), id=f"malformed_{p.id}")
        for p in MALFORMED
        if p.id in {"not_an_object", "version_1", "calls_not_a_list", "bad_routing_type"}
        or p.id in {"negative_timeout", "agent_not_an_object"}
    ],
    pytest.param(_replied(reply()), id="call_left_out"),
    pytest.param(_replied(reply(("other", [agent_entry("a3")]))), id="only_another_call"),
    pytest.param(_replied(reply(("c1", []))), id="empty_agent_list"),
]


@pytest.mark.parametrize("outcome", FALLBACKS)
def test_no_usable_reply_falls_back_to_group_routing(outcome: Any) -> None:
    d = router_driver()
    request = ask(d.arrive("c1"))
    mark = len(d.log)
    outcome(d, request.request_id)
    assert d.offers(d.log[mark:]) == [("c1", "a1")]  # linear over g1
    call = d.call("c1")
    assert call.router_status is RouterStatus.FALLBACK
    assert [x.rule for x in call.decisions] == ["router_fallback", "linear"]
    assert not d.has_timer(TimerKind.ROUTER, request.request_id)
    assert d.engine.queues["q1"].router_request is None


def test_a_malformed_reply_is_traced_with_its_reason() -> None:
    d = router_driver()
    request = ask(d.arrive("c1"))
    d.send(ev.RouterReplied(request_id=request.request_id, body={"version": 1, "calls": []}))
    fallback = d.call("c1").decisions[0]
    assert fallback.rule == "router_fallback"
    assert "version" in fallback.note


def test_a_reply_listing_some_calls_falls_back_only_for_the_others() -> None:
    d = router_driver()
    first = ask(d.arrive("c1"))
    d.arrive("c2")
    d.arrive("c3")
    out = d.send(
        ev.RouterReplied(request_id=first.request_id, body=reply(("c1", [agent_entry("a3")])))
    )
    second = ask(out)
    body = reply(("c3", [agent_entry("a2")]))  # c2 is left out
    out = d.send(ev.RouterReplied(request_id=second.request_id, body=body))
    assert sorted(d.offers(out)) == [("c2", "a1"), ("c3", "a2")]
    assert d.call("c2").router_status is RouterStatus.FALLBACK
    assert d.call("c3").router_status is RouterStatus.LISTED
    assert d.call("c2").decisions[0].note == "the reply lists no agent for this call"


@pytest.mark.parametrize("first", [_timeout, _failed], ids=["after_timeout", "after_failure"])
def test_a_late_reply_is_ignored(first: Any) -> None:
    d = router_driver()
    request = ask(d.arrive("c1"))
    first(d, request.request_id)
    assert d.call("c1").offered_to == ["a1"]
    body = reply(("c1", [agent_entry("a3")]))
    out = d.send(ev.RouterReplied(request_id=request.request_id, body=body))
    assert of(out, cmd.OfferCall) == []
    assert of(out, cmd.CancelOffer) == []
    assert d.call("c1").offered_to == ["a1"]
    assert d.call("c1").router_status is RouterStatus.FALLBACK


def test_a_router_timer_after_the_reply_is_ignored() -> None:
    d = router_driver()
    request = ask(d.arrive("c1"))
    timer = d.timer(TimerKind.ROUTER, request.request_id)
    body = reply(("c1", [agent_entry("a3")]))
    d.send(ev.RouterReplied(request_id=request.request_id, body=body))
    out = d.send(ev.TimerFired(timer=timer), at=10.0)
    assert out == []
    assert d.call("c1").offered_to == ["a3"]


def test_an_unknown_request_id_changes_nothing() -> None:
    d = router_driver()
    request = ask(d.arrive("c1"))
    out = d.send(ev.RouterReplied(request_id="nope", body=reply(("c1", [agent_entry("a1")]))))
    assert out == []
    out = d.send(ev.RouterFailed(request_id="nope", reason="x"))
    assert out == []
    assert d.engine.queues["q1"].router_request == request.request_id


# -- the call is never lost ----------------------------------------------------------------------


def test_a_caller_who_leaves_while_the_router_thinks_gets_one_record() -> None:
    d = router_driver()
    request = ask(d.arrive("c1", at=0.0))
    d.hangup("c1", at=2.0)
    out = d.send(
        ev.RouterReplied(request_id=request.request_id, body=reply(("c1", [agent_entry("a1")]))),
        at=2.5,
    )
    assert of(out, cmd.OfferCall) == []
    record = d.record("c1")
    assert record.result is Result.ABANDONED_IN_QUEUE
    assert record.wait_s == 2.0


def test_with_no_agent_at_all_a_fallen_back_call_waits_and_ends_with_a_record() -> None:
    d = router_driver()
    for agent_id in ("a1", "a2", "a3"):
        d.offline(agent_id)
    request = ask(d.arrive("c1", at=0.0))
    d.send(ev.RouterReplied(request_id=request.request_id, body="garbage"), at=1.0)
    assert d.call("c1").state is CallState.QUEUED
    assert d.offers(d.online("a2", at=5.0)) == [("c1", "a2")]
    d.answer("c1", "a2", at=6.0)
    d.hangup("c1", at=20.0)
    record = d.record("c1")
    assert (record.result, record.agent_id, record.answered_at) == (Result.ANSWERED, "a2", 6.0)
    assert [x.rule for x in record.decisions] == ["router_fallback", "linear"]
