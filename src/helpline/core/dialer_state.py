"""The campaign dialer's bookkeeping (seed 003; `core.dialer`): its three transition tables,
a logged-in agent's session and the book of a campaign's numbers with their due times.

Split from `core.dialer` so that module reads as the decisions only: what follows each event.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final, TypeVar

from helpline.core.dialer_messages import (
    AgentMode,
    CampaignStatus,
    Connection,
    DialNumber,
    NumberState,
)
from helpline.core.errors import IllegalTransition

CAMPAIGN_TRANSITIONS: Final[dict[CampaignStatus, frozenset[CampaignStatus]]] = {
    CampaignStatus.SETUP: frozenset({CampaignStatus.RUNNING}),
    CampaignStatus.RUNNING: frozenset({CampaignStatus.STOPPED, CampaignStatus.FINISHED}),
    CampaignStatus.STOPPED: frozenset({CampaignStatus.RUNNING, CampaignStatus.FINISHED}),
    CampaignStatus.FINISHED: frozenset({CampaignStatus.RUNNING}),  # numbers were added
}
NUMBER_TRANSITIONS: Final[dict[NumberState, frozenset[NumberState]]] = {
    NumberState.PENDING: frozenset({NumberState.DIALING}),
    NumberState.DIALING: frozenset({NumberState.PENDING, NumberState.DONE}),
    NumberState.DONE: frozenset(),
}
AGENT_TRANSITIONS: Final[dict[AgentMode, frozenset[AgentMode]]] = {
    AgentMode.READY: frozenset({AgentMode.DIALING}),
    AgentMode.DIALING: frozenset({AgentMode.READY, AgentMode.CONNECTED}),
    AgentMode.CONNECTED: frozenset({AgentMode.WRAP_UP, AgentMode.CLOSING}),
    AgentMode.WRAP_UP: frozenset({AgentMode.READY}),
    AgentMode.CLOSING: frozenset({AgentMode.READY}),
}

S = TypeVar("S", CampaignStatus, NumberState, AgentMode)


def advance(table: dict[S, frozenset[S]], current: S, new: S, subject: str) -> S:
    """`new` if the table allows `current -> new`, else `IllegalTransition` (a bug)."""
    if new not in table[current]:
        raise IllegalTransition(f"{subject}: {current.value} -> {new.value} is not allowed")
    return new


@dataclass(slots=True)
class Session:
    """An agent logged in to a campaign."""

    agent_id: str
    available: bool
    since: float  # ready since: the longest-waiting agent is dialled for first
    line_up: bool  # its agent line is answered: only then is it dialled for
    mode: AgentMode = AgentMode.READY
    call_id: str | None = None
    connection: Connection | None = None
    last_call: bool = False


class NumberBook:
    """A campaign's numbers by id, the pending ones in a heap by due time (lazily cleaned:
    an entry whose number moved on or got another due time is skipped), and how many are not
    done yet (the campaign finishes at zero)."""

    def __init__(self) -> None:
        self.numbers: dict[int, DialNumber] = {}
        self.open = 0
        self._due: list[tuple[float, int]] = []

    def restore(self, numbers: Iterable[DialNumber], now: float) -> None:
        """Numbers as stored, after a restart: calls that were live are gone, so a number left
        dialing is due again at once (its in-flight dial is not counted as an attempt)."""
        for stored in numbers:
            live = stored.state is NumberState.DIALING
            self.put(
                replace(stored, state=NumberState.PENDING, call_id=None, due_at=now)
                if live
                else stored
            )

    def put(self, number: DialNumber) -> None:
        old = self.numbers.get(number.number_id)
        self.numbers[number.number_id] = number
        was_open = old is not None and old.state is not NumberState.DONE
        is_open = number.state is not NumberState.DONE
        self.open += int(is_open) - int(was_open)
        if number.state is NumberState.PENDING:
            heapq.heappush(self._due, (number.due_at, number.number_id))

    def earliest(self) -> DialNumber | None:
        """The pending number due first (in the order added among equals), due or not."""
        while self._due:
            due_at, number_id = self._due[0]
            number = self.numbers[number_id]
            if number.state is NumberState.PENDING and number.due_at == due_at:
                return number
            heapq.heappop(self._due)  # stale entry
        return None

    def take_due(self, now: float) -> DialNumber | None:
        """The earliest pending number if it is due at `now`, taken off the heap."""
        number = self.earliest()
        if number is None or number.due_at > now:
            return None
        heapq.heappop(self._due)
        return number
