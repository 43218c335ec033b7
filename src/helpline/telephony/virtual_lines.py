"""Agent lines on the virtual carrier (seed 003, "How Call Center Connect Works from the Agent
Perspective"): a call to an agent's phone that stays up across customer calls.

The line rings the agent's phone number (it answers, is busy or does not answer as the
sandbox's `customers` behaviour for that number says) or, without a number, the agent's
sandbox device (auto-answer, delay, reject, or answered by hand). Answered, the agent hears
its agent id (step 2) until the line is put on hold music (step 3). A call offered to the
agent while it waits on hold music is answered on the line at once, with no ringing (the
campaign dialer's callouts only, `OfferCall.agent_line`: the line is no presence); once
the customer answers the agent hears a beep and the customer (step 4). When the call ends
the line is silent (the agent fills in its screen, step 5) until hold music again (step 6).
Everything the agent hears is kept in the line's `heard`, like a caller's, so a test or a
person sees the whole sequence. Line events go to the listener the campaigns gave
(`Telephony.listen_lines`), never to the engine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.errors import Conflict, IllegalTransition, NotFound
from helpline.ports import PostLineEvent

if TYPE_CHECKING:
    from helpline.telephony.virtual import VirtualCall, VirtualCarrier

log = logging.getLogger("helpline.virtual")


class LineState(StrEnum):
    RINGING = "ringing"  # the agent's phone rings (step 1)
    ANNOUNCING = "announcing"  # answered: the agent id, spoken, again and again (step 2)
    HOLD = "hold"  # hold music: ready for a call (steps 3 and 6)
    CONNECTING = "connecting"  # a call took the line; its customer is being dialled
    TALKING = "talking"  # the beep, then the customer (steps 4 and 7)
    WRAP_UP = "wrap_up"  # the customer left: silence until hold music again (step 5)
    ENDED = "ended"


_ENDED = frozenset({LineState.ENDED})
LINE_TRANSITIONS: dict[LineState, frozenset[LineState]] = {
    LineState.RINGING: frozenset({LineState.ANNOUNCING}) | _ENDED,
    LineState.ANNOUNCING: frozenset({LineState.HOLD}) | _ENDED,
    LineState.HOLD: frozenset({LineState.CONNECTING}) | _ENDED,
    LineState.CONNECTING: frozenset({LineState.TALKING, LineState.HOLD}) | _ENDED,
    LineState.TALKING: frozenset({LineState.WRAP_UP}) | _ENDED,
    LineState.WRAP_UP: frozenset({LineState.HOLD}) | _ENDED,
    LineState.ENDED: frozenset(),
}


@dataclass(slots=True, eq=False)
class VirtualLine:
    tenant_id: str
    agent_id: str
    call: VirtualCall  # the line as a call: what the agent heard, its state, its end
    command: cmd.OpenAgentLine
    state: LineState = LineState.RINGING
    attached: str | None = None  # the customer call on the line
    ring_timer: asyncio.TimerHandle | None = None

    def move(self, state: LineState) -> None:
        if state not in LINE_TRANSITIONS[self.state]:
            raise IllegalTransition(f"agent line: {self.state.value} -> {state.value}")
        self.state = state
        self.call.state = state.value

    def hear(self, kind: str, **what: object) -> None:
        self.call.heard.append({"kind": kind, **what})


class VirtualLines:
    """The agent lines of a `VirtualCarrier` (it hands them their commands)."""

    def __init__(self, carrier: VirtualCarrier) -> None:
        self.carrier = carrier
        self.lines: dict[tuple[str, str], VirtualLine] = {}  # (tenant, agent): its latest line
        self._listener: PostLineEvent | None = None

    def listen(self, listener: PostLineEvent) -> None:
        self._listener = listener

    def _report(self, line: VirtualLine, event: ev.AgentLineEvent) -> None:
        if self._listener is None:
            log.warning("agent line event with no listener: %s", event)
            return
        self._listener(line.tenant_id, event)

    def open_line(self, tenant_id: str, agent_id: str) -> VirtualLine | None:
        line = self.lines.get((tenant_id, agent_id))
        return line if line is not None and line.state is not LineState.ENDED else None

    def line(self, tenant_id: str, agent_id: str) -> VirtualLine:
        found = self.lines.get((tenant_id, agent_id))
        if found is None:
            raise NotFound(f"agent {agent_id} has no agent line", details={"field": "agent_id"})
        return found

    def _by_call(self, tenant_id: str, call_id: str) -> VirtualLine | None:
        return next(
            (
                line
                for (tenant, _), line in self.lines.items()
                if tenant == tenant_id and line.call.call_id == call_id
            ),
            None,
        )

    # -- commands ----------------------------------------------------------------------------------

    def execute(self, tenant_id: str, command: cmd.AgentLineCommand) -> None:
        if isinstance(command, cmd.OpenAgentLine):
            self._open(tenant_id, command)
            return
        line = self._by_call(tenant_id, command.call_id)
        if line is None or line.state is LineState.ENDED:
            return  # closed meanwhile (the agent hung up): nothing to do
        if isinstance(command, cmd.HoldAgentLine):
            # a late hold must not cut off a customer: only a line waiting for one goes on hold
            if line.state in (LineState.ANNOUNCING, LineState.WRAP_UP):
                line.move(LineState.HOLD)
                line.hear("hold_music", audio=line.command.hold_music)
        else:
            if command.farewell is not None and line.state is not LineState.RINGING:
                line.hear("prompt", text=command.farewell)
            self._end(line, ev.Party.SYSTEM, command.reason)

    def _open(self, tenant_id: str, command: cmd.OpenAgentLine) -> None:
        old = self.open_line(tenant_id, command.agent_id)
        if old is not None:
            self._end(old, ev.Party.SYSTEM, "replaced")
        call = self.carrier.new_call(
            tenant_id,
            command.call_id,
            from_number=command.caller_id or "",
            to_number=command.phone_number or f"device:{command.agent_id}",
        )
        line = VirtualLine(tenant_id, command.agent_id, call, command)
        self.lines[(tenant_id, command.agent_id)] = line
        line.ring_timer = self._later(command.ring_timeout_s, lambda: self._fail(line, "no_answer"))
        if command.phone_number is not None:
            behaviour = self.carrier.behaviour(tenant_id, command.phone_number)
            if behaviour.answer:
                self._later(behaviour.delay_s, lambda: self._answered(line))
            else:
                self._later(behaviour.delay_s, lambda: self._fail(line, behaviour.failure))
            return
        device = self.carrier.devices.get((tenant_id, command.agent_id))
        if device is None:
            self._later(0.0, lambda: self._fail(line, "unreachable"))
        elif device.reject:
            self._later(0.0, lambda: self._fail(line, "busy"))
        else:
            device.ringing.append(command.call_id)
            if device.auto_answer:
                self._later(device.answer_delay_s, lambda: self._answered(line))

    def _later(self, delay: float, action: Callable[[], None]) -> asyncio.TimerHandle:
        return self.carrier.later(delay, action)

    def _stop_ringing(self, line: VirtualLine) -> None:
        if line.ring_timer is not None:
            line.ring_timer.cancel()
            line.ring_timer = None
        device = self.carrier.devices.get((line.tenant_id, line.agent_id))
        if device is not None and line.call.call_id in device.ringing:
            device.ringing.remove(line.call.call_id)

    def _answered(self, line: VirtualLine) -> None:
        if line.state is not LineState.RINGING:
            return
        self._stop_ringing(line)
        line.move(LineState.ANNOUNCING)
        line.hear("prompt", text=line.command.announcement, repeat=True)
        self._report(line, ev.AgentLineAnswered(call_id=line.call.call_id, agent_id=line.agent_id))

    def _fail(self, line: VirtualLine, reason: str) -> None:
        if line.state is not LineState.RINGING:
            return
        self._stop_ringing(line)
        line.move(LineState.ENDED)
        self.carrier.call_over(line.tenant_id, line.call, reason)
        self._report(
            line,
            ev.AgentLineFailed(call_id=line.call.call_id, agent_id=line.agent_id, reason=reason),
        )

    def _end(self, line: VirtualLine, party: ev.Party, reason: str) -> None:
        """The line is over: a call on it loses its agent."""
        if line.state is LineState.RINGING:
            self._stop_ringing(line)
        answered = line.state is not LineState.RINGING
        attached, line.attached = line.attached, None
        line.move(LineState.ENDED)
        self.carrier.call_over(line.tenant_id, line.call, reason)
        if attached is not None:
            self.carrier.emit(
                line.tenant_id, ev.CallHungUp(call_id=attached, party=party, reason=reason)
            )
        call_id = line.call.call_id
        self._report(
            line,
            ev.AgentLineClosed(call_id=call_id, agent_id=line.agent_id, party=party, reason=reason)
            if answered
            else ev.AgentLineFailed(call_id=call_id, agent_id=line.agent_id, reason=reason),
        )

    # -- the engine's calls on a line ----------------------------------------------------------

    def take_offer(self, tenant_id: str, command: cmd.OfferCall) -> bool:
        """The campaign dialer's callout (`agent_line`) is answered on the agent's line at
        once, if it waits on hold music; with no such line it is refused (the agent is not
        reached: the dialer logs it out). Any other offer (a queue's call, a native callout, a
        transfer) rings the agent's own device as it would without a line: the line carries
        only seed 003's connections, and the dialer must know of every call on it."""
        if not command.agent_line:
            return False
        line = self.open_line(tenant_id, command.agent_id)
        if line is None or line.state is not LineState.HOLD:
            refused = ev.OfferRejected(call_id=command.call_id, agent_id=command.agent_id)
            self._later(0.0, lambda: self.carrier.emit(tenant_id, refused))
            return True
        line.move(LineState.CONNECTING)
        line.attached = command.call_id
        answered = ev.OfferAnswered(call_id=command.call_id, agent_id=command.agent_id)
        self._later(0.0, lambda: self.carrier.emit(tenant_id, answered))
        return True

    def bridged(self, tenant_id: str, command: cmd.Bridge, customer: str) -> bool:
        """The call is bridged: on its agent's line, a beep and then the customer (True)."""
        for line in self.lines.values():
            if line.tenant_id != tenant_id or line.attached != command.call_id:
                continue
            if line.agent_id != command.agent_id:  # transferred to another agent
                self._call_left(line)
            elif line.state is LineState.CONNECTING:
                line.move(LineState.TALKING)
                line.hear("beep")
                line.hear("customer", call_id=command.call_id, number=customer)
        own = self.open_line(tenant_id, command.agent_id)
        return own is not None and own.attached == command.call_id

    def call_ended(self, tenant_id: str, call_id: str) -> None:
        for line in self.lines.values():
            if line.tenant_id == tenant_id and line.attached == call_id:
                self._call_left(line)

    def _call_left(self, line: VirtualLine) -> None:
        call_id, line.attached = line.attached, None
        if line.state is LineState.TALKING:
            line.move(LineState.WRAP_UP)
            line.hear("call_ended", call_id=call_id)
        elif line.state is LineState.CONNECTING:
            line.move(LineState.HOLD)  # the customer never answered: hold music goes on

    # -- the sandbox -----------------------------------------------------------------------------

    def device_answer(self, tenant_id: str, agent_id: str, call_id: str) -> bool:
        line = self.open_line(tenant_id, agent_id)
        if line is None or line.call.call_id != call_id or line.state is not LineState.RINGING:
            return False
        self._answered(line)
        return True

    def device_reject(self, tenant_id: str, agent_id: str, call_id: str) -> bool:
        line = self.open_line(tenant_id, agent_id)
        if line is None or line.call.call_id != call_id or line.state is not LineState.RINGING:
            return False
        self._fail(line, "busy")
        return True

    def device_gone(self, tenant_id: str, agent_id: str) -> None:
        line = self.open_line(tenant_id, agent_id)
        if line is not None and line.command.phone_number is None:
            if line.state is LineState.RINGING:
                self._fail(line, "unreachable")
            else:
                self._end(line, ev.Party.AGENT, "hung_up")

    def hang_up(self, tenant_id: str, agent_id: str) -> None:
        """The agent puts its phone down."""
        line = self.open_line(tenant_id, agent_id)
        if line is None or line.state is LineState.RINGING:
            raise Conflict(f"agent {agent_id} has no answered line", details={"field": "agent_id"})
        self._end(line, ev.Party.AGENT, "hung_up")
