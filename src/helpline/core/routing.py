"""Queues and group routing (issue 2, points 3, 4 and 6; seed 000 1b and 1d).

A queued call waits in line: first come, first served within a priority level. Whenever a
queue may have work (a call joined, an agent became eligible, an overflow tier opened) it is
marked dirty, and before the engine returns from an event every dirty queue is dispatched,
the queue with the most deserving head call first. Dispatch offers the head call of each
priority level to the agent its tiers and strategy choose, until no call or agent is left:
so no call waits while an eligible agent of an open tier is idle.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Final

from helpline.core import commands as cmd
from helpline.core.calls import Call, QueueState, RouterStatus
from helpline.core.estimators import estimate, record_wait
from helpline.core.ivr import IvrLayer
from helpline.core.model import Fallback, FallbackKind, RoutingType
from helpline.core.plain import freeze_interpreted
from helpline.core.pools import Pool
from helpline.core.records import Decision, Direction, Result
from helpline.core.states import CallState
from helpline.core.timers import TimerKind
from helpline.core.tracing import views_until

EPSILON: Final = 1e-9  # a timer fires at exactly position + after_wait; float sums may fall short

# enum members the hot paths read, as module globals: on Python 3.11 `CallState.QUEUED` goes
# through `EnumType.__getattr__` (about 100 ns), a global takes about 10 ns
_CALLBACK: Final = Direction.CALLBACK
_FAILED: Final = Result.FAILED
_MAX_WAIT_TIMER: Final = TimerKind.MAX_WAIT
_OVERFLOW_TIMER: Final = TimerKind.OVERFLOW
_QUEUED: Final = CallState.QUEUED
_ROUTER_LISTED: Final = RouterStatus.LISTED
_ROUTER_NONE: Final = RouterStatus.NONE
_ROUTER_PENDING: Final = RouterStatus.PENDING


@dataclass(init=False, unsafe_hash=True)
class OfferTarget:
    """One agent to ring, how, and for how long.

    Built for every offer and never leaves the engine: as fast to build as the commands every
    call produces (see `helpline.core.commands`).
    """

    agent_id: Final[str]
    timeout_s: Final[float]
    routing_type: Final[RoutingType]
    phone_number: Final[str | None]

    def __init__(
        self, agent_id: str, timeout_s: float, routing_type: RoutingType, phone_number: str | None
    ) -> None:
        self.agent_id = agent_id
        self.timeout_s = timeout_s
        self.routing_type = routing_type
        self.phone_number = phone_number


freeze_interpreted(OfferTarget)


class QueueLayer(IvrLayer):
    # -- joining and leaving -------------------------------------------------------------------

    def enqueue(
        self, call: Call, queue_id: str, *, priority: int, position_time: float | None = None
    ) -> None:
        queue = self.queues.get(queue_id)
        if queue is None:  # removed by a new center document while the call was on its way
            self.end_call(call, _FAILED, by="system", reason="unknown_queue")
            return
        config = queue.config
        call.queue_id = queue_id
        call.priority = priority
        is_callback = call.direction is _CALLBACK
        if (
            config.max_size is not None
            and not is_callback
            and len(queue.waiting) >= config.max_size
        ):
            # turned away: the call is in no line now (a previous stay, if any, is over)
            self.fallback(call, queue, config.on_full, reason="queue_full")
            return
        now = self.now
        if call.queued_at is None:
            call.queued_at = now
        call.position_time = now if position_time is None else position_time
        self._seq += 1  # next_seq(), inlined: once per caller
        call.seq = self._seq
        call.enqueued_at = now
        call.in_queue = True
        if call.missed:
            call.missed.clear()
        call.overdue = False
        call.transfer_queue = None
        if call.timers:  # most calls join with none: skip the call
            self.cancel_call_timers(call, _MAX_WAIT_TIMER, _OVERFLOW_TIMER)
        greeting = config.greeting
        greeting_text = None
        if greeting is not None:
            greeting_text = greeting.render(self.wait_values(queue))
        self.set_call_state(call, _QUEUED)
        queue.push(call)
        if not is_callback:
            self.out.append(cmd.PlayQueueAudio(call.id, greeting, greeting_text, config.hold_music))
            if config.max_wait_s is not None:
                self.call_timer(call, _MAX_WAIT_TIMER, now + config.max_wait_s)
        for pool in queue.tiers:
            if pool.after_wait_s > 0:
                opens = call.position_time + pool.after_wait_s
                if opens > now:
                    self.call_timer(call, _OVERFLOW_TIMER, opens)
        if config.get_list_agents_url:
            call.router_status = _ROUTER_PENDING
            self.ask_router(queue)
        else:
            call.router_status = _ROUTER_NONE
        self.dirty.add(queue_id)

    def wait_values(self, queue: QueueState) -> dict[str, object]:
        """Placeholders for prompts: `{ewt_seconds}`, `{ewt_minutes}`, `{position}`."""
        ewt = estimate(queue, self.now).ql_s
        seconds = 0 if ewt is None else round(ewt)
        return {
            "ewt_seconds": seconds,
            "ewt_minutes": max(1, round(seconds / 60)) if seconds else 0,
            "position": len(queue.waiting) + 1,
        }

    def leave_queue(self, call: Call, *, abandoned: bool, served: bool = False) -> None:
        """The call stops waiting in its queue: answered, abandoned, fell back or moved on.

        Once per stint: a call not in a queue (turned away by a full one, transferred to an
        agent, already fallen back) changes nothing, so its wait is never counted twice.
        """
        if not call.in_queue:
            return
        call.in_queue = False
        queue = self.queues.get(call.queue_id) if call.queue_id else None
        if call.timers:
            self.cancel_call_timers(call, _MAX_WAIT_TIMER, _OVERFLOW_TIMER)
        waited = self.now - call.enqueued_at
        call.wait_total += waited
        if queue is None:
            return
        queue.waiting.pop(call.id, None)  # queue.remove(), inlined: once per caller
        record_wait(queue, waited, abandoned, served=served)
        if call.router_status is _ROUTER_LISTED:
            self.unwatch(call)

    def fallback(
        self,
        call: Call,
        queue: QueueState,
        fallback: Fallback,
        *,
        reason: str,
    ) -> None:
        """Queue full or waited too long (issue 2, point 3): go where the queue says."""
        self.leave_queue(call, abandoned=False)
        call.fallbacks += 1
        if call.fallbacks > self.center.settings.max_fallbacks:
            self.end_call(call, Result.NO_AGENT, by="system", reason="fallback_loop")
            return
        kind = fallback.kind
        if kind is FallbackKind.QUEUE:
            assert fallback.target is not None
            call.data["fallback_from"] = queue.id
            self.enqueue(call, fallback.target, priority=call.priority)
        elif kind is FallbackKind.CALLBACK:
            self.request_callback(call, fallback.target or queue.id, priority=call.priority)
        elif kind is FallbackKind.VOICEMAIL:
            self.set_call_state(call, CallState.VOICEMAIL)
            self.out.append(
                cmd.StartVoicemail(call_id=call.id, mailbox=fallback.target, prompt=fallback.prompt)
            )
        else:
            self.end_call(call, Result.NO_AGENT, by="system", reason=reason, prompt=fallback.prompt)

    def on_max_wait(self, call: Call) -> None:
        queue = self.queues[call.queue_id] if call.queue_id else None
        if queue is None:
            return
        if call.state is CallState.OFFERING:
            call.overdue = True  # let the ringing agent answer; fall back if the offer fails
        elif call.state is CallState.QUEUED:
            self.fallback(call, queue, queue.config.on_max_wait, reason="max_wait")

    # -- dispatch ------------------------------------------------------------------------------

    def dispatch_dirty(self) -> None:
        dirty = self.dirty
        queues = self.queues
        while dirty:
            if len(dirty) == 1:  # the common case: one queue, nothing to order
                queue = queues.get(dirty.pop())
                if queue is not None and queue.waiting:
                    self.dispatch(queue)
                continue
            names = list(dirty)
            dirty.clear()
            names.sort(key=lambda name: queues[name].head_key())
            for name in names:
                queue = queues.get(name)
                if queue is not None and queue.waiting:
                    self.dispatch(queue)

    def dispatch(self, queue: QueueState) -> None:
        if queue.config.get_list_agents_url:
            self.dispatch_router(queue)
            return
        tiers = queue.tiers
        for level in queue.levels:  # `push` rebinds `levels`, never changes it in place
            while True:
                for pool in tiers:
                    if pool.eligible:
                        break
                else:
                    break  # no tier has an eligible agent left
                call = queue.head(level)
                if call is None:
                    break
                if not self.route_by_groups(queue, call):
                    break  # later calls of this level waited less: no tier is open to them

    def route_by_groups(self, queue: QueueState, call: Call) -> bool:
        """Offer the call to the agent(s) its open tiers and the strategy pick; False if none."""
        waited = self.now - call.position_time + EPSILON
        missed = call.missed
        rng = self.rng
        for attempt in (0, 1):
            if attempt == 1:
                if not missed:
                    break
                missed.clear()  # every eligible agent missed it: start over (seed 000 Step 6)
            for pool in queue.tiers:
                if waited < pool.after_wait_s:
                    continue
                chosen = pool.pick(missed, rng)
                if chosen:
                    timeout_s = queue.config.wait_agent_answer_timeout
                    if len(chosen) == 1:  # every strategy but ring all; `_group_target`
                        agent = self.agents[chosen[0]]
                        targets = [
                            OfferTarget(agent.id, timeout_s, agent.routing_type, agent.phone_number)
                        ]
                    else:
                        targets = [self._group_target(a, timeout_s) for a in chosen]
                    decision = None
                    if self.options.trace:
                        decision = self._group_decision(queue, call, pool, chosen, attempt)
                    self.offer(call, queue, targets, decision)
                    return True
        return False

    def _group_target(self, agent_id: str, timeout_s: float) -> OfferTarget:
        agent = self.agents[agent_id]
        return OfferTarget(
            agent_id=agent_id,
            timeout_s=timeout_s,
            routing_type=agent.routing_type,
            phone_number=agent.phone_number,
        )

    def _group_decision(
        self, queue: QueueState, call: Call, pool: Pool, chosen: list[str], attempt: int
    ) -> Decision:
        return Decision(
            at=self.now,
            queue_id=queue.id,
            rule=queue.config.strategy.value,
            chosen=tuple(chosen),
            tiers=views_until(
                queue.tiers,
                pool,
                waited=self.now - call.position_time,
                agents=self.agents,
                chosen=chosen,
                excluded=call.missed,
                detail_limit=self.center.settings.trace_detail_limit,
            ),
            note="every eligible agent had missed the call: offered again" if attempt else "",
        )

    # -- hooks the upper layers provide --------------------------------------------------------

    @abstractmethod
    def offer(
        self,
        call: Call,
        queue: QueueState | None,
        targets: list[OfferTarget],
        decision: Decision | None,
    ) -> None: ...

    @abstractmethod
    def ask_router(self, queue: QueueState) -> None: ...

    @abstractmethod
    def dispatch_router(self, queue: QueueState) -> None: ...

    @abstractmethod
    def unwatch(self, call: Call) -> None: ...
