"""One replication: the real engine on a virtual clock (ARCHITECTURE.md, the first driver).

Callers and agents are modelled; the engine's commands become future events on a heap:
`StartTimer` is an event at its time, `OfferCall` an answer after the agents' answer delay
(or none, with the no-answer probability), `Bridge` a hang-up after the stream's handle time,
`PlayQueueAudio` an abandonment after the caller's patience, a collecting `PlayPrompt` a key
press drawn from the stream's key probabilities. No real time passes.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from mypy_extensions import mypyc_attr

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.base import EngineOptions
from helpline.core.engine import Engine
from helpline.core.errors import ClientError
from helpline.core.estimators import estimate, head_wait
from helpline.core.model import Center, RoutingType
from helpline.core.states import CallState
from helpline.sim.stats import Collector
from helpline.sim.traffic import ArrivalProcess, Sampler, StreamDoc, TrafficDoc, staffed_center

# heap event kinds. `Final` throughout: compiled (hatch_build.py), a literal is a C constant
# and any other value a C static, where a plain module global is a dict lookup at every use
_ARRIVAL: Final = 0
_TIMER: Final = 1
_ANSWER: Final = 2
_HANGUP: Final = 3
_ABANDON: Final = 4
_DIGITS: Final = 5
_CUSTOMER: Final = 6
_WRAP_END: Final = 7
_ROUTER: Final = 8
_SAMPLE: Final = 9
_WAITING: Final = (CallState.QUEUED, CallState.OFFERING)
_QUEUED: Final = CallState.QUEUED  # a global: `CallState.QUEUED` goes through EnumType.__getattr__
_BY_CUSTOMER: Final = ev.Party.CUSTOMER
_StartTimer: Final = cmd.StartTimer
_PlayQueueAudio: Final = cmd.PlayQueueAudio
_OfferCall: Final = cmd.OfferCall
_Bridge: Final = cmd.Bridge
_WriteCallRecord: Final = cmd.WriteCallRecord


class _Caller:
    """A simulated caller's own facts. A plain class: compiled, built in C (a dataclass's
    generated `__init__` would run as Python, once for every caller)."""

    def __init__(self, stream: int) -> None:
        self.stream = stream
        self.entered: float | None = None  # entered a queue
        self.predicted: dict[str, float] | None = None  # wait estimates at queue entry
        self.offered = False


@mypyc_attr(allow_interpreted_subclasses=True)  # tests/sim/test_runner_schedule.py
class Replication:
    """Runs one replication of a traffic document against a center."""

    def __init__(
        self,
        center: Center,
        traffic: TrafficDoc,
        *,
        seed: int,
        base: Path,
        sample_period: float = 60.0,
        observer: Callable[[ev.Event, float, list[cmd.Command]], None] | None = None,
    ) -> None:
        self.traffic = traffic
        self.center = staffed_center(center, traffic)
        master = random.Random(seed)
        self.rng = random.Random(master.getrandbits(64))  # callers and agents
        self.engine = Engine(
            self.center,
            rng=random.Random(master.getrandbits(64)),
            options=EngineOptions(publish_states=False, trace=False),
        )
        self.streams = traffic.streams
        self.arrivals = [
            ArrivalProcess(s.arrivals, self.rng, traffic.interval, base) for s in self.streams
        ]
        self.handle = [Sampler(s.handle_time, self.rng, base) for s in self.streams]
        self._handle_draws = [sampler.draw for sampler in self.handle]
        self._answer_delay = traffic.agents.answer_delay
        self._no_answer = traffic.agents.no_answer_probability
        self.patience = [
            Sampler(s.patience, self.rng, base) if s.patience else None for s in self.streams
        ]
        self._patience_draws = [None if p is None else p.draw for p in self.patience]
        self.wrap_up = [
            Sampler(s.wrap_up, self.rng, base) if s.wrap_up else None for s in self.streams
        ]
        self.targets = [
            s.to if s.to in self.center.numbers else f"sim:{s.to}" for s in self.streams
        ]
        self.collector = Collector(
            warmup=traffic.warmup,
            interval=traffic.interval,
            threshold=traffic.service_level_threshold,
        )
        if traffic.keep_callers:
            self.collector.callers = []
        for group in self.center.groups.values():
            for agent_id in group.agents:
                self.collector.agent_groups[agent_id] = (
                    *self.collector.agent_groups.get(agent_id, ()),
                    group.id,
                )
        self.sample_period = sample_period
        # told every event the engine is given, when, and the commands it gave back
        self.observer = observer
        self.heap: list[tuple[float, int, int, Any, Any]] = []
        # heap entries are (time, serial, kind, a, b): the serial keeps same-time events in the
        # order they were scheduled, and a C counter draws it
        self._serial = itertools.count(1).__next__
        # Two side lines spare the heap its commonest entries, in the same (time, serial) order:
        # events for this instant (an answer with no delay) wait in `_instant`, after the heap's
        # entries for it (scheduled earlier: smaller serials); timers started for later wait in
        # `_started` until the clock is about to move, then join the heap if still live, so one
        # cancelled in its own instant (the offer timer of an answer with no delay) never does.
        self._instant: deque[tuple[float, int, int, Any, Any]] = deque()
        self._started: list[tuple[float, int, int, Any, Any]] = []
        self.callers: dict[str, _Caller] = {}
        self.arrived = 0
        self.now = 0.0
        self.interrupted = False
        self._streams_open = 0  # arrival streams with an arrival still to come
        self._wrap_started: dict[str, float] = {}  # call id -> when its agent's wrap-up began
        self._on: dict[type, Callable[[Any], None]] = {
            cmd.StartTimer: self._start_timer,
            cmd.OfferCall: self._offered,
            cmd.Bridge: self._talk,
            cmd.WriteCallRecord: self._recorded,
            cmd.AmendCallRecord: self._amend,
            cmd.PlayPrompt: self._prompt,
            cmd.DialCustomer: self._dial_customer,
            cmd.AskRouter: self._ask_router,
            cmd.DialExternal: self._talk,
            cmd.StartVoicemail: self._talk,
        }

    # -- scheduling ----------------------------------------------------------------------------

    def _push(self, at: float, kind: int, a: Any = None, b: Any = None) -> None:
        if at == self.now:
            self._instant.append((at, self._serial(), kind, a, b))
        else:
            heapq.heappush(self.heap, (at, self._serial(), kind, a, b))

    @property
    def pending(self) -> int:
        """Events scheduled and not yet run (cancelled timers still in the heap included)."""
        return len(self.heap) + len(self._instant) + len(self._started)

    def run(self, progress: Callable[[float, int], None] | None = None) -> Collector:
        """Run to the end (or until interrupted); returns the statistics gathered."""
        traffic = self.traffic
        horizon = traffic.duration
        self.collector.horizon = horizon
        for agent in self.center.agents.values():
            if agent.routing_type is RoutingType.APP:
                online = ev.AgentPresenceChanged(agent_id=agent.id, online=True)
                self._handle(online, 0.0)
        for index, process in enumerate(self.arrivals):
            first = process.next_after(0.0)
            if first is not None:
                self._streams_open += 1
                self._push(first, _ARRIVAL, index)
        for queue_id in self.center.queues:
            self._push(self.sample_period, _SAMPLE, queue_id)
        try:
            self._loop(horizon, progress)
        except KeyboardInterrupt:
            self.interrupted = True
            if self.collector.horizon is None or self.now < self.collector.horizon:
                self.collector.horizon = self.now  # the figures cover the time that ran
        if self.collector.horizon is None:
            self.collector.horizon = self.now
        return self.collector

    def _loop(self, horizon: float | None, progress: Callable[[float, int], None] | None) -> None:
        heap = self.heap
        pop = heapq.heappop
        push = heapq.heappush
        callers = self.callers
        arrivals = self.arrivals
        targets = self.targets
        # a cancelled timer is no longer among the engine's live timers: it is dropped here
        # rather than delivered (the engine would ignore it), so `CancelTimer` needs no work
        live_timers = self.engine.timers
        calls = self.engine.calls
        limit = self.traffic.calls
        instant = self._instant
        next_in_instant = instant.popleft
        started = self._started
        # closed at the horizon, after `calls` arrivals, or once every stream has run out (a
        # CSV replayed to its end): then samples stop once the last call is gone
        arrivals_open = self._streams_open > 0
        streams_open = self._streams_open
        next_report = 0
        now = self.now
        while True:
            if instant and (not heap or heap[0][0] > now):
                at, _, kind, a, b = next_in_instant()
            else:
                if started:  # the clock may move on: timers still live join the heap
                    for entry in started:
                        if entry[3] in live_timers:
                            push(heap, entry)
                    started.clear()
                if not heap:
                    break
                at, _, kind, a, b = pop(heap)
                self.now = now = at
            # named-tuple events built without the class call: see `helpline.core.commands`
            if kind == _TIMER:
                if a in live_timers:
                    self._handle(ev.TimerFired(a), at)
            elif kind == _ANSWER:
                self._handle(ev.OfferAnswered(a, b), at)  # call id, agent id
            elif kind == _HANGUP:
                self._handle(ev.CallHungUp(a, b, ""), at)  # call id, party, reason
            elif kind == _ARRIVAL:
                if not arrivals_open or (horizon is not None and at >= horizon):
                    arrivals_open = False
                    continue
                self.arrived = arrived = self.arrived + 1
                call_id = f"c{arrived}"
                callers[call_id] = _Caller(a)
                following = arrivals[a].next_after(at)
                if limit is not None and arrived >= limit:
                    arrivals_open = False
                    self.collector.horizon = at + 1e-9
                elif following is not None:
                    self._push(following, _ARRIVAL, a)
                else:
                    streams_open -= 1
                    arrivals_open = streams_open > 0
                arrival = ev.CallArrived(call_id, call_id, targets[a])  # id, from, to
                self._handle(arrival, at)
                if progress is not None and arrived >= next_report:
                    next_report = arrived + 2000
                    progress(at, arrived)
            elif kind == _ABANDON:
                call = calls.get(a)
                if call is not None and call.state in _WAITING:
                    self._handle(ev.CallHungUp(a, _BY_CUSTOMER, ""), at)
            elif kind == _DIGITS:
                self._handle(ev.DigitsPressed(call_id=a, digits=b), at)
            elif kind == _CUSTOMER:
                self._handle(ev.CustomerAnswered(call_id=a), at)
            elif kind == _WRAP_END:
                with contextlib.suppress(ClientError):  # the wrap-up time limit ended it first
                    self._handle(ev.WrapUpEnded(agent_id=a), at)
            elif kind == _ROUTER:
                failed = ev.RouterFailed(request_id=a, reason="no external router in simulation")
                self._handle(failed, at)
            elif kind == _SAMPLE:
                queue = self.engine.queues.get(a)
                if queue is not None:
                    self.collector.sample_queue(queue.id, at, len(queue.waiting))
                if arrivals_open or calls:
                    self._push(at + self.sample_period, _SAMPLE, a)

    # -- commands to future events -------------------------------------------------------------

    def _handle(self, event: ev.Event, at: float) -> None:
        commands = self.engine.handle(event, at)
        if self.observer is not None:
            self.observer(event, at, commands)
        self._apply(commands)

    def _apply(self, commands: list[cmd.Command]) -> None:
        # The commands of every caller are handled inline; the rest through the type -> handler
        # table (commands with no entry, such as `CancelTimer` or `Hangup`, need no work here).
        # Callers who joined a queue are looked at once the whole list is applied.
        on = self._on
        entered: list[str] | None = None
        untyped: list[Any] = commands  # `type(x) is C` does not narrow for mypy; the checks do
        for command in untyped:
            kind = type(command)
            if kind is _StartTimer:
                self._start_timer(command)
            elif kind is _OfferCall:
                self._offered(command)
            elif kind is _Bridge:
                self._talk(command)
            elif kind is _WriteCallRecord:
                self._recorded(command)
            elif kind is _PlayQueueAudio:
                if entered is None:
                    entered = [command.call_id]
                else:
                    entered.append(command.call_id)
            else:
                handler = on.get(kind)
                if handler is not None:
                    handler(command)
        if entered is not None:
            for call_id in entered:
                self._entered_queue(call_id, self.now)

    def _start_timer(self, command: cmd.StartTimer) -> None:
        if command.at > self.now:
            self._started.append((command.at, self._serial(), _TIMER, command.timer, None))
        else:
            self._push(command.at, _TIMER, command.timer)

    def _talk(self, command: cmd.Bridge | cmd.DialExternal | cmd.StartVoicemail) -> None:
        """The caller talks (to an agent, an outside number, a voicemail box), then hangs up."""
        caller = self.callers.get(command.call_id)
        duration = self._handle_draws[caller.stream if caller is not None else 0]()
        self._push(self.now + duration, _HANGUP, command.call_id, _BY_CUSTOMER)

    def _amend(self, command: cmd.AmendCallRecord) -> None:
        ended = self._wrap_started.pop(command.call_id, None)
        if ended is not None:
            self.collector.busy(command.agent_id, ended, ended + command.wrap_up_s)

    def _prompt(self, command: cmd.PlayPrompt) -> None:
        if command.collect:
            self._press_key(command.call_id, self.now)

    def _dial_customer(self, command: cmd.DialCustomer) -> None:
        self._push(self.now, _CUSTOMER, command.call_id)

    def _ask_router(self, command: cmd.AskRouter) -> None:
        self._push(self.now, _ROUTER, command.request_id)

    def _offered(self, command: cmd.OfferCall) -> None:
        now = self.now
        caller = self.callers.get(command.call_id)
        if caller is not None and not caller.offered:
            caller.offered = True
            entered, predicted = caller.entered, caller.predicted
            if (
                predicted is not None
                and entered is not None
                and command.queue_id
                and self.collector.measured(entered)
            ):
                self.collector.queue(command.queue_id).ewt.add(now - entered, predicted)
        no_answer = self._no_answer
        if no_answer and self.rng.random() < no_answer:
            return  # the agent lets it ring: the engine's answer timeout moves the call on
        self._push(now + self._answer_delay, _ANSWER, command.call_id, command.agent_id)

    def _entered_queue(self, call_id: str, now: float) -> None:
        caller = self.callers.get(call_id)
        call = self.engine.calls.get(call_id)
        if caller is None or call is None or caller.entered is not None:
            return  # back in line after a missed offer: patience runs from the first entry
        caller.entered = now
        patience = self._patience_draws[caller.stream]
        if patience is not None:
            self._push(now + patience(), _ABANDON, call_id)
        if call.state is _QUEUED and call.queue_id is not None:
            queue = self.engine.queues[call.queue_id]
            ahead = max(0, len(queue.waiting) - 1)
            found = estimate(queue, now, ahead=ahead)
            if found.ql_s is not None:
                hol = head_wait(queue, call_id, now)
                les = found.les_s if found.les_s is not None else 0.0
                caller.predicted = {
                    "ql": found.ql_s,
                    "hol": les if hol is None else hol,
                    "les": les,
                }

    def _press_key(self, call_id: str, now: float) -> None:
        caller = self.callers.get(call_id)
        call = self.engine.calls.get(call_id)
        if caller is None or call is None or call.node is None:
            return
        stream: StreamDoc = self.streams[caller.stream]
        weights = stream.keys.get(call.node.id)
        if not weights:
            return  # no key configured for this node: the caller waits for the timeout
        keys = list(weights)
        total = sum(weights.values())
        pick = self.rng.random() * total
        for key in keys:
            pick -= weights[key]
            if pick <= 0:
                break
        self._push(now + stream.key_delay, _DIGITS, call_id, key)

    def _recorded(self, command: cmd.WriteCallRecord) -> None:
        record = command.record
        self.collector.record(record)
        caller = self.callers.pop(record.call_id, None)
        if record.wrap_up_s is None and record.agent_id is not None:
            self._wrap_started[record.call_id] = record.ended_at
            stream = caller.stream if caller is not None else 0
            sampler = self.wrap_up[stream]
            queue = self.center.queues.get(record.queue_id or "")
            if sampler is not None:
                self._push(record.ended_at + sampler(), _WRAP_END, record.agent_id)
            elif queue is not None and queue.wrap_up_time_limit is None:
                self._push(record.ended_at, _WRAP_END, record.agent_id)
