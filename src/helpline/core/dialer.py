"""The progressive dialer of an agent campaign (seed 003, CallFire Call Center Connect).

Sans-I/O like the engine: `dialer.handle(event, now)` applies one event at the time given and
returns commands (dial this number for this agent, end that call, store this, wake me at t).
Progressive: one line per ready agent. When a logged-in agent is ready (it has stored its
response to its last connection, seed 003 "After the Login") and the engine says it is idle
and available, the next number that is due is dialled for it and no other.

Three state machines, each a transition table: the campaign (setup, running, stopped,
finished), each number (pending, dialing, done) and each logged-in agent (ready, dialing,
connected, wrap_up, closing). Invariants (tests/core/test_dialer_props.py): never two live
calls for one agent or one number; no dial unless the campaign runs; a finished campaign has
every number done.

Retries (the campaign's rules): a busy or unanswered number is due again after the delay for
its outcome until `max_attempts` customer dials were made; an answer or a failure is final.
A dial the customer never saw (the agent's own phone did not answer, the engine refused it,
we ended it first) does not count as an attempt and is due again at once.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

from helpline.core.dialer_messages import (
    AgentAvailability,
    AgentConnected,
    AgentKicked,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentMode,
    CallConnected,
    CallEnded,
    CampaignStatus,
    Connection,
    Dial,
    DialerCommand,
    DialerEvent,
    DialNumber,
    DialRefused,
    EndCall,
    NumbersAdded,
    NumberState,
    Outcome,
    ResponseStored,
    Rules,
    SaveAttempt,
    SaveCampaign,
    SaveNumber,
    SaveResponse,
    StartRequested,
    StopRequested,
    Tick,
    WakeAt,
    outcome_of,
)
from helpline.core.errors import Conflict, IllegalTransition, NotFound

__all__ = [
    "AGENT_TRANSITIONS",
    "CAMPAIGN_TRANSITIONS",
    "NUMBER_TRANSITIONS",
    "AgentAvailability",
    "AgentConnected",
    "AgentKicked",
    "AgentLoggedIn",
    "AgentLoggedOut",
    "AgentMode",
    "CallConnected",
    "CallEnded",
    "CampaignStatus",
    "Connection",
    "Dial",
    "DialNumber",
    "DialRefused",
    "Dialer",
    "DialerCommand",
    "DialerEvent",
    "EndCall",
    "NumberState",
    "NumbersAdded",
    "Outcome",
    "ResponseStored",
    "Rules",
    "SaveAttempt",
    "SaveCampaign",
    "SaveNumber",
    "SaveResponse",
    "StartRequested",
    "StopRequested",
    "Tick",
    "WakeAt",
    "outcome_of",
]

CAMPAIGN_TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    CampaignStatus.SETUP: frozenset({CampaignStatus.RUNNING}),
    CampaignStatus.RUNNING: frozenset({CampaignStatus.STOPPED, CampaignStatus.FINISHED}),
    CampaignStatus.STOPPED: frozenset({CampaignStatus.RUNNING, CampaignStatus.FINISHED}),
    CampaignStatus.FINISHED: frozenset({CampaignStatus.RUNNING}),  # numbers were added
}
NUMBER_TRANSITIONS: dict[NumberState, frozenset[NumberState]] = {
    NumberState.PENDING: frozenset({NumberState.DIALING}),
    NumberState.DIALING: frozenset({NumberState.PENDING, NumberState.DONE}),
    NumberState.DONE: frozenset(),
}
AGENT_TRANSITIONS: dict[AgentMode, frozenset[AgentMode]] = {
    AgentMode.READY: frozenset({AgentMode.DIALING}),
    AgentMode.DIALING: frozenset({AgentMode.READY, AgentMode.CONNECTED}),
    AgentMode.CONNECTED: frozenset({AgentMode.WRAP_UP, AgentMode.CLOSING}),
    AgentMode.WRAP_UP: frozenset({AgentMode.READY}),
    AgentMode.CLOSING: frozenset({AgentMode.READY}),
}

S = TypeVar("S", CampaignStatus, NumberState, AgentMode)


def _advance(table: dict[S, frozenset[S]], current: S, new: S, subject: str) -> S:
    if new not in table[current]:
        raise IllegalTransition(f"{subject}: {current.value} -> {new.value} is not allowed")
    return new


@dataclass(slots=True)
class _Session:
    agent_id: str
    available: bool
    since: float  # ready since: the longest-waiting agent is dialled for first
    mode: AgentMode = AgentMode.READY
    call_id: str | None = None
    connection: Connection | None = None
    last_call: bool = False


class Dialer:
    """One campaign's dialer."""

    def __init__(
        self,
        campaign_id: str,
        rules: Rules,
        *,
        status: CampaignStatus = CampaignStatus.SETUP,
        numbers: Iterable[DialNumber] = (),
        now: float = 0.0,
    ) -> None:
        """`numbers` restores a campaign after a restart: calls that were live are gone, so a
        number left dialing is due again (its in-flight attempt is not counted)."""
        self.campaign_id = campaign_id
        self.rules = rules
        self.status = status
        self.now = now
        self.numbers: dict[int, DialNumber] = {}
        self.sessions: dict[str, _Session] = {}
        self.calls: dict[str, tuple[int, str]] = {}  # live call -> (number id, agent id)
        self._due: list[tuple[float, int]] = []  # heap of (due_at, number id), lazily cleaned
        self._open = 0  # numbers not done
        self._wake: float | None = None
        self._out: list[DialerCommand] = []
        for restored in numbers:
            if restored.state is NumberState.DIALING:
                self._put(replace(restored, state=NumberState.PENDING, call_id=None, due_at=now))
            else:
                self._put(restored)

    # -- queries ---------------------------------------------------------------------------------

    def connection_of(self, agent_id: str) -> Connection | None:
        """The connection the agent has not responded to yet, if any."""
        session = self.sessions.get(agent_id)
        if session is None or session.mode not in (AgentMode.CONNECTED, AgentMode.WRAP_UP):
            return None
        return session.connection

    def mode_of(self, agent_id: str) -> AgentMode | None:
        session = self.sessions.get(agent_id)
        return session.mode if session is not None else None

    # -- input -----------------------------------------------------------------------------------

    def handle(self, event: DialerEvent, now: float) -> list[DialerCommand]:
        self.now = max(self.now, now)
        out: list[DialerCommand] = []
        self._out = out
        try:
            self._apply(event)
            self._dispatch()
        finally:
            self._out = []
        return out

    def _apply(self, event: DialerEvent) -> None:
        if isinstance(event, NumbersAdded):
            self._add_numbers(event)
        elif isinstance(event, StartRequested):
            if self.status in (CampaignStatus.SETUP, CampaignStatus.STOPPED):
                self._set_status(CampaignStatus.RUNNING)
        elif isinstance(event, StopRequested):
            if self.status is CampaignStatus.RUNNING:
                self._set_status(CampaignStatus.STOPPED)
                self._wake = None
        elif isinstance(event, AgentLoggedIn):
            if event.agent_id in self.sessions:
                raise Conflict(
                    f"agent {event.agent_id} is already logged in to campaign {self.campaign_id}",
                    details={"field": "agentId"},
                )
            self.sessions[event.agent_id] = _Session(event.agent_id, event.available, self.now)
        elif isinstance(event, AgentAvailability):
            session = self.sessions.get(event.agent_id)
            if session is not None:
                session.available = event.available
        elif isinstance(event, DialRefused):
            self._call_over(event.call_id, Outcome.NOT_DIALED, refused=True)
        elif isinstance(event, CallConnected):
            self._connected(event.call_id)
        elif isinstance(event, CallEnded):
            if event.outcome is Outcome.ANSWERED:
                self._connected(event.call_id)  # in case the connect was never seen
            self._call_over(event.call_id, event.outcome, refused=False)
        elif isinstance(event, ResponseStored):
            self._response(event)
        elif isinstance(event, AgentKicked):
            session = self._session(event.agent_id)
            if session.call_id is not None and session.mode is not AgentMode.WRAP_UP:
                self._out.append(EndCall(call_id=session.call_id, reason="agent_kicked"))
            self._log_out(session, "kicked")
        # Tick: nothing to apply; the dispatch below dials whatever became due

    # -- numbers ---------------------------------------------------------------------------------

    def _put(self, number: DialNumber) -> None:
        old = self.numbers.get(number.number_id)
        self.numbers[number.number_id] = number
        if (old is None or old.state is NumberState.DONE) and number.state is not NumberState.DONE:
            self._open += 1
        elif (
            old is not None
            and old.state is not NumberState.DONE
            and number.state is (NumberState.DONE)
        ):
            self._open -= 1
        if number.state is NumberState.PENDING:
            heapq.heappush(self._due, (number.due_at, number.number_id))

    def _move(self, number: DialNumber, state: NumberState, **changes: object) -> DialNumber:
        _advance(NUMBER_TRANSITIONS, number.state, state, f"number {number.number_id}")
        moved = replace(number, state=state, **changes)  # type: ignore[arg-type]
        self._put(moved)
        self._out.append(SaveNumber(number=moved))
        return moved

    def _add_numbers(self, event: NumbersAdded) -> None:
        next_id = max(self.numbers, default=0) + 1
        for offset, (number, data) in enumerate(event.numbers):
            added = DialNumber(
                number_id=next_id + offset, number=number, data=dict(data), due_at=self.now
            )
            self._put(added)
            self._out.append(SaveNumber(number=added))
        if self.status is CampaignStatus.FINISHED and event.numbers:
            self._set_status(CampaignStatus.RUNNING)

    def _set_status(self, status: CampaignStatus) -> None:
        self.status = _advance(CAMPAIGN_TRANSITIONS, self.status, status, "campaign")
        self._out.append(SaveCampaign(status=status))

    # -- calls -----------------------------------------------------------------------------------

    def _connected(self, call_id: str) -> None:
        live = self.calls.get(call_id)
        if live is None:
            return
        number_id, agent_id = live
        number = self.numbers[number_id]
        if number.state is not NumberState.DIALING:
            return
        number = self._move(
            number, NumberState.DONE, outcome=Outcome.ANSWERED, attempts=number.attempts + 1
        )
        session = self.sessions.get(agent_id)
        if session is None or session.call_id != call_id:
            return  # the agent was kicked meanwhile: its call is being ended
        session.mode = _advance(AGENT_TRANSITIONS, session.mode, AgentMode.CONNECTED, agent_id)
        session.connection = Connection(
            call_id=call_id,
            campaign_id=self.campaign_id,
            agent_id=agent_id,
            number_id=number_id,
            number=number.number,
            attempt=number.attempts,
            data=number.data,
            connected_at=self.now,
        )
        self._out.append(AgentConnected(connection=session.connection))

    def _call_over(self, call_id: str, outcome: Outcome, *, refused: bool) -> None:
        live = self.calls.pop(call_id, None)
        if live is None:
            return  # not ours, or already over
        number_id, agent_id = live
        number = self.numbers[number_id]
        self._out.append(
            SaveAttempt(
                call_id=call_id,
                number_id=number_id,
                agent_id=agent_id,
                at=self.now,
                outcome=outcome,
            )
        )
        if number.state is NumberState.DIALING:
            self._settle(number, outcome)
        session = self.sessions.get(agent_id)
        if session is None or session.call_id != call_id:
            return
        if session.mode is AgentMode.DIALING:
            session.call_id = None
            session.mode = _advance(AGENT_TRANSITIONS, session.mode, AgentMode.READY, agent_id)
            if refused:
                session.available = False  # until the engine says it is free again
            if outcome is Outcome.NOT_DIALED and not refused:
                self._log_out(session, "agent_no_answer")  # its phone did not take the call
        elif session.mode is AgentMode.CONNECTED:
            session.mode = _advance(AGENT_TRANSITIONS, session.mode, AgentMode.WRAP_UP, agent_id)
        elif session.mode is AgentMode.CLOSING:
            self._after_response(session)

    def _settle(self, number: DialNumber, outcome: Outcome) -> None:
        """A number's call ended before an answer: retry it, or give it its final outcome."""
        if outcome is Outcome.NOT_DIALED:
            self._move(number, NumberState.PENDING, call_id=None, due_at=self.now)
            return
        attempts = number.attempts + 1
        delay = self.rules.retry_delay_s.get(outcome)
        if delay is not None and attempts < self.rules.max_attempts:
            self._move(
                number,
                NumberState.PENDING,
                call_id=None,
                attempts=attempts,
                outcome=outcome,
                due_at=self.now + delay,
            )
        else:
            self._move(number, NumberState.DONE, call_id=None, attempts=attempts, outcome=outcome)

    # -- agents ----------------------------------------------------------------------------------

    def _session(self, agent_id: str) -> _Session:
        session = self.sessions.get(agent_id)
        if session is None:
            raise NotFound(
                f"agent {agent_id} is not logged in to campaign {self.campaign_id}",
                details={"field": "agentId"},
            )
        return session

    def _response(self, event: ResponseStored) -> None:
        session = self._session(event.agent_id)
        connection = session.connection
        if connection is None or session.mode not in (AgentMode.CONNECTED, AgentMode.WRAP_UP):
            raise Conflict(
                f"agent {event.agent_id} has no connected call to report on",
                details={"field": "callId"},
            )
        if event.call_id != connection.call_id:
            raise NotFound(
                f"call {event.call_id} is not the agent's connected call",
                details={"field": "callId"},
            )
        self._out.append(
            SaveResponse(
                call_id=connection.call_id,
                number_id=connection.number_id,
                agent_id=event.agent_id,
                disposition=event.disposition,
                notes=event.notes,
            )
        )
        session.last_call = event.last_call
        if session.mode is AgentMode.CONNECTED:  # "Next Call" while talking: end this call first
            session.mode = _advance(
                AGENT_TRANSITIONS, session.mode, AgentMode.CLOSING, session.agent_id
            )
            self._out.append(EndCall(call_id=connection.call_id, reason="agent_next_call"))
            return
        self._after_response(session)

    def _after_response(self, session: _Session) -> None:
        if session.last_call:
            self._log_out(session, "last_call")
            return
        session.mode = _advance(AGENT_TRANSITIONS, session.mode, AgentMode.READY, session.agent_id)
        session.call_id = None
        session.connection = None
        session.since = self.now

    def _log_out(self, session: _Session, reason: str) -> None:
        del self.sessions[session.agent_id]
        self._out.append(AgentLoggedOut(agent_id=session.agent_id, reason=reason))

    # -- dispatch --------------------------------------------------------------------------------

    def _busy_agents(self) -> set[str]:
        return {agent_id for _, agent_id in self.calls.values()}

    def _dispatch(self) -> None:
        """Progressive: one dial per ready agent, the longest-waiting agent first, the number
        due earliest first (in the order numbers were added)."""
        if self.status is CampaignStatus.RUNNING and self.sessions:
            busy = self._busy_agents()
            ready = sorted(
                (
                    s
                    for s in self.sessions.values()
                    if s.mode is AgentMode.READY and s.available and s.agent_id not in busy
                ),
                key=lambda s: (s.since, s.agent_id),
            )
            for session in ready:
                number = self._next_due()
                if number is None:
                    break
                self._dial(session, number)
        stoppable = self.status in (CampaignStatus.RUNNING, CampaignStatus.STOPPED)
        if stoppable and self._open == 0 and not self.calls:
            self._set_status(CampaignStatus.FINISHED)
        self._arm_wake()

    def _next_due(self) -> DialNumber | None:
        while self._due:
            due_at, number_id = self._due[0]
            number = self.numbers[number_id]
            if number.state is not NumberState.PENDING or number.due_at != due_at:
                heapq.heappop(self._due)  # stale entry
                continue
            if due_at > self.now:
                return None
            heapq.heappop(self._due)
            return number
        return None

    def _dial(self, session: _Session, number: DialNumber) -> None:
        dials = number.dials + 1
        call_id = f"cf-{self.campaign_id}-{number.number_id}-{dials}"
        number = self._move(number, NumberState.DIALING, dials=dials, call_id=call_id)
        session.mode = _advance(
            AGENT_TRANSITIONS, session.mode, AgentMode.DIALING, session.agent_id
        )
        session.call_id = call_id
        self.calls[call_id] = (number.number_id, session.agent_id)
        self._out.append(
            SaveAttempt(
                call_id=call_id,
                number_id=number.number_id,
                agent_id=session.agent_id,
                at=self.now,
                outcome=None,
            )
        )
        self._out.append(
            Dial(
                call_id=call_id,
                campaign_id=self.campaign_id,
                number_id=number.number_id,
                number=number.number,
                agent_id=session.agent_id,
                caller_id=self.rules.caller_id,
                answer_timeout_s=self.rules.answer_timeout_s,
            )
        )

    def _arm_wake(self) -> None:
        """Ask to be woken when the earliest retry falls due (only while running)."""
        if self.status is not CampaignStatus.RUNNING:
            return
        while self._due:
            due_at, number_id = self._due[0]
            number = self.numbers[number_id]
            if number.state is not NumberState.PENDING or number.due_at != due_at:
                heapq.heappop(self._due)
                continue
            if due_at > self.now and due_at != self._wake:
                self._wake = due_at
                self._out.append(WakeAt(at=due_at))
            return
