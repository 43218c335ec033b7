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
from helpline.core.errors import Conflict, IllegalTransition, NotFound

Out = dl.Outcome
RULES = dl.Rules(
    max_attempts=3,
    retry_delay_s={Out.BUSY: 60.0, Out.NO_ANSWER: 120.0},
    caller_id="+18005550000",
    answer_timeout_s=20.0,
)


def summary(command: dl.DialerCommand) -> tuple[Any, ...] | None:
    """The table form of a command; None for store commands."""
    if isinstance(command, dl.Dial):
        return ("dial", command.number_id, command.agent_id)
    if isinstance(command, dl.EndCall):
        return ("end", command.call_id, command.reason)
    if isinstance(command, dl.WakeAt):
        return ("wake", command.at)
    if isinstance(command, dl.AgentConnected):
        return ("connected", command.connection.agent_id, command.connection.number_id)
    if isinstance(command, dl.AgentLoggedOut):
        return ("logged_out", command.agent_id, command.reason)
    if isinstance(command, dl.SaveCampaign):
        return ("campaign", command.status.value)
    return None


def cid(number_id: int, dials: int = 1) -> str:
    return f"cf-7-{number_id}-{dials}"


def numbers(*values: str) -> dl.NumbersAdded:
    return dl.NumbersAdded(numbers=tuple((v, {}) for v in values))


def login(agent: str, available: bool = True) -> dl.AgentLoggedIn:
    return dl.AgentLoggedIn(agent_id=agent, available=available)


def ended(number_id: int, outcome: dl.Outcome, dials: int = 1) -> dl.CallEnded:
    return dl.CallEnded(call_id=cid(number_id, dials), outcome=outcome)


def connected(number_id: int, dials: int = 1) -> dl.CallConnected:
    return dl.CallConnected(call_id=cid(number_id, dials))


def respond(agent: str, number_id: int, last: bool = False) -> dl.ResponseStored:
    return dl.ResponseStored(agent_id=agent, call_id=cid(number_id), last_call=last)


START = dl.StartRequested()
STOP = dl.StopRequested()
TICK = dl.Tick()

Step = tuple[float, dl.DialerEvent, list[tuple[Any, ...]]]


def play(steps: list[Step], dialer: dl.Dialer | None = None) -> dl.Dialer:
    dialer = dialer or dl.Dialer("7", RULES)
    for index, (now, event, expected) in enumerate(steps):
        got = [s for s in map(summary, dialer.handle(event, now)) if s is not None]
        assert got == expected, f"step {index} ({event}): {got} != {expected}"
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
        (2, dl.AgentAvailability(agent_id="alice", available=True), [("dial", 2, "alice")]),
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
        (21, dl.AgentAvailability(agent_id="bob", available=True), [("dial", 1, "bob")]),
    ],
    "the engine refused the dial: the number is due again, the agent waits": [
        (0, numbers("+1001"), []),
        (0, login("alice"), []),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (0, dl.DialRefused(call_id=cid(1), reason="agent alice is reserved"), []),
        (9, dl.AgentAvailability(agent_id="alice", available=True), [("dial", 1, "alice")]),
    ],
    "kick while dialing ends the call; the number goes back to the line": [
        (0, numbers("+1001", "+1002"), []),
        (0, login("alice"), []),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (
            5,
            dl.AgentKicked(agent_id="alice"),
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
    attempt = next(c for c in commands if isinstance(c, dl.SaveAttempt))
    assert (attempt.call_id, attempt.outcome, attempt.at) == (cid(1), Out.BUSY, 10)
    saved = next(c for c in commands if isinstance(c, dl.SaveNumber)).number
    assert (saved.state, saved.attempts, saved.outcome, saved.due_at) == (
        dl.NumberState.PENDING,
        1,
        Out.BUSY,
        70.0,
    )
    # the store hears of the number before the dial is placed (a restart never loses a dial)
    commands = dialer.handle(TICK, 70)
    kinds = [type(c) for c in commands]
    assert kinds.index(dl.SaveNumber) < kinds.index(dl.Dial)


def test_the_response_is_stored_with_the_connection() -> None:
    dialer = play(
        [
            (0, numbers("+1001"), []),
            (0, login("alice"), []),
            (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
            (5, connected(1), [("connected", "alice", 1)]),
        ]
    )
    assert dialer.connection_of("alice") == dl.Connection(
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
    saved = [c for c in dialer.handle(event, 9) if isinstance(c, dl.SaveResponse)]
    assert saved == [
        dl.SaveResponse(
            call_id=cid(1),
            number_id=1,
            agent_id="alice",
            disposition="sale",
            notes="call back Friday",
        )
    ]
    assert dialer.connection_of("alice") is None  # ended on its way: wait for the next one


REFUSED: dict[str, tuple[list[Step], dl.DialerEvent, type[Exception], str]] = {
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
        dl.ResponseStored(agent_id="alice", call_id="cf-7-9-1", last_call=False),
        NotFound,
        "callId",
    ),
    "kick an agent that is not logged in": ([], dl.AgentKicked(agent_id="x"), NotFound, "agentId"),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_wrong_requests_are_refused_and_change_nothing(
    case: tuple[list[Step], dl.DialerEvent, type[Exception], str],
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
        ("failed", "system_restart", Out.FAILED),
        ("failed", "agent_no_answer", Out.NOT_DIALED),
        ("failed", "agent_rejected", Out.NOT_DIALED),
        ("failed", "api_hangup", Out.NOT_DIALED),
    ],
)
def test_outcome_of_a_call_record(result: str, end_reason: str, outcome: dl.Outcome) -> None:
    assert dl.outcome_of(result, end_reason) is outcome


def test_a_restart_resumes_without_dialling_finished_numbers() -> None:
    stored = [
        dl.DialNumber(number_id=1, number="+1001", state=dl.NumberState.DONE, outcome=Out.ANSWERED),
        dl.DialNumber(number_id=2, number="+1002", state=dl.NumberState.DIALING, dials=1),
        dl.DialNumber(number_id=3, number="+1003", attempts=1, dials=1, due_at=500.0),
    ]
    dialer = dl.Dialer("7", RULES, status=dl.CampaignStatus.RUNNING, numbers=stored, now=100)
    got = [summary(c) for c in dialer.handle(login("alice"), 100)]
    assert [g for g in got if g] == [("dial", 2, "alice"), ("wake", 500.0)]
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
        (dl.NUMBER_TRANSITIONS, dl.NumberState.DONE, dl.NumberState.DIALING),
        (dl.AGENT_TRANSITIONS, dl.AgentMode.WRAP_UP, dl.AgentMode.DIALING),
        (dl.CAMPAIGN_TRANSITIONS, dl.CampaignStatus.SETUP, dl.CampaignStatus.FINISHED),
    ],
)
def test_the_tables_refuse_what_they_do_not_list(table: Any, current: Any, new: Any) -> None:
    assert new not in table[current]
    with pytest.raises(IllegalTransition):
        dl._advance(table, current, new, "subject")
