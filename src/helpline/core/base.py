"""The engine's state and the bookkeeping every layer shares.

The engine is built as a short chain of layers, each one module (ARCHITECTURE.md: modules of
150-400 lines): `EngineBase` (state, timers, transitions, pools) -> `IvrLayer` -> `QueueLayer`
-> `OfferLayer` -> `CallFlowLayer` -> `CallEndLayer` -> `Engine`. A layer calls the ones below
it directly, and the ones above through the abstract hooks declared here.
"""

from __future__ import annotations

import random
from abc import abstractmethod
from dataclasses import dataclass
from typing import Final

from helpline.core import commands as cmd
from helpline.core.agents import AgentState
from helpline.core.calls import Call, QueueState
from helpline.core.model import AVAILABLE, Action, Center, Prompt, Queue, RoutingType
from helpline.core.pools import Pool
from helpline.core.records import Result
from helpline.core.states import (
    AGENT_TRANSITIONS,
    CALL_TRANSITIONS,
    AgentActivity,
    CallState,
    advance,
    system_status,
)
from helpline.core.timers import Timer, TimerKind

# enum members the hot paths read, as module globals: on Python 3.11 `CallState.QUEUED` goes
# through `EnumType.__getattr__` (about 100 ns), a global takes about 10 ns
_IDLE: Final = AgentActivity.IDLE


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineOptions:
    """What the engine reports beyond what must be done.

    The server wants everything; the simulator turns the extras off for speed.
    """

    publish_states: bool = True  # CallStateChanged / AgentStateChanged for live views
    trace: bool = True  # keep a decision trace on every assignment (issue 2, point 12)


class EngineBase:
    """State and shared bookkeeping. Not used on its own: see `helpline.core.engine.Engine`."""

    def __init__(
        self,
        center: Center,
        *,
        rng: random.Random,
        now: float = 0.0,
        options: EngineOptions | None = None,
    ) -> None:
        self.center = center.validate()
        self.rng = rng
        self.options = options or EngineOptions()
        # read on every state change: one attribute rather than two (options never change)
        self._publish = self.options.publish_states
        self.now = now
        self.out: list[cmd.Command] = []
        self.calls: dict[str, Call] = {}
        self.agents: dict[str, AgentState] = {}
        self.queues: dict[str, QueueState] = {}
        self.timers: set[Timer] = set()
        self.dirty: set[str] = set()  # queues to dispatch before the event's handling returns
        self.router_watch: dict[str, dict[str, int]] = {}  # agent -> {queue: listing calls}
        self.router_requests: dict[str, tuple[str, list[str], Timer]] = {}  # id -> queue, calls
        self._seq = 0
        self._serial = 0
        for agent in center.agents.values():
            self.agents[agent.id] = AgentState(agent, now)
        self._build_queues()

    # -- configuration -------------------------------------------------------------------------

    def _build_queues(self) -> None:
        """(Re)build every queue's tiers and every agent's pool membership."""
        center = self.center
        for agent in self.agents.values():
            agent.pools = []
            agent.in_pools = False
        old = self.queues
        self.queues = {}
        for queue in center.queues.values():
            round_robin = old[queue.id].round_robin if queue.id in old else {}
            state = QueueState(queue, self._tiers(queue, round_robin), round_robin)
            if queue.id in old:
                previous = old[queue.id]
                state.lines, state.levels, state.waiting = (
                    previous.lines,
                    previous.levels,
                    previous.waiting,
                )
                state.busy_mean_s, state.busy_samples = previous.busy_mean_s, previous.busy_samples
                state.abandon_weight, state.wait_weight = (
                    previous.abandon_weight,
                    previous.wait_weight,
                )
                state.last_started_wait = previous.last_started_wait
                # an open router request still covers its calls; calls that joined meanwhile
                # must still be asked about when it closes
                state.router_request = previous.router_request
                state.router_backlog = previous.router_backlog
            self.queues[queue.id] = state
        for agent in self.agents.values():
            agent.queue_ids = tuple(dict.fromkeys(pool.queue_id for pool in agent.pools))
            agent.staffed = False
            self._agent_changed(agent, publish=False)

    def _tiers(self, queue: Queue, round_robin: dict[str, int]) -> list[Pool]:
        center = self.center
        required = queue.required_skills
        by_priority: dict[int, list[str]] = {}
        after: dict[int, float] = {}
        for tier in queue.groups:
            by_priority.setdefault(tier.priority, []).append(tier.group)
            after[tier.priority] = max(after.get(tier.priority, 0.0), tier.after_wait_s)
        if not queue.groups and required:
            by_priority[1] = []  # a skills-only queue: every agent with the skills
            after[1] = 0.0
        placed: set[str] = set()
        pools: list[Pool] = []
        for priority in sorted(by_priority):
            groups = by_priority[priority]
            if groups:
                candidates = [a for g in groups for a in center.groups[g].agents]
            else:
                candidates = list(center.agents)
            members: dict[str, int] = {}
            scores: dict[str, int] = {}
            for agent_id in candidates:
                if agent_id in placed or agent_id in members:
                    continue  # an agent serves a queue from its best tier only
                skills = center.agents[agent_id].skills
                if any(skills.get(s, -1) < level for s, level in required.items()):
                    continue
                members[agent_id] = len(members)
                scores[agent_id] = sum(skills.get(s, 0) for s in required)
            placed.update(members)
            pool = Pool(
                queue_id=queue.id,
                priority=priority,
                groups=tuple(groups),
                after_wait_s=after[priority],
                strategy=queue.strategy,
                members=members,
                scores=scores,
                round_robin=round_robin,
            )
            pools.append(pool)
            for agent_id in members:
                self.agents[agent_id].pools.append(pool)
        return pools

    # -- output and timers ---------------------------------------------------------------------

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def start_timer(self, kind: TimerKind, subject: str, at: float) -> Timer:
        self._serial += 1
        timer = Timer(kind, subject, self._serial)
        self.timers.add(timer)
        self.out.append(cmd.StartTimer(timer=timer, at=at))
        return timer

    def call_timer(self, call: Call, kind: TimerKind, at: float) -> Timer:
        # `start_timer`, inlined: every offer starts one
        self._serial += 1
        timer = Timer(kind, call.id, self._serial)
        self.timers.add(timer)
        self.out.append(cmd.StartTimer(timer, at))
        call.timers.append(timer)
        return timer

    def cancel_call_timers(self, call: Call, *kinds: TimerKind) -> None:
        """Cancel the call's live timers of these kinds (all of them if no kind is given)."""
        if not call.timers:
            return
        keep: list[Timer] = []
        live = self.timers
        for timer in call.timers:
            if kinds and timer.kind not in kinds:
                keep.append(timer)
            elif timer in live:  # `cancel_timer`, inlined: every answer cancels one
                live.discard(timer)
                self.out.append(cmd.CancelTimer(timer))
        call.timers = keep

    def cancel_timer(self, timer: Timer | None) -> None:
        if timer is not None and timer in self.timers:
            self.timers.discard(timer)
            self.out.append(cmd.CancelTimer(timer=timer))

    # -- state machines ------------------------------------------------------------------------

    def set_call_state(self, call: Call, state: CallState) -> None:
        if state not in CALL_TRANSITIONS[call.state]:  # the table check, inlined: hot path
            advance(CALL_TRANSITIONS, call.state, state, "call", call.id)  # raises
        call.state = state
        if self._publish:
            self.out.append(
                cmd.CallStateChanged(
                    call_id=call.id,
                    state=state.value,
                    queue_id=call.queue_id,
                    agent_id=call.agent_id,
                    at=self.now,
                )
            )

    def set_activity(self, agent: AgentState, activity: AgentActivity) -> None:
        if activity not in AGENT_TRANSITIONS[agent.activity]:
            advance(AGENT_TRANSITIONS, agent.activity, activity, "agent", agent.id)  # raises
        agent.activity = activity
        agent.status_since = self.now
        # Only the activity changed, three times per call: `agent.staffed` does not depend on
        # it and is current (every other change goes through `_agent_changed`), so eligible is
        # staffed and idle, and only the pool index may move.
        idle = activity is _IDLE
        if agent.staffed and idle != agent.in_pools:  # `_reindex`, inlined: twice per call
            if idle:
                for pool in agent.pools:
                    pool.add(agent)
                self.dirty.update(agent.queue_ids)
            else:
                agent_id = agent.id
                for pool in agent.pools:
                    pool.discard(agent_id)
            agent.in_pools = idle
        if idle and self.router_watch and agent.id in self.router_watch:
            self.dirty.update(self.router_watch[agent.id])
        if self._publish:
            self._publish_agent(agent)

    def _reindex(self, agent: AgentState, eligible: bool) -> None:
        """Index the agent in its pools, or take it out, as it became eligible or not."""
        if eligible:
            for pool in agent.pools:
                pool.add(agent)
            self.dirty.update(agent.queue_ids)
        else:
            for pool in agent.pools:
                pool.discard(agent.id)
        agent.in_pools = eligible

    def _agent_changed(self, agent: AgentState, *, publish: bool = True) -> None:
        """Re-index an agent after any change to its statuses (seed 000 Step 3b).

        `is_staffed()` and `ineligibility() is None`, unrolled: eligible is exactly staffed and
        idle (test_engine_stateful checks the pools and staffed counts against both methods
        after every step).
        """
        staffed = (
            not agent.removed
            and agent.manual_status == AVAILABLE
            and (
                agent.online if agent.routing_type is RoutingType.APP else bool(agent.phone_number)
            )
        )
        eligible = staffed and agent.activity is AgentActivity.IDLE
        if eligible != agent.in_pools:
            self._reindex(agent, eligible)
        if staffed != agent.staffed:
            agent.staffed = staffed
            step = 1 if staffed else -1
            for queue_id in agent.queue_ids:
                self.queues[queue_id].staffed += step
        if agent.activity is AgentActivity.IDLE and agent.id in self.router_watch:
            self.dirty.update(self.router_watch[agent.id])
        if publish and self.options.publish_states:
            self._publish_agent(agent)

    def _publish_agent(self, agent: AgentState) -> None:
        self.out.append(
            cmd.AgentStateChanged(
                agent_id=agent.id,
                manual_status=agent.manual_status,
                system_status=system_status(agent.activity),
                activity=agent.activity.value,
                online=agent.online,
                reason=agent.reason,
                at=self.now,
            )
        )

    # -- hooks the upper layers provide --------------------------------------------------------

    @abstractmethod
    def run_action(self, call: Call, action: Action) -> None: ...

    @abstractmethod
    def enqueue(
        self, call: Call, queue_id: str, *, priority: int, position_time: float | None = None
    ) -> None: ...

    @abstractmethod
    def end_call(
        self,
        call: Call,
        result: Result,
        *,
        by: str,
        reason: str,
        hangup: bool = True,
        prompt: Prompt | None = None,
    ) -> None: ...

    @abstractmethod
    def request_callback(self, call: Call, queue_id: str, *, priority: int) -> None: ...
