"""Offers, agent statuses and wrap-up (issue 2, points 5, 7 and 8; seed 000 Steps 3b and 6).

An offer rings one agent (every chosen agent for ring all) for the answer timeout. On timeout
or reject the call goes back to its place in line and moves on to the next eligible agent; a
call that every eligible agent has missed is offered to them again, so with a single agent it
rings that agent again (seed 000 Step 6). Missed offers in a row set an agent not ready.
After a call, an agent of a queue with `agent_wrap_up_after_calls` gets no offer until the
`wrap_up_time_limit` timer or the agent ends the wrap-up.
"""

from __future__ import annotations

from typing import Final

from helpline.core import commands as cmd
from helpline.core.agents import AgentState, reach_reason
from helpline.core.calls import Call, QueueState, RouterStatus
from helpline.core.errors import Conflict
from helpline.core.estimators import record_busy_time
from helpline.core.model import AVAILABLE, RecordingMode, RoutingType
from helpline.core.records import Decision, Direction, Result
from helpline.core.router import RouterLayer
from helpline.core.routing import OfferTarget
from helpline.core.states import AgentActivity, CallState
from helpline.core.timers import TimerKind

# enum members the hot paths read, as module globals: on Python 3.11 `CallState.QUEUED` goes
# through `EnumType.__getattr__` (about 100 ns), a global takes about 10 ns
_CALLBACK: Final = Direction.CALLBACK
_CONNECTED: Final = CallState.CONNECTED
_DIALING_CUSTOMER: Final = CallState.DIALING_CUSTOMER
_DO_NOT_RECORD: Final = RecordingMode.DO_NOT_RECORD
_IDLE: Final = AgentActivity.IDLE
_OFFERING: Final = CallState.OFFERING
_OFFER_TIMER: Final = TimerKind.OFFER
_ON_CALL: Final = AgentActivity.ON_CALL
_RECORD: Final = RecordingMode.RECORD
_RESERVED: Final = AgentActivity.RESERVED
_WRAP_UP: Final = AgentActivity.WRAP_UP
_WRAP_UP_TIMER: Final = TimerKind.WRAP_UP


class OfferLayer(RouterLayer):
    def offer(
        self,
        call: Call,
        queue: QueueState | None,
        targets: list[OfferTarget],
        decision: Decision | None,
    ) -> None:
        call_id = call.id
        if queue is not None:
            queue.waiting.pop(call_id, None)  # queue.remove(), inlined: once per offer
        self.set_call_state(call, _OFFERING)
        now = self.now
        if call.offered_at is None:
            call.offered_at = now
        call.leg_offered_at = now
        single = len(targets) == 1  # every strategy but ring all
        if single:
            call.offered_to = [targets[0].agent_id]
        else:
            call.offered_to = [target.agent_id for target in targets]
        agents = self.agents
        out = self.out
        for target in targets:
            agent = agents[target.agent_id]
            agent.call_id = call_id
            self.set_activity(agent, _RESERVED)
            if queue is not None:
                self._seq += 1  # next_seq(), inlined
                queue.round_robin[agent.id] = self._seq
            out.append(
                cmd.OfferCall(
                    call_id,  # call_id
                    agent.id,  # agent_id
                    target.timeout_s,
                    target.routing_type,
                    target.phone_number,
                    call.customer_number,  # from_number
                    call.queue_id,
                )
            )
        first = targets[0]  # a local: tests/test_mypyc_borrowing.py says why
        timeout = first.timeout_s if single else max(t.timeout_s for t in targets)
        self.call_timer(call, _OFFER_TIMER, now + timeout)
        if decision is not None:
            call.decisions = (*call.decisions, decision)

    # -- the agent answers, rejects, or lets it ring -------------------------------------------

    def on_offer_answered(self, call: Call | None, agent: AgentState, call_id: str) -> None:
        if call is None or call.state is not _OFFERING or agent.id not in call.offered_to:
            # the offer was withdrawn or the caller left: the device must drop the call
            self.out.append(cmd.CancelOffer(call_id=call_id, agent_id=agent.id))
            return
        self.cancel_call_timers(call, _OFFER_TIMER)
        for other in call.offered_to:
            if other != agent.id:
                self.out.append(cmd.CancelOffer(call_id=call.id, agent_id=other))
                self.release_agent(self.agents[other])
        call.offered_to = []
        agent.missed_in_row = 0
        self.leave_queue(call, abandoned=False, served=True)
        call.transfer_queue = None
        call.agent_id = agent.id
        agent.busy_since = self.now
        agent.busy_queue = call.queue_id
        self.set_activity(agent, _ON_CALL)
        if call.direction is _CALLBACK:
            # seed 004: the agent has the call-back; now dial the customer
            self.set_call_state(call, _DIALING_CUSTOMER)
            self.out.append(
                cmd.DialCustomer(
                    call_id=call.id, number=call.customer_number, caller_id=call.caller_id
                )
            )
        else:
            self.connect(call, agent)

    def connect(self, call: Call, agent: AgentState) -> None:
        """Customer and agent are both on the line: bridge them."""
        self.set_call_state(call, _CONNECTED)
        call.leg_answered_at = self.now
        call.leg_hold = 0.0
        if call.answered_at is None:
            call.answered_at = self.now
        self.out.append(cmd.Bridge(call.id, agent.id, self.should_record(call)))

    def should_record(self, call: Call) -> bool:
        """Seed 004 "Recording permissions": the queue decides, or asks the call's permission."""
        queue = self.center.queues.get(call.queue_id) if call.queue_id else None
        if queue is None or queue.recording is _DO_NOT_RECORD:
            return False
        if queue.recording is _RECORD:
            return True
        return call.recording_permission == "recording_permission_granted"

    def on_offer_rejected(self, call: Call, agent: AgentState) -> None:
        if call.state is CallState.OFFERING and agent.id in call.offered_to:
            self.drop_offer(call, agent, counted=False)

    def on_offer_timeout(self, call: Call) -> None:
        if call.state is not CallState.OFFERING:
            return
        ring_all = len(call.offered_to) > 1
        for agent_id in list(call.offered_to):
            self.out.append(cmd.CancelOffer(call_id=call.id, agent_id=agent_id))
            self.drop_offer(call, self.agents[agent_id], counted=not ring_all)

    def drop_offer(self, call: Call, agent: AgentState, *, counted: bool) -> None:
        """The agent will not take this call: free the agent; back in line if nobody rings."""
        call.offered_to.remove(agent.id)
        call.missed.add(agent.id)
        self.release_agent(agent)
        if counted:
            self.count_missed(agent)
        if not call.offered_to:
            self.cancel_call_timers(call, TimerKind.OFFER)
            self.return_to_queue(call)

    def release_agent(self, agent: AgentState) -> None:
        agent.call_id = None
        self.set_activity(agent, _IDLE)

    def count_missed(self, agent: AgentState) -> None:
        """Missed offers in a row set the agent not ready (mod_callcenter's max_no_answer)."""
        agent.missed_in_row += 1
        limit = self.center.settings.max_missed_offers
        if limit and agent.missed_in_row >= limit:
            agent.missed_in_row = 0
            agent.manual_status = self.center.settings.missed_status
            agent.reason = "missed_offers"
            agent.status_since = self.now
            self._agent_changed(agent)

    def return_to_queue(self, call: Call) -> None:
        queue = self.queues.get(call.queue_id) if call.queue_id else None
        if queue is None:
            self.end_call(call, Result.FAILED, by="system", reason="no_agent_answered")
            return
        if call.transfer_queue is not None:
            # a transfer to one agent failed: the call goes to the queue it came from
            self.enqueue(call, queue.id, priority=call.priority, position_time=call.position_time)
            return
        self.set_call_state(call, CallState.QUEUED)
        if call.overdue:
            self.fallback(call, queue, queue.config.on_max_wait, reason="max_wait")
            return
        queue.push(call)
        self.out.append(
            cmd.PlayQueueAudio(
                call_id=call.id,
                greeting=None,
                greeting_text=None,
                hold_music=queue.config.hold_music,
            )
        )
        self.dirty.add(queue.id)

    # -- statuses change at any moment, mid-offer included (seed 000 Step 3b) ------------------

    def on_status_set(self, agent: AgentState, status: str, reason: str) -> None:
        agent.manual_status = status
        agent.reason = reason
        agent.status_since = self.now
        if status == AVAILABLE:
            agent.missed_in_row = 0
        self._withdraw_if_unreachable(agent)
        self._agent_changed(agent)

    def on_presence(self, agent: AgentState, online: bool) -> None:
        agent.online = online
        self._withdraw_if_unreachable(agent)
        self._agent_changed(agent)

    def on_reach(self, agent: AgentState, phone: str | None, routing_type: RoutingType) -> None:
        agent.phone_number = phone
        agent.routing_type = routing_type
        self._withdraw_if_unreachable(agent)
        self._agent_changed(agent)

    def _withdraw_if_unreachable(self, agent: AgentState) -> None:
        """A ringing queue offer stops when the agent is no longer AVAILABLE or reachable."""
        if agent.activity is not AgentActivity.RESERVED or agent.call_id is None:
            return
        call = self.calls.get(agent.call_id)
        if call is None or call.state is not CallState.OFFERING:
            return  # a callout rings the agent by the agent's own request: let it ring
        agent.activity = AgentActivity.IDLE  # probe eligibility as if free
        reason = agent.ineligibility()
        agent.activity = AgentActivity.RESERVED
        if reason in ("offline", "no_phone") and call.router_status is RouterStatus.LISTED:
            # rung the way the external router listed the agent (seed 000 Step 5b)
            phone = agent.phone_number
            if call.transfer_queue is None and any(
                reach_reason(agent.online, e.phone_number or phone, e.routing_type) is None
                for e in call.router_agents
                if e.agent_id == agent.id
            ):
                reason = None
        if reason is not None:
            self.out.append(cmd.CancelOffer(call_id=call.id, agent_id=agent.id))
            self.drop_offer(call, agent, counted=False)

    # -- after the call ------------------------------------------------------------------------

    def release_after_call(self, agent: AgentState, call: Call, talk_s: float) -> None:
        """The agent's part in a call is over: wrap-up (if the queue wants it) or free."""
        agent.calls_taken += 1
        agent.talk_time += talk_s
        agent.call_id = None
        queue = self.center.queues.get(call.queue_id) if call.queue_id else None
        limit = queue.wrap_up_time_limit if queue is not None else None
        if queue is not None and queue.agent_wrap_up_after_calls and limit != 0:
            agent.last_call_id = call.id
            agent.wrap_up_started = self.now
            self.set_activity(agent, _WRAP_UP)
            if limit is not None:
                agent.wrap_up_timer = self.start_timer(_WRAP_UP_TIMER, agent.id, self.now + limit)
            return
        self._become_idle(agent)

    def end_wrap_up(
        self, agent: AgentState, disposition: str | None = None, notes: str | None = None
    ) -> None:
        if agent.activity is not AgentActivity.WRAP_UP:
            raise Conflict(f"agent {agent.id} is not in wrap-up", details={"field": "agent_id"})
        self.cancel_timer(agent.wrap_up_timer)
        agent.wrap_up_timer = None
        started = agent.wrap_up_started if agent.wrap_up_started is not None else self.now
        if agent.last_call_id is not None:
            self.out.append(
                cmd.AmendCallRecord(
                    call_id=agent.last_call_id,
                    agent_id=agent.id,
                    wrap_up_s=self.now - started,
                    disposition=disposition,
                    notes=notes,
                )
            )
        agent.last_call_id = None
        agent.wrap_up_started = None
        self._become_idle(agent)

    def _become_idle(self, agent: AgentState) -> None:
        if agent.busy_since is not None and agent.busy_queue in self.queues:
            record_busy_time(self.queues[agent.busy_queue], self.now - agent.busy_since)
        agent.busy_since = None
        agent.busy_queue = None
        agent.idle_since = self.now
        self.set_activity(agent, _IDLE)
