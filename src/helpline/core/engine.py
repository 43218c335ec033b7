"""The routing engine: one event in, with the time it happened; a list of commands out.

    engine = Engine(center, rng=random.Random(7), now=0.0)
    commands = engine.handle(CallArrived(call_id="c1", from_number="+1555", to_number="100"), 0.0)

It never awaits, reads no clock, touches no socket, file or database, and draws randomness only
from the `random.Random` it was given (ARCHITECTURE.md, "One engine, three clocks"). Events
that the telephony may deliver late or twice (a hang-up after the end, a timer already
cancelled) are ignored; requests that are wrong (an unknown agent, holding a ringing call)
raise a `ClientError` and change nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Final, TypeVar

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.agents import AgentState
from helpline.core.base import EngineOptions
from helpline.core.call_end import CallEndLayer
from helpline.core.calls import Call
from helpline.core.errors import ClientError, Conflict, NotFound
from helpline.core.estimators import WaitEstimate, estimate
from helpline.core.model import Center
from helpline.core.records import Direction, Result
from helpline.core.states import CallState
from helpline.core.timers import TimerKind

__all__ = ["Engine", "EngineOptions"]

_NewCall = TypeVar("_NewCall", ev.CalloutRequested, ev.CallbackRequested)

_ABANDON_RESULT: Final = {
    CallState.CREATED: Result.ABANDONED_IN_IVR,
    CallState.IVR: Result.ABANDONED_IN_IVR,
    CallState.QUEUED: Result.ABANDONED_IN_QUEUE,
    CallState.OFFERING: Result.ABANDONED_IN_QUEUE,
    CallState.RINGING_AGENT: Result.FAILED,
    CallState.DIALING_CUSTOMER: Result.FAILED,
    CallState.CONNECTED: Result.ANSWERED,
    CallState.HELD: Result.ANSWERED,
    CallState.EXTERNAL: Result.TRANSFERRED_EXTERNAL,
    CallState.VOICEMAIL: Result.VOICEMAIL,
}

# who hung up, and the default end reason: `Party.value` through the enum's descriptor is slow
_HANGUP_BY: Final = {party: (party.value, f"{party.value}_hangup") for party in ev.Party}

# enum members the hot paths read, as module globals: on Python 3.11 `CallState.QUEUED` goes
# through `EnumType.__getattr__` (about 100 ns), a global takes about 10 ns
_ABANDONED_IN_IVR: Final = Result.ABANDONED_IN_IVR
_ABANDONED_IN_QUEUE: Final = Result.ABANDONED_IN_QUEUE
_INBOUND: Final = Direction.INBOUND
_IVR_INPUT_TIMER: Final = TimerKind.IVR_INPUT
_MAX_WAIT_TIMER: Final = TimerKind.MAX_WAIT
_OFFER_TIMER: Final = TimerKind.OFFER
_OVERFLOW_TIMER: Final = TimerKind.OVERFLOW
_QUEUED: Final = CallState.QUEUED
_RINGING_AGENT: Final = CallState.RINGING_AGENT
_ROUTER_TIMER: Final = TimerKind.ROUTER
_SYSTEM: Final = ev.Party.SYSTEM
_WRAP_UP_TIMER: Final = TimerKind.WRAP_UP


class Engine(CallEndLayer):
    """The sans-I/O routing engine of one tenant's contact center."""

    def __init__(
        self,
        center: Center,
        *,
        rng: random.Random,
        now: float = 0.0,
        options: EngineOptions | None = None,
    ) -> None:
        super().__init__(center, rng=rng, now=now, options=options)
        self.out = []
        self.dirty.clear()
        self._handlers: dict[type, Callable[[Any], None]] = {
            ev.CallArrived: self._call_arrived,
            ev.PromptEnded: self._prompt_ended,
            ev.DigitsPressed: self._digits_pressed,
            ev.CallHungUp: self._call_hung_up,
            ev.AgentStatusSet: self._agent_status_set,
            ev.AgentPresenceChanged: self._agent_presence_changed,
            ev.AgentReachChanged: self._agent_reach_changed,
            ev.OfferAnswered: self._offer_answered,
            ev.OfferRejected: self._offer_rejected,
            ev.TimerFired: self._timer_fired,
            ev.WrapUpEnded: self._wrap_up_ended,
            ev.RouterReplied: self._router_replied,
            ev.RouterFailed: self._router_failed,
            ev.CalloutRequested: self._callout_requested,
            ev.CallbackRequested: self._callback_requested,
            ev.CustomerAnswered: self._customer_answered,
            ev.CustomerDialFailed: self._customer_dial_failed,
            ev.HoldRequested: self._hold_requested,
            ev.ResumeRequested: self._resume_requested,
            ev.TransferRequested: self._transfer_requested,
            ev.CenterReplaced: self._center_replaced,
        }

    def handle(self, event: ev.Event, now: float) -> list[cmd.Command]:
        """Apply one event that happened at `now`; return what must be done, in order.

        Time never runs backwards inside the engine: an event stamped earlier than the last
        one is taken as happening now.
        """
        if now > self.now:  # noqa: PLR1730 (max() is a call, three per simulated caller)
            self.now = now
        out: list[cmd.Command] = []
        self.out = out
        try:
            self._handlers[type(event)](event)
            if self.dirty:  # no queue may have work (e.g. an agent answered): skip the call
                self.dispatch_dirty()
        finally:
            self.out = []
            if self.dirty:  # only when a handler raised: dispatch empties it
                self.dirty.clear()
        return out

    # -- lookups -------------------------------------------------------------------------------

    def _agent(self, agent_id: str) -> AgentState:
        agent = self.agents.get(agent_id)
        if agent is None or agent.removed:
            raise NotFound(f"agent {agent_id} not found", details={"field": "agent_id"})
        return agent

    def _call(self, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            raise NotFound(f"call {call_id} not found", details={"field": "call_id"})
        return call

    def _new_id(self, event: _NewCall) -> _NewCall:
        if event.call_id in self.calls:
            raise Conflict(f"call {event.call_id} already exists", details={"field": "call_id"})
        return event

    # -- handlers ------------------------------------------------------------------------------

    def _prompt_ended(self, event: ev.PromptEnded) -> None:
        call = self.calls.get(event.call_id)
        if call is not None:  # telephony events for a call already gone are late: ignore
            self.on_prompt_ended(call)

    def _digits_pressed(self, event: ev.DigitsPressed) -> None:
        call = self.calls.get(event.call_id)
        if call is not None:
            self.on_digits(call, event.digits)

    def _agent_status_set(self, event: ev.AgentStatusSet) -> None:
        self.on_status_set(self._agent(event.agent_id), event.manual_status, event.reason)

    def _agent_presence_changed(self, event: ev.AgentPresenceChanged) -> None:
        self.on_presence(self._agent(event.agent_id), event.online)

    def _agent_reach_changed(self, event: ev.AgentReachChanged) -> None:
        self.on_reach(self._agent(event.agent_id), event.phone_number, event.routing_type)

    def _wrap_up_ended(self, event: ev.WrapUpEnded) -> None:
        self.end_wrap_up(self._agent(event.agent_id), event.disposition, event.notes)

    def _router_replied(self, event: ev.RouterReplied) -> None:
        self.on_router_reply(event.request_id, event.body)

    def _router_failed(self, event: ev.RouterFailed) -> None:
        self.router_gave_up(event.request_id, event.reason)

    def _callout_requested(self, event: ev.CalloutRequested) -> None:
        self.start_callout(self._new_id(event))

    def _callback_requested(self, event: ev.CallbackRequested) -> None:
        self.start_callback(self._new_id(event))

    def _customer_answered(self, event: ev.CustomerAnswered) -> None:
        call = self.calls.get(event.call_id)
        if call is not None:
            self.on_customer_answered(call)

    def _customer_dial_failed(self, event: ev.CustomerDialFailed) -> None:
        call = self.calls.get(event.call_id)
        if call is not None:
            self.on_customer_failed(call, event.reason)

    def _hold_requested(self, event: ev.HoldRequested) -> None:
        self.hold(self._call(event.call_id), True)

    def _resume_requested(self, event: ev.ResumeRequested) -> None:
        self.hold(self._call(event.call_id), False)

    def _transfer_requested(self, event: ev.TransferRequested) -> None:
        self.transfer(self._call(event.call_id), event)

    def _center_replaced(self, event: ev.CenterReplaced) -> None:
        self.reconfigure(event.center)

    def _call_arrived(self, event: ev.CallArrived) -> None:
        if not event.call_id:  # checked here, not on construction: the class has no `__post_init__`
            raise ClientError("call_id is required", details={"field": "call_id"})
        if event.call_id in self.calls:
            raise Conflict(f"call {event.call_id} already exists", details={"field": "call_id"})
        call = Call(event.call_id, _INBOUND, event.from_number, event.to_number, self.now)
        self.calls[call.id] = call
        number = self.center.numbers.get(event.to_number)
        if number is None:
            self.end_call(call, Result.FAILED, by="system", reason="unknown_number")
        elif number.enable_ivr and number.ivr_tree is not None:
            self.enter_ivr(call, number.ivr_tree)
        elif number.queue is not None:
            self.enqueue(call, number.queue, priority=0)

    def _call_hung_up(self, event: ev.CallHungUp) -> None:
        call = self.calls.get(event.call_id)
        if call is None:
            return
        result = _ABANDON_RESULT[call.state]
        if event.party is _SYSTEM and result in (
            _ABANDONED_IN_IVR,
            _ABANDONED_IN_QUEUE,
        ):
            result = Result.FAILED  # ended by the API or a restart, not by the caller
        by, hangup_reason = _HANGUP_BY[event.party]
        self.end_call(call, result, by=by, reason=event.reason or hangup_reason)

    def _offer_answered(self, event: ev.OfferAnswered) -> None:
        agent = self.agents.get(event.agent_id)
        if agent is None:
            return
        call = self.calls.get(event.call_id)
        if call is not None and call.state is _RINGING_AGENT and agent.id in call.offered_to:
            self.on_callout_answered(call, agent)
        else:
            self.on_offer_answered(call, agent, event.call_id)

    def _offer_rejected(self, event: ev.OfferRejected) -> None:
        call = self.calls.get(event.call_id)
        agent = self.agents.get(event.agent_id)
        if call is None or agent is None or agent.id not in call.offered_to:
            return
        if call.state is CallState.RINGING_AGENT:
            self.end_call(call, Result.FAILED, by="agent", reason="agent_rejected")
        else:
            self.on_offer_rejected(call, agent)

    def _timer_fired(self, event: ev.TimerFired) -> None:
        timer = event.timer
        if timer not in self.timers:
            return  # cancelled or replaced meanwhile
        self.timers.discard(timer)
        kind = timer.kind
        if kind is _WRAP_UP_TIMER:
            agent = self.agents.get(timer.subject)
            if agent is not None and agent.wrap_up_timer == timer:
                agent.wrap_up_timer = None
                self.end_wrap_up(agent)
            return
        if kind is _ROUTER_TIMER:
            queue_id = self.router_requests.get(timer.subject, ("?",))[0]
            timeout = (
                self.queues[queue_id].config.router_timeout_s if queue_id in self.queues else 0
            )
            self.router_gave_up(timer.subject, f"no reply within {timeout:g} s")
            return
        call = self.calls.get(timer.subject)
        if call is None:
            return
        if timer in call.timers:
            call.timers.remove(timer)
        if kind is _IVR_INPUT_TIMER:
            self.on_input_timeout(call)
        elif kind is _OFFER_TIMER:
            if call.state is _RINGING_AGENT:  # end_call cancels the ringing offer
                self.end_call(call, Result.FAILED, by="system", reason="agent_no_answer")
            else:
                self.on_offer_timeout(call)
        elif kind is _MAX_WAIT_TIMER:
            self.on_max_wait(call)
        elif kind is _OVERFLOW_TIMER and call.state is _QUEUED and call.queue_id:
            self.dirty.add(call.queue_id)

    # -- queries (read-only) -------------------------------------------------------------------

    def estimated_wait(self, queue_id: str) -> WaitEstimate:
        """QL, HOL and LES estimates for a caller joining `queue_id` now (issue 2, point 13)."""
        queue = self.queues.get(queue_id)
        if queue is None:
            raise NotFound(f"queue {queue_id} not found", details={"field": "queue_id"})
        return estimate(queue, self.now)
