"""A campaign dialer's logged-in agents (seed 003; `core.dialer`): logging in, the agent line
(seed 003 "How Call Center Connect Works from the Agent Perspective": hold music when ready,
logged out when its phone is gone), storeAgentResponse and logging out.

Split from `core.dialer` (which inherits it) so each module reads as one concern.
"""

from __future__ import annotations

from helpline.core.dialer_messages import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentMode,
    DialerCommand,
    EndCall,
    HoldLine,
    LineDown,
    LineUp,
    ResponseStored,
    SaveResponse,
)
from helpline.core.dialer_state import AGENT_TRANSITIONS, Session, advance
from helpline.core.errors import Conflict, NotFound


class AgentSessions:
    """The agent half of `Dialer`: its sessions and what it asks of them."""

    campaign_id: str
    now: float
    sessions: dict[str, Session]
    ending: set[str]
    _out: list[DialerCommand]

    def _session(self, agent_id: str) -> Session:
        session = self.sessions.get(agent_id)
        if session is None:
            raise NotFound(
                f"agent {agent_id} is not logged in to campaign {self.campaign_id}",
                details={"field": "agentId"},
            )
        return session

    def _log_in(self, event: AgentLoggedIn) -> None:
        if event.agent_id in self.sessions:
            raise Conflict(
                f"agent {event.agent_id} is already logged in to campaign {self.campaign_id}",
                details={"field": "agentId"},
            )
        session = Session(event.agent_id, event.available, self.now, event.line_up)
        self.sessions[event.agent_id] = session
        self._hold(session)  # seed 003 step 3: "Once the agent id is entered, I hear hold music"

    def _line(self, event: LineUp | LineDown) -> None:
        session = self.sessions.get(event.agent_id)
        if session is None:
            return
        if isinstance(event, LineUp):
            if not session.line_up:
                session.line_up = True
                self._hold(session)
            return
        # its phone was how it talked: a call still on it ends (the carrier ended the agent's
        # leg already; this is for a call whose customer still rings)
        if session.call_id is not None and session.mode is not AgentMode.WRAP_UP:
            self._end(session.call_id, "agent_line_closed")
        self._log_out(session, f"line_{event.reason}")

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
            session.mode = advance(
                AGENT_TRANSITIONS, session.mode, AgentMode.CLOSING, session.agent_id
            )
            self._end(connection.call_id, "agent_next_call")
            return
        self._after_response(session)

    def _after_response(self, session: Session) -> None:
        if session.last_call:
            self._log_out(session, "last_call")
            return
        session.mode = advance(AGENT_TRANSITIONS, session.mode, AgentMode.READY, session.agent_id)
        session.call_id = None
        session.connection = None
        session.since = self.now
        self._hold(session)  # seed 003 step 6: "I click Next Call and I hear hold music again"

    def _hold(self, session: Session) -> None:
        """A ready agent whose line is up waits on hold music (seed 003 steps 3 and 6); the
        command comes before any dial for it, so the line is on hold when a call reaches it."""
        if session.line_up and session.mode is AgentMode.READY:
            self._out.append(HoldLine(agent_id=session.agent_id))

    def _log_out(self, session: Session, reason: str) -> None:
        del self.sessions[session.agent_id]
        self._out.append(AgentLoggedOut(agent_id=session.agent_id, reason=reason))

    def _end(self, call_id: str, reason: str) -> None:
        self.ending.add(call_id)
        self._out.append(EndCall(call_id=call_id, reason=reason))
