"""How a call ends, and the ends a new configuration forces: the layer between the call
flow and the `Engine`'s event handlers (see `helpline.core.base` for the chain of layers).

`end_call` closes every leg and part of a call in whatever state it is, frees its agents and
writes its one `CallRecord`; `reconfigure` takes a new center document and ends only the calls
whose queue or IVR tree is gone (live calls and agents' statuses carry over).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from helpline.core import commands as cmd
from helpline.core.agents import AgentState
from helpline.core.callflow import CallFlowLayer
from helpline.core.calls import Call, RouterStatus
from helpline.core.model import Center, Prompt
from helpline.core.native_record import native_record
from helpline.core.records import COMPILED, CallRecord, Result, new_record
from helpline.core.states import AgentActivity, CallState
from helpline.core.timers import TimerKind

_TALKING: Final = (CallState.CONNECTED, CallState.HELD)

# enum members the hot paths read, as module globals: on Python 3.11 `CallState.QUEUED` goes
# through `EnumType.__getattr__` (about 100 ns), a global takes about 10 ns
_ABANDONED_IN_QUEUE: Final = Result.ABANDONED_IN_QUEUE
_DIALING_CUSTOMER: Final = CallState.DIALING_CUSTOMER
_ENDED: Final = CallState.ENDED
_EXTERNAL: Final = CallState.EXTERNAL
_IDLE: Final = AgentActivity.IDLE
_OFFERING: Final = CallState.OFFERING
_QUEUED: Final = CallState.QUEUED
_RINGING_AGENT: Final = CallState.RINGING_AGENT
_WRAP_UP: Final = AgentActivity.WRAP_UP


class CallEndLayer(CallFlowLayer):
    """Ending calls and taking a new configuration. Not used on its own: see `Engine`."""

    # -- the end of a call ---------------------------------------------------------------------

    def end_call(
        self,
        call: Call,
        result: Result,
        *,
        by: str,
        reason: str,
        hangup: bool = True,
        prompt: Prompt | None = None,
    ) -> None:
        """Close every leg and part of the call, free its agents, write its one record."""
        state = call.state
        if state is _ENDED:
            return
        if call.timers:
            self.cancel_call_timers(call)
        wrap_up_pending = False
        # the branches exclude each other; the common end (a talk) is tested first
        if state in _TALKING and call.agent_id is not None:
            agent = self.agents[call.agent_id]
            talk = self.close_leg(call)
            self.release_after_call(agent, call, talk)
            wrap_up_pending = agent.activity is _WRAP_UP and agent.last_call_id == call.id
        elif state is _QUEUED:
            self.leave_queue(call, abandoned=result is _ABANDONED_IN_QUEUE)
        elif state in (_OFFERING, _RINGING_AGENT):
            for agent_id in call.offered_to:
                self.out.append(cmd.CancelOffer(call_id=call.id, agent_id=agent_id))
                self.release_agent(self.agents[agent_id])
            call.offered_to = []
            self.leave_queue(call, abandoned=result is _ABANDONED_IN_QUEUE)
        elif state is _DIALING_CUSTOMER and call.agent_id is not None:
            agent = self.agents[call.agent_id]
            agent.call_id = None
            agent.busy_since = None  # no talk happened: not a handle time sample
            agent.idle_since = self.now
            self.set_activity(agent, _IDLE)
        elif state is _EXTERNAL and call.legs:
            last = call.legs[-1]
            started = last.answered_at if last.answered_at is not None else self.now
            call.legs[-1] = replace(last, ended_at=self.now, talk_s=self.now - started)
        self.set_call_state(call, _ENDED)
        for url in call.notify_urls:
            self.notify(call, url, event="call_hangup")
        if hangup:
            self.out.append(cmd.Hangup(call.id, reason, prompt))
        self.out.append(
            cmd.WriteCallRecord(self._record(call, result, by, reason, wrap_up_pending))
        )
        del self.calls[call.id]

    def _record(
        self, call: Call, result: Result, by: str, reason: str, wrap_up_pending: bool
    ) -> CallRecord:
        answered = call.answered_at is not None
        agent_id = call.agent_id if answered else None
        wrap_up_s = None if wrap_up_pending else 0.0
        recorded = answered and self.should_record(call)
        if COMPILED:  # the same fields, written into the native object (see native_record)
            return native_record(call, result, by, reason, self.now, wrap_up_s, agent_id, recorded)
        return new_record(
            {
                "call_id": call.id,
                "direction": call.direction,
                "from_number": call.from_number,
                "to_number": call.to_number,
                "result": result,
                "disconnected_by": by,
                "end_reason": reason,
                "created_at": call.created_at,
                "queued_at": call.queued_at,
                "offered_at": call.offered_at,
                "answered_at": call.answered_at,
                "ended_at": self.now,
                "wait_s": call.wait_total,
                "talk_s": call.talk_total,
                "hold_s": call.hold_total,
                "wrap_up_s": wrap_up_s,
                "queue_id": call.queue_id,
                "agent_id": agent_id,
                "ivr_tree": call.ivr_tree,
                "ivr_path": call.ivr_path,
                "keys": call.keys,
                "priority": call.priority,
                "legs": tuple(call.legs),
                "decisions": call.decisions,
                "recorded": recorded,
                "data": dict(call.data),
            }
        )

    # -- configuration -------------------------------------------------------------------------

    def reconfigure(self, center: Center) -> None:
        """Take a new center document; live calls and agents' statuses carry over."""
        self.center = center.validate()
        for agent_id, state in self.agents.items():
            config = center.agents.get(agent_id)
            state.removed = config is None
            if config is not None:
                state.config = config
                state.phone_number = config.phone_number
                state.routing_type = config.routing_type
        for config in center.agents.values():
            if config.id not in self.agents:
                self.agents[config.id] = AgentState(config, self.now)
        gone = [q for q in self.queues.values() if q.id not in center.queues]
        self._build_queues()
        for queue in gone:
            for call in list(queue.waiting.values()):
                self.end_call(call, Result.FAILED, by="system", reason="queue_removed")
        for call in list(self.calls.values()):
            if call.state is CallState.IVR and call.ivr_tree not in center.ivr_trees:
                self.end_call(call, Result.FAILED, by="system", reason="ivr_removed")
            elif (
                call.state in (CallState.QUEUED, CallState.OFFERING)
                and call.transfer_queue is None
                and call.queue_id in self.queues
            ):
                queue = self.queues[call.queue_id]
                routed = bool(queue.config.get_list_agents_url)
                if call.router_status is (RouterStatus.NONE if routed else RouterStatus.PENDING):
                    # the queue gained or lost its external router: group routing for this call
                    call.router_status = RouterStatus.FALLBACK
                # the tiers' `after_wait_s` may have changed: re-arm the overflow timers
                self.cancel_call_timers(call, TimerKind.OVERFLOW)
                for pool in queue.tiers:
                    opens = call.position_time + pool.after_wait_s
                    if pool.after_wait_s > 0 and opens > self.now:
                        self.call_timer(call, TimerKind.OVERFLOW, opens)
        self.dirty.update(self.queues)
