"""The progressive dialer (seed 003; `helpline.core.dialer`), table-driven.

Each scenario is a table of steps: the time, the event, and the commands the dialer must
answer with, each summarised as a tuple (`Dial` -> ("dial", number id, agent), ...). Store
commands (`Save*`) are checked separately where they matter, so the tables read as the story.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from helpline.core import dialer as dl
from helpline.core import dialer_messages as dm
from helpline.core import dialer_state as ds
from helpline.core.errors import Conflict, IllegalTransition, NotFound

Out = dm.Outcome
RULES = dm.Rules(
    max_attempts=3,
    retry_delay_s={Out.BUSY: 60.0, Out.NO_ANSWER: 120.0},
    caller_id="+18005550000",
    answer_timeout_s=20.0,
)


def summary(command: dm.DialerCommand) -> tuple[Any, ...] | None:
    """The table form of a command; None for store commands."""
    if isinstance(command, dm.Dial):
        return ("dial", command.number_id, command.agent_id)
    if isinstance(command, dm.EndCall):
        return ("end", command.call_id, command.reason)
    if isinstance(command, dm.WakeAt):
        return ("wake", command.at)
    if isinstance(command, dm.AgentConnected):
        return ("connected", command.connection.agent_id, command.connection.number_id)
    if isinstance(command, dm.AgentLoggedOut):
        return ("logged_out", command.agent_id, command.reason)
    if isinstance(command, dm.SaveCampaign):
        return ("campaign", command.status.value)
    return None


def cid(number_id: int, dials: int = 1) -> str:
    return f"cf-7-{number_id}-{dials}"


def numbers(*values: str) -> dm.NumbersAdded:
    return dm.NumbersAdded(numbers=tuple((v, {}) for v in values))


def login(agent: str, available: bool = True) -> dm.AgentLoggedIn:
    return dm.AgentLoggedIn(agent_id=agent, available=available, line_up=True)


def ended(number_id: int, outcome: dm.Outcome, dials: int = 1) -> dm.CallEnded:
    return dm.CallEnded(call_id=cid(number_id, dials), outcome=outcome)


def connected(number_id: int, dials: int = 1) -> dm.CallConnected:
    return dm.CallConnected(call_id=cid(number_id, dials))


def respond(agent: str, number_id: int, last: bool = False) -> dm.ResponseStored:
    return dm.ResponseStored(agent_id=agent, call_id=cid(number_id), last_call=last)


START = dm.StartRequested()
STOP = dm.StopRequested()
TICK = dm.Tick()

Step = tuple[float, dm.DialerEvent, list[tuple[Any, ...]]]


def play(
    steps: list[Step], dialer: dl.Dialer | None = None, *, agents_answer: bool = True
) -> dl.Dialer:
    """Play the steps; with `agents_answer` each dial's agent takes the call at once and the
    customer is dialled (`CustomerDialed`, as a sandbox device does), so the tables read as
    the customer's story."""
    dialer = dialer or dl.Dialer("7", RULES)
    for index, (now, event, expected) in enumerate(steps):
        commands = dialer.handle(event, now)
        got = [s for s in map(summary, commands) if s is not None]
        assert got == expected, f"step {index} ({event}): {got} != {expected}"
        for dial in (c for c in commands if isinstance(c, dm.Dial) and agents_answer):
            assert dialer.handle(dm.CustomerDialed(call_id=dial.call_id), now) == []
    return dialer


SCENARIOS: dict[str, list[Step]] = {
    "progressive: one dial per ready agent, longest waiting first, numbers in order": [
        (0, numbers("+1001", "+1002", "+1003"), []),
        (1, login("bob"), []),
        (2, login("alice"), []),
        (3, START, [("campaign", "running"), ("dial", 1, "bob"), ("dial", 2, "alice")]),
    ],
    "nothing is dialled before start, or for an agent the engine has busy": [
        (0, numbers("+1001", "+1002"), []),
        (0, login("alice", available=False), []),
        (0, login("bob"), []),
        (1, START, [("campaign", "running"), ("dial", 1, "bob")]),
        (2, dm.AgentAvailability(agent_id="alice", available=True), [("dial", 2, "alice")]),
    ],
    "answered: connected, then wrap-up until the response, then the next number": [
        (0, numbers("+1001", "+1002"), []),
        (0, login("alice"), []),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (5, connected(1), [("connected", "alice", 1)]),
        (60, ended(1, Out.ANSWERED), []),  # wrap-up: no dial until the response
        (70, respond("alice", 1), [("dial", 2, "alice")]),
    ],
    "Next Call while still talking ends the call first": [
        (0, numbers("+1001", "+1002"), []),
        (0, login("alice"), []),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (5, connected(1), [("connected", "alice", 1)]),
        (30, respond("alice", 1), [("end", cid(1), "agent_next_call")]),
        (31, ended(1, Out.ANSWERED), [("dial", 2, "alice")]),
    ],
    "lastcall: the agent leaves the campaign after its last call": [
        (0, numbers("+1001", "+1002"), []),
        (0, login("alice"), []),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (5, connected(1), [("connected", "alice", 1)]),
        (60, ended(1, Out.ANSWERED), []),
        (70, respond("alice", 1, last=True), [("logged_out", "alice", "last_call")]),
    ],
    "busy is retried after its delay until max attempts, then final": [
        (0, numbers("+1001"), []),
        (0, login("alice"), []),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (10, ended(1, Out.BUSY), [("wake", 70.0)]),
        (40, TICK, []),  # not due yet
        (70, TICK, [("dial", 1, "alice")]),
        (75, ended(1, Out.BUSY, dials=2), [("wake", 135.0)]),
        (135, TICK, [("dial", 1, "alice")]),
        (140, ended(1, Out.BUSY, dials=3), [("campaign", "finished")]),
    ],
    "no answer waits its own delay; a failure is final at once": [
        (0, numbers("+1001", "+1002"), []),
        (0, login("alice"), []),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (10, ended(1, Out.NO_ANSWER), [("dial", 2, "alice"), ("wake", 130.0)]),
        (20, ended(2, Out.FAILED), []),
        (130, TICK, [("dial", 1, "alice")]),
        (140, connected(1, dials=2), [("connected", "alice", 1)]),
        (150, ended(1, Out.ANSWERED, dials=2), [("campaign", "finished")]),
    ],
    "stop: no new dials, the call in progress finishes; start resumes": [
        (0, numbers("+1001", "+1002"), []),
        (0, login("alice"), []),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (5, STOP, [("campaign", "stopped")]),
        (10, ended(1, Out.BUSY), []),  # no retry timer while stopped, no next dial
        (20, START, [("campaign", "running"), ("dial", 2, "alice"), ("wake", 70.0)]),
    ],
    "the agent's phone did not answer: not an attempt; the agent leaves": [
        (0, numbers("+1001"), []),
        (0, login("alice"), []),
        (0, login("bob", available=False), []),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (20, ended(1, Out.NOT_DIALED), [("logged_out", "alice", "agent_no_answer")]),
        (21, dm.AgentAvailability(agent_id="bob", available=True), [("dial", 1, "bob")]),
    ],
    "the engine refused the dial: the number is due again, the agent waits": [
        (0, numbers("+1001"), []),
        (0, login("alice"), []),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (0, dm.DialRefused(call_id=cid(1), reason="agent alice is reserved"), []),
        (9, dm.AgentAvailability(agent_id="alice", available=True), [("dial", 1, "alice")]),
    ],
    "kick while dialing ends the call; the number goes back to the line": [
        (0, numbers("+1001", "+1002"), []),
        (0, login("alice"), []),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (
            5,
            dm.AgentKicked(agent_id="alice"),
            [("end", cid(1), "agent_kicked"), ("logged_out", "alice", "kicked")],
        ),
        (6, login("alice"), []),  # its old call is not over yet: never two calls
        (7, ended(1, Out.NOT_DIALED), [("dial", 2, "alice")]),  # due earliest, dialled first
        (8, ended(2, Out.FAILED), [("dial", 1, "alice")]),
    ],
    "a campaign with every number done finishes; new numbers reopen it": [
        (0, numbers("+1001"), []),
        (0, login("alice"), []),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (9, ended(1, Out.FAILED), [("campaign", "finished")]),
        (10, numbers("+1002"), [("campaign", "running"), ("dial", 2, "alice")]),
    ],
}


@pytest.mark.parametrize("steps", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_dialer_scenario(steps: list[Step]) -> None:
    play(steps)


def test_attempts_and_outcomes_are_stored_as_they_happen() -> None:
    dialer = play(
        [
            (0, numbers("+1001"), []),
            (0, login("alice"), []),
            (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        ]
    )
    commands = dialer.handle(ended(1, Out.BUSY), 10)
    attempt = next(c for c in commands if isinstance(c, dm.SaveAttempt))
    assert (attempt.call_id, attempt.outcome, attempt.at) == (cid(1), Out.BUSY, 10)
    saved = next(c for c in commands if isinstance(c, dm.SaveNumbers)).numbers[0]
    assert (saved.state, saved.attempts, saved.outcome, saved.due_at) == (
        dm.NumberState.PENDING,
        1,
        Out.BUSY,
        70.0,
    )
    # the store hears of the number before the dial is placed (a restart never loses a dial)
    commands = dialer.handle(TICK, 70)
    kinds = [type(c) for c in commands]
    assert kinds.index(dm.SaveNumbers) < kinds.index(dm.Dial)


def test_the_response_is_stored_with_the_connection() -> None:
    dialer = play(
        [
            (0, numbers("+1001"), []),
            (0, login("alice"), []),
            (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
            (5, connected(1), [("connected", "alice", 1)]),
        ]
    )
    assert dialer.connection_of("alice") == dm.Connection(
        call_id=cid(1),
        campaign_id="7",
        agent_id="alice",
        number_id=1,
        number="+1001",
        attempt=1,
        data={},
        connected_at=5,
    )
    event = replace(respond("alice", 1), disposition="sale", notes="call back Friday")
    saved = [c for c in dialer.handle(event, 9) if isinstance(c, dm.SaveResponse)]
    assert saved == [
        dm.SaveResponse(
            call_id=cid(1),
            number_id=1,
            agent_id="alice",
            disposition="sale",
            notes="call back Friday",
        )
    ]
    assert dialer.connection_of("alice") is None  # ended on its way: wait for the next one


REFUSED: dict[str, tuple[list[Step], dm.DialerEvent, type[Exception], str]] = {
    "log in twice": ([(0, login("alice"), [])], login("alice"), Conflict, "agentId"),
    "respond without a connection": (
        [(0, login("alice"), [])],
        respond("alice", 1),
        Conflict,
        "callId",
    ),
    "respond for another call": (
        [
            (0, numbers("+1001"), []),
            (0, login("alice"), []),
            (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
            (1, connected(1), [("connected", "alice", 1)]),
        ],
        dm.ResponseStored(agent_id="alice", call_id="cf-7-9-1", last_call=False),
        NotFound,
        "callId",
    ),
    "kick an agent that is not logged in": ([], dm.AgentKicked(agent_id="x"), NotFound, "agentId"),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_wrong_requests_are_refused_and_change_nothing(
    case: tuple[list[Step], dm.DialerEvent, type[Exception], str],
) -> None:
    steps, event, error, field = case
    dialer = play(steps)
    before = (dict(dialer.numbers), {k: replace(v) for k, v in dialer.sessions.items()})
    with pytest.raises(error) as raised:
        dialer.handle(event, 50)
    assert getattr(raised.value, "details", {}).get("field") == field
    assert (dict(dialer.numbers), dict(dialer.sessions)) == before


@pytest.mark.parametrize(
    ("result", "end_reason", "outcome"),
    [
        ("answered", "customer_hangup", Out.ANSWERED),
        ("failed", "busy", Out.BUSY),
        ("failed", "no_answer", Out.NO_ANSWER),
        ("failed", "failed", Out.FAILED),
        ("failed", "agent_hangup", Out.NO_ANSWER),  # cut while the customer's phone rang
        ("failed", "api_hangup", Out.NO_ANSWER),
    ],
)
def test_outcome_of_a_call_record(result: str, end_reason: str, outcome: dm.Outcome) -> None:
    assert dm.outcome_of(result, end_reason) is outcome


@pytest.mark.parametrize("reason", ["system_hangup", "api_hangup", "failed", "agent_no_answer"])
def test_a_call_that_ends_before_the_customer_is_dialled_is_not_an_attempt(reason: str) -> None:
    """Whatever the record's reason (S1: a kick while the agent's phone rang gave
    CARRIER_ERROR), the customer never saw the dial: the number is due again, uncounted."""
    dialer = play(
        [
            (0, numbers("+1001"), []),
            (0, login("alice"), []),
            (0, login("bob"), []),
            (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        ],
        agents_answer=False,
    )
    outcome = dm.outcome_of("failed", reason)
    commands = dialer.handle(dm.CallEnded(call_id=cid(1), outcome=outcome), 3)
    attempt = next(c for c in commands if isinstance(c, dm.SaveAttempt))
    assert attempt.outcome is Out.NOT_DIALED
    assert (dialer.numbers[1].attempts, dialer.numbers[1].outcome) == (0, None)
    assert [s for s in map(summary, commands) if s] == [
        ("logged_out", "alice", "agent_no_answer"),
        ("dial", 1, "bob"),
    ]


def test_kicked_while_its_phone_rings_the_number_is_dialled_again() -> None:
    dialer = play(
        [
            (0, numbers("+1001"), []),
            (0, login("alice"), []),
            (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
            (
                1,
                dm.AgentKicked(agent_id="alice"),
                [("end", cid(1), "agent_kicked"), ("logged_out", "alice", "kicked")],
            ),
            (2, ended(1, dm.outcome_of("failed", "system_hangup")), []),
            (3, login("bob"), [("dial", 1, "bob")]),
        ],
        agents_answer=False,
    )
    assert dialer.numbers[1].attempts == 0
    assert dialer.numbers[1].dials == 2


def test_kicked_while_the_customer_rings_the_dial_does_not_count() -> None:
    """The dialer ended the call itself: the customer's number is not to blame."""
    dialer = play(
        [
            (0, numbers("+1001"), []),
            (0, login("alice"), []),
            (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
            (
                1,
                dm.AgentKicked(agent_id="alice"),
                [("end", cid(1), "agent_kicked"), ("logged_out", "alice", "kicked")],
            ),
            (2, ended(1, Out.FAILED), []),
        ],
    )
    assert (dialer.numbers[1].state, dialer.numbers[1].attempts) == (dm.NumberState.PENDING, 0)


def test_a_dialled_customer_that_fails_is_final() -> None:
    dialer = play(
        [
            (0, numbers("+1001"), []),
            (0, login("alice"), []),
            (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
            (2, ended(1, Out.FAILED), [("campaign", "finished")]),
        ],
    )
    assert (dialer.numbers[1].outcome, dialer.numbers[1].attempts) == (Out.FAILED, 1)


def test_one_event_saves_its_numbers_in_one_batch() -> None:
    """S2: 2000 numbers added are one `SaveNumbers`, not 2000 writes."""
    dialer = dl.Dialer("7", RULES)
    commands = dialer.handle(numbers(*(f"+1{i:06d}" for i in range(2000))), 0)
    saves = [c for c in commands if isinstance(c, dm.SaveNumbers)]
    assert len(saves) == 1
    assert [n.number_id for n in saves[0].numbers] == list(range(1, 2001))


def test_a_restart_resumes_without_dialling_finished_numbers() -> None:
    stored = [
        dm.DialNumber(number_id=1, number="+1001", state=dm.NumberState.DONE, outcome=Out.ANSWERED),
        dm.DialNumber(number_id=2, number="+1002", state=dm.NumberState.DIALING, dials=1),
        dm.DialNumber(number_id=3, number="+1003", attempts=1, dials=1, due_at=500.0),
    ]
    dialer = dl.Dialer("7", RULES, status=dm.CampaignStatus.RUNNING, numbers=stored, now=100)
    got = [summary(c) for c in dialer.handle(login("alice"), 100)]
    assert [g for g in got if g] == [("dial", 2, "alice"), ("wake", 500.0)]
    dialer.handle(dm.CustomerDialed(call_id=cid(2, dials=2)), 100)
    play(
        [
            (101, ended(2, Out.FAILED, dials=2), []),  # number 3 is not due yet, 1 is done
            (500, TICK, [("dial", 3, "alice")]),
            (501, ended(3, Out.FAILED, dials=2), [("campaign", "finished")]),
        ],
        dialer,
    )
    assert dialer.numbers[1] == stored[0]  # never dialled again


@pytest.mark.parametrize(
    ("table", "current", "new"),
    [
        (ds.NUMBER_TRANSITIONS, dm.NumberState.DONE, dm.NumberState.DIALING),
        (ds.AGENT_TRANSITIONS, dm.AgentMode.WRAP_UP, dm.AgentMode.DIALING),
        (ds.CAMPAIGN_TRANSITIONS, dm.CampaignStatus.SETUP, dm.CampaignStatus.FINISHED),
    ],
)
def test_the_tables_refuse_what_they_do_not_list(table: Any, current: Any, new: Any) -> None:
    assert new not in table[current]
    with pytest.raises(IllegalTransition):
        ds.advance(table, current, new, "subject")
