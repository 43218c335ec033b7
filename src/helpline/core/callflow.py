"""Outbound calls, hold and transfers (issue 2, points 10 and 14).

- Callout (seed 000 Step 4, method 2): ring the agent; when the agent answers, dial the
  customer; when the customer answers, bridge.
- Callback call (seed 004 "Callback Call API"): waits in a queue like a caller; once an agent
  takes it the customer is dialled.
- Hold and resume of an answered call; blind transfer to an agent, a queue (keeping the
  call's place in line, as configured) or an outside number. Every leg is kept.
"""

from __future__ import annotations

from typing import Final

from helpline.core import commands as cmd
from helpline.core.agents import AgentState, reach_reason
from helpline.core.calls import Call
from helpline.core.errors import Conflict, NotFound
from helpline.core.events import CallbackRequested, CalloutRequested, TransferRequested
from helpline.core.offers import OfferLayer
from helpline.core.records import Decision, Direction, Leg, Result
from helpline.core.routing import OfferTarget
from helpline.core.states import AgentActivity, CallState
from helpline.core.timers import TimerKind

_TALKING: Final = (CallState.CONNECTED, CallState.HELD)


class CallFlowLayer(OfferLayer):
    # -- callout and callback ------------------------------------------------------------------

    def start_callout(self, event: CalloutRequested) -> None:
        agent = self.agents.get(event.agent_id)
        if agent is None or agent.removed:
            raise NotFound(f"agent {event.agent_id} not found", details={"field": "agentUserId"})
        if agent.activity is not AgentActivity.IDLE:
            raise Conflict(
                f"agent {agent.id} is {agent.activity.value}", details={"field": "agentUserId"}
            )
        # an agent-line callout reaches the agent on its line, whatever its presence says
        problem = reach_reason(agent.online, agent.phone_number, agent.routing_type)
        if problem is not None and not event.agent_line:
            raise Conflict(
                f"agent {agent.id} cannot be reached: {problem}", details={"field": "agentUserId"}
            )
        caller_id = event.to_customer_from_number or self.center.settings.global_number
        call = Call(
            event.call_id, Direction.CALLOUT, caller_id or "", event.customer_number, self.now
        )
        call.caller_id = caller_id
        call.data.update(event.data)
        call.display = (
            event.to_agent_from_number_display_alias or event.to_agent_from_number_display
        )
        self.calls[call.id] = call
        self.set_call_state(call, CallState.RINGING_AGENT)
        call.offered_at = call.leg_offered_at = self.now
        call.offered_to = [agent.id]
        agent.call_id = call.id
        self.set_activity(agent, AgentActivity.RESERVED)
        self.out.append(
            cmd.OfferCall(
                call_id=call.id,
                agent_id=agent.id,
                timeout_s=event.answer_timeout_s,
                routing_type=agent.routing_type,
                phone_number=agent.phone_number,
                from_number=event.customer_number,
                queue_id=None,
                display=call.display,
                agent_line=event.agent_line,
            )
        )
        self.call_timer(call, TimerKind.OFFER, self.now + event.answer_timeout_s)

    def on_callout_answered(self, call: Call, agent: AgentState) -> None:
        self.cancel_call_timers(call, TimerKind.OFFER)
        call.offered_to = []
        call.agent_id = agent.id
        agent.busy_since = self.now
        self.set_activity(agent, AgentActivity.ON_CALL)
        self.set_call_state(call, CallState.DIALING_CUSTOMER)
        self.out.append(
            cmd.DialCustomer(call_id=call.id, number=call.customer_number, caller_id=call.caller_id)
        )

    def start_callback(self, event: CallbackRequested) -> None:
        queue = self.center.queues.get(event.queue_id)
        if queue is None:
            raise NotFound(f"queue {event.queue_id} not found", details={"field": "queue_id"})
        # seed 004 "Outbound number logic": the given number, else the queue's first, else global
        caller_id = (
            event.outbound_number
            or (queue.outbound_numbers[0] if queue.outbound_numbers else None)
            or self.center.settings.global_number
        )
        call = Call(
            event.call_id, Direction.CALLBACK, caller_id or "", event.customer_number, self.now
        )
        call.caller_id = caller_id
        call.recording_permission = event.recording_permission
        call.data.update(event.data)
        self.calls[call.id] = call
        self.enqueue(call, queue.id, priority=event.priority)

    def request_callback(self, call: Call, queue_id: str, *, priority: int) -> None:
        """The caller leaves the line; a callback call takes its place (IVR key or fallback)."""
        position = call.position_time if call.queued_at is not None else self.now
        callback_id = f"{call.id}-cb"
        while callback_id in self.calls:
            callback_id += "x"
        callback = Call(callback_id, Direction.CALLBACK, call.to_number, call.from_number, self.now)
        queue = self.center.queues[queue_id]
        callback.caller_id = (
            (queue.outbound_numbers[0] if queue.outbound_numbers else None)
            or self.center.settings.global_number
            or call.to_number
        )
        callback.data["origin_call_id"] = call.id
        call.data["callback_call_id"] = callback_id
        self.end_call(call, Result.CALLBACK_REQUESTED, by="system", reason="callback_requested")
        self.calls[callback_id] = callback
        self.enqueue(callback, queue_id, priority=priority, position_time=position)

    def on_customer_answered(self, call: Call) -> None:
        if call.state is not CallState.DIALING_CUSTOMER or call.agent_id is None:
            return
        self.connect(call, self.agents[call.agent_id])

    def on_customer_failed(self, call: Call, reason: str) -> None:
        if call.state is CallState.DIALING_CUSTOMER:
            self.end_call(call, Result.FAILED, by="customer", reason=reason)

    # -- hold ----------------------------------------------------------------------------------

    def hold(self, call: Call, on: bool) -> None:
        if on and call.state is CallState.CONNECTED:
            self.set_call_state(call, CallState.HELD)
            call.hold_started = self.now
        elif not on and call.state is CallState.HELD:
            self.close_hold(call)
            self.set_call_state(call, CallState.CONNECTED)
        else:
            raise Conflict(
                f"call {call.id} is {call.state.value}: cannot {'hold' if on else 'resume'} it",
                details={"field": "call_id"},
            )
        self.out.append(cmd.SetHold(call_id=call.id, on=on))

    def close_hold(self, call: Call) -> None:
        if call.hold_started is not None:
            held = self.now - call.hold_started
            call.leg_hold += held
            call.hold_total += held
            call.hold_started = None

    def close_leg(self, call: Call) -> float:
        """End the current agent leg; returns its talk time."""
        if call.hold_started is not None:
            self.close_hold(call)
        started = call.leg_answered_at if call.leg_answered_at is not None else self.now
        talk = max(0.0, self.now - started - call.leg_hold)
        call.talk_total += talk
        call.legs.append(
            Leg(
                call.agent_id,
                call.queue_id,
                call.leg_offered_at,  # offered_at
                call.leg_answered_at,  # answered_at
                self.now,  # ended_at
                talk,  # talk_s
                call.leg_hold,  # hold_s
            )
        )
        call.leg_answered_at = None
        call.leg_hold = 0.0
        return talk

    # -- transfer ------------------------------------------------------------------------------

    def transfer(self, call: Call, event: TransferRequested) -> None:
        if call.state not in _TALKING or call.agent_id is None:
            raise Conflict(
                f"call {call.id} is {call.state.value}: only an answered call can be transferred",
                details={"field": "call_id"},
            )
        target_agent: AgentState | None = None
        if event.to_agent is not None:
            target_agent = self.agents.get(event.to_agent)
            if target_agent is None or target_agent.removed:
                raise NotFound(f"agent {event.to_agent} not found", details={"field": "to_agent"})
            problem = target_agent.ineligibility()
            if target_agent.id == call.agent_id or problem is not None:
                raise Conflict(
                    f"agent {target_agent.id} cannot take the call: {problem or 'already on it'}",
                    details={"field": "to_agent"},
                )
        if event.to_queue is not None and event.to_queue not in self.queues:
            raise NotFound(f"queue {event.to_queue} not found", details={"field": "to_queue"})
        agent = self.agents[call.agent_id]
        talk = self.close_leg(call)
        call.agent_id = None
        self.release_after_call(agent, call, talk)
        if event.to_number is not None:
            self.connect_external(call, event.to_number)
        elif event.to_queue is not None:
            queue = self.queues[event.to_queue]
            keep = event.keep_position
            if keep is None:
                keep = queue.config.transfer_keeps_position
            priority = event.priority if event.priority is not None else call.priority
            self.enqueue(
                call,
                queue.id,
                priority=priority,
                position_time=call.position_time if keep else None,
            )
        else:
            assert target_agent is not None
            call.transfer_queue = call.queue_id or ""
            timeout = 15.0
            previous = self.center.queues.get(call.queue_id or "")
            if previous is not None:
                timeout = previous.wait_agent_answer_timeout
            decision = None
            if self.options.trace:
                decision = Decision(
                    at=self.now,
                    queue_id=call.queue_id,
                    rule="transfer_to_agent",
                    chosen=(target_agent.id,),
                    note=f"from agent {agent.id}",
                )
            self.offer(
                call,
                None,
                [
                    OfferTarget(
                        agent_id=target_agent.id,
                        timeout_s=timeout,
                        routing_type=target_agent.routing_type,
                        phone_number=target_agent.phone_number,
                    )
                ],
                decision,
            )
