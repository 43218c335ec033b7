"""The dialer with agent lines (seed 003, "How Call Center Connect Works from the Agent
Perspective"): an agent is dialled for only once its line is answered; it is put on hold
music when it logs in and after each response, before any dial of its; a line that fails or
that the agent hangs up logs it out, ending a call still on it. Tables like test_dialer's.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_dialer import RULES, START, Step, cid, connected, ended, numbers, respond, summary

from helpline.core import dialer as dl
from helpline.core import dialer_messages as dm

Out = dm.Outcome


def line_summary(command: dm.DialerCommand) -> tuple[Any, ...] | None:
    if isinstance(command, dm.HoldLine):
        return ("hold", command.agent_id)
    return summary(command)


def login(agent: str, *, line_up: bool) -> dm.AgentLoggedIn:
    return dm.AgentLoggedIn(agent_id=agent, available=True, line_up=line_up)


def up(agent: str) -> dm.LineUp:
    return dm.LineUp(agent_id=agent)


def busy(agent: str) -> dm.AgentAvailability:
    return dm.AgentAvailability(agent_id=agent, available=False)


def free(agent: str) -> dm.AgentAvailability:
    return dm.AgentAvailability(agent_id=agent, available=True)


def down(agent: str, reason: str) -> dm.LineDown:
    return dm.LineDown(agent_id=agent, reason=reason)


SCENARIOS: dict[str, list[Step]] = {
    "seed 003 steps 1-3: no dial before the line is answered, then hold music, then a dial": [
        (0, numbers("+1001"), []),
        (0, START, [("campaign", "running")]),
        (1, login("alice", line_up=False), []),  # logged in while its phone still rings
        (2, up("alice"), [("hold", "alice"), ("dial", 1, "alice")]),
    ],
    "a line answered before the login: hold music at the login": [
        (0, numbers("+1001"), []),
        (0, login("alice", line_up=True), [("hold", "alice")]),
        (1, START, [("campaign", "running"), ("dial", 1, "alice")]),
    ],
    "seed 003 step 6: hold music again after the response, before the next dial": [
        (0, numbers("+1001", "+1002"), []),
        (0, login("alice", line_up=True), [("hold", "alice")]),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (5, connected(1), [("connected", "alice", 1)]),
        (60, ended(1, Out.ANSWERED), []),  # step 5: no hold music while filling the screen
        (70, respond("alice", 1), [("hold", "alice"), ("dial", 2, "alice")]),
    ],
    "a busy customer: the agent never left hold music, the next number is dialled": [
        (0, numbers("+1001", "+1002"), []),
        (0, login("alice", line_up=True), [("hold", "alice")]),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (3, ended(1, Out.BUSY), [("dial", 2, "alice"), ("wake", 63.0)]),
    ],
    "lastcall: logged out, no hold music": [
        (0, numbers("+1001"), []),
        (0, login("alice", line_up=True), [("hold", "alice")]),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (5, connected(1), [("connected", "alice", 1)]),
        (60, ended(1, Out.ANSWERED), [("campaign", "finished")]),
        (70, respond("alice", 1, last=True), [("logged_out", "alice", "last_call")]),
    ],
    "the agent hangs up while talking: its call ends, it is logged out, the answer stands": [
        (0, numbers("+1001", "+1002"), []),
        (0, login("alice", line_up=True), [("hold", "alice")]),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (5, connected(1), [("connected", "alice", 1)]),
        (
            9,
            down("alice", "hung_up"),
            [("end", cid(1), "agent_line_closed"), ("logged_out", "alice", "line_hung_up")],
        ),
        (9, ended(1, Out.ANSWERED), []),
    ],
    "the line fails while the customer rings: the number is not charged an attempt": [
        (0, numbers("+1001"), []),
        (0, login("alice", line_up=True), [("hold", "alice")]),
        (0, START, [("campaign", "running"), ("dial", 1, "alice")]),
        (
            2,
            down("alice", "hung_up"),
            [("end", cid(1), "agent_line_closed"), ("logged_out", "alice", "line_hung_up")],
        ),
        (2, ended(1, Out.NO_ANSWER), []),  # we ended it: NOT_DIALED, due again at once
    ],
    "a line that never came up: logged out with its failure, nothing dialled": [
        (0, numbers("+1001"), []),
        (0, START, [("campaign", "running")]),
        (1, login("alice", line_up=False), []),
        (31, down("alice", "no_answer"), [("logged_out", "alice", "line_no_answer")]),
    ],
    "freed by the engine: hold music again before the next dial (a missed call's silence)": [
        (0, numbers("+1001"), []),
        (0, login("alice", line_up=True), [("hold", "alice")]),
        (1, busy("alice"), []),  # on another call, or wrapping one up, in the engine
        (1, START, [("campaign", "running")]),
        (5, free("alice"), [("hold", "alice"), ("dial", 1, "alice")]),
        (6, free("alice"), []),  # still free: nothing new
    ],
    "freed while its line still rings: no hold music yet": [
        (0, login("alice", line_up=False), []),
        (1, busy("alice"), []),
        (2, free("alice"), []),
    ],
    "a line event for an agent not logged in changes nothing": [
        (0, up("nobody"), []),
        (0, down("nobody", "busy"), []),
    ],
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    dialer = dl.Dialer("7", RULES)
    for index, (now, event, expected) in enumerate(SCENARIOS[name]):
        commands = dialer.handle(event, now)
        got = [s for s in map(line_summary, commands) if s is not None]
        assert got == expected, f"step {index} ({event}): {got} != {expected}"
        for dial in (c for c in commands if isinstance(c, dm.Dial)):
            assert dialer.handle(dm.CustomerDialed(call_id=dial.call_id), now) == []


def test_a_call_cut_by_the_line_leaves_its_number_due_again() -> None:
    dialer = dl.Dialer("7", RULES)
    for now, event, _ in SCENARIOS[
        "the line fails while the customer rings: the number is not charged an attempt"
    ]:
        commands = dialer.handle(event, now)
        for dial in (c for c in commands if isinstance(c, dm.Dial)):
            dialer.handle(dm.CustomerDialed(call_id=dial.call_id), now)
    number = dialer.numbers[1]
    assert (number.state, number.attempts, number.outcome) == (dm.NumberState.PENDING, 0, None)
    assert not dialer.calls and not dialer.sessions
