"""The progressive dialer of an agent campaign (seed 003, CallFire Call Center Connect).

Sans-I/O like the engine: `dialer.handle(event, now)` applies one event at the time given and
returns commands (dial this number for this agent, end that call, store this, wake me at t).
Progressive: one line per ready agent. When a logged-in agent is ready (it has stored its
response to its last connection, seed 003 "After the Login") and the engine says it is idle
and available, the next number that is due is dialled for it and no other. Three transition
tables (`core.dialer_state`): the campaign, each number, each logged-in agent. Invariants
(tests/core/test_dialer_props.py): never two live calls for one agent or one number; no dial
unless the campaign runs; a finished campaign has every number done.

Retries (the campaign's rules): a busy or unanswered number is due again after the delay for
its outcome until `max_attempts` customer dials were made; an answer or a failure is final.
A dial the customer never saw does not count and is due again at once. The dialer tracks
each call's phase itself (`CustomerDialed`: the engine dials the customer), so a call that
ends before that (the agent's phone did not answer, the agent was kicked while it rang) or
that the dialer ended itself is `NOT_DIALED`, whatever the record's end reason says.

Agent lines (seed 003 "How Call Center Connect Works from the Agent Perspective"): an agent
is dialled for only once its line is answered (`LineUp`); it is put on hold music (`HoldLine`)
when ready, before any dial of its, and again whenever the engine frees it (a safeguard: a
line left silent by anything the dialer missed goes back to hold music); a line that fails
or is hung up (`LineDown`) logs it out.
The agents' half of the dialer is `core.dialer_agents`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from helpline.core.dialer_agents import AgentSessions
from helpline.core.dialer_messages import (
    AgentAvailability,
    AgentConnected,
    AgentKicked,
    AgentLoggedIn,
    AgentMode,
    CallConnected,
    CallEnded,
    CampaignStatus,
    Connection,
    CustomerDialed,
    Dial,
    DialerCommand,
    DialerEvent,
    DialNumber,
    DialRefused,
    LineDown,
    LineUp,
    NumbersAdded,
    NumberState,
    Outcome,
    ResponseStored,
    Rules,
    SaveAttempt,
    SaveCampaign,
    SaveNumbers,
    StartRequested,
    StopRequested,
    WakeAt,
)
from helpline.core.dialer_state import (
    AGENT_TRANSITIONS,
    CAMPAIGN_TRANSITIONS,
    NUMBER_TRANSITIONS,
    NumberBook,
    Session,
    advance,
)


class Dialer(AgentSessions):
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
        """`numbers` restores a campaign after a restart (`NumberBook.restore`)."""
        self.campaign_id = campaign_id
        self.rules = rules
        self.status = status
        self.now = now
        self._book = NumberBook()
        self.numbers = self._book.numbers  # number id -> where it stands
        self.sessions: dict[str, Session] = {}
        self.calls: dict[str, tuple[int, str]] = {}  # live call -> (number id, agent id)
        self.customer_dialled: set[str] = set()  # live calls past the agent leg
        self.ending: set[str] = set()  # live calls the dialer asked to end
        self._wake: float | None = None
        self._out: list[DialerCommand] = []
        self._saved: dict[int, DialNumber] = {}  # numbers changed by the current event
        self._save_at: int | None = None  # where their `SaveNumbers` goes among the commands
        self._book.restore(numbers, now)

    # -- queries ---------------------------------------------------------------------------------

    def connection_of(self, agent_id: str) -> Connection | None:
        """The connection the agent has not responded to yet, if any."""
        session = self.sessions.get(agent_id)
        if session is None or session.mode not in (AgentMode.CONNECTED, AgentMode.WRAP_UP):
            return None
        return session.connection

    def mode_of(self, agent_id: str) -> AgentMode | None:
        return session.mode if (session := self.sessions.get(agent_id)) else None

    # -- input -----------------------------------------------------------------------------------

    def handle(self, event: DialerEvent, now: float) -> list[DialerCommand]:
        self.now = max(self.now, now)
        out: list[DialerCommand] = []
        self._out = out
        try:
            self._apply(event)
            self._dispatch()
            if self._save_at is not None:  # before any dial of theirs: a restart loses none
                out.insert(self._save_at, SaveNumbers(numbers=tuple(self._saved.values())))
        finally:
            self._out = []
            self._saved = {}
            self._save_at = None
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
            self._log_in(event)
        elif isinstance(event, AgentAvailability):
            session = self.sessions.get(event.agent_id)
            if session is not None:
                freed = event.available and not session.available
                session.available = event.available
                if freed:  # whatever the agent did meanwhile, its line waits on hold music
                    self._hold(session)
        elif isinstance(event, DialRefused):
            self._call_over(event.call_id, Outcome.NOT_DIALED, refused=True)
        elif isinstance(event, CustomerDialed):
            if event.call_id in self.calls:
                self.customer_dialled.add(event.call_id)
        elif isinstance(event, CallConnected):
            self._connected(event.call_id)
        elif isinstance(event, CallEnded):
            outcome = event.outcome
            if outcome is Outcome.ANSWERED:
                self._connected(event.call_id)  # in case the connect was never seen
            elif event.call_id not in self.customer_dialled or event.call_id in self.ending:
                outcome = Outcome.NOT_DIALED  # the customer never saw it, or we ended it
            self._call_over(event.call_id, outcome, refused=False)
        elif isinstance(event, ResponseStored):
            self._response(event)
        elif isinstance(event, AgentKicked):
            session = self._session(event.agent_id)
            if session.call_id is not None and session.mode is not AgentMode.WRAP_UP:
                self._end(session.call_id, "agent_kicked")
            self._log_out(session, "kicked")
        elif isinstance(event, LineUp | LineDown):
            self._line(event)
        # Tick: nothing to apply; the dispatch below dials whatever became due

    # -- numbers ---------------------------------------------------------------------------------

    def _move(self, number: DialNumber, state: NumberState, **changes: object) -> DialNumber:
        advance(NUMBER_TRANSITIONS, number.state, state, f"number {number.number_id}")
        moved = replace(number, state=state, **changes)  # type: ignore[arg-type]
        self._book.put(moved)
        self._save(moved)
        return moved

    def _save(self, number: DialNumber) -> None:
        if self._save_at is None:
            self._save_at = len(self._out)
        self._saved[number.number_id] = number

    def _add_numbers(self, event: NumbersAdded) -> None:
        next_id = max(self.numbers, default=0) + 1
        for offset, (number, data) in enumerate(event.numbers):
            added = DialNumber(
                number_id=next_id + offset, number=number, data=dict(data), due_at=self.now
            )
            self._book.put(added)
            self._save(added)
        if self.status is CampaignStatus.FINISHED and event.numbers:
            self._set_status(CampaignStatus.RUNNING)

    def _set_status(self, status: CampaignStatus) -> None:
        self.status = advance(CAMPAIGN_TRANSITIONS, self.status, status, "campaign")
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
        session.mode = advance(AGENT_TRANSITIONS, session.mode, AgentMode.CONNECTED, agent_id)
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
        self.customer_dialled.discard(call_id)
        self.ending.discard(call_id)
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
            session.mode = advance(AGENT_TRANSITIONS, session.mode, AgentMode.READY, agent_id)
            if refused:
                session.available = False  # until the engine says it is free again
            if outcome is Outcome.NOT_DIALED and not refused:
                self._log_out(session, "agent_no_answer")  # its phone did not take the call
        elif session.mode is AgentMode.CONNECTED:
            session.mode = advance(AGENT_TRANSITIONS, session.mode, AgentMode.WRAP_UP, agent_id)
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

    # -- dispatch --------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Progressive: one dial per ready agent, the longest-waiting agent first, the number
        due earliest first (in the order numbers were added)."""
        if self.status is CampaignStatus.RUNNING and self.sessions:
            busy = {agent_id for _, agent_id in self.calls.values()}
            ready = sorted(
                (
                    s
                    for s in self.sessions.values()
                    if s.mode is AgentMode.READY
                    and s.available
                    and s.line_up
                    and s.agent_id not in busy
                ),
                key=lambda s: (s.since, s.agent_id),
            )
            for session in ready:
                number = self._book.take_due(self.now)
                if number is None:
                    break
                self._dial(session, number)
        stoppable = self.status in (CampaignStatus.RUNNING, CampaignStatus.STOPPED)
        if stoppable and self._book.open == 0 and not self.calls:
            self._set_status(CampaignStatus.FINISHED)
        self._arm_wake()

    def _dial(self, session: Session, number: DialNumber) -> None:
        dials = number.dials + 1
        call_id = f"cf-{self.campaign_id}-{number.number_id}-{dials}"
        number = self._move(number, NumberState.DIALING, dials=dials, call_id=call_id)
        session.mode = advance(AGENT_TRANSITIONS, session.mode, AgentMode.DIALING, session.agent_id)
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
        number = self._book.earliest()
        if number is not None and number.due_at > self.now and number.due_at != self._wake:
            self._wake = number.due_at
            self._out.append(WakeAt(at=number.due_at))
