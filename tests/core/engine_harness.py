"""Shared helpers for the routing engine's unit tests.

`Harness` drives one `Engine` the way a real driver does: it keeps the current time, sends
events stamped with it, remembers every command, keeps the live timers (a `StartTimer` adds
one, a `CancelTimer` removes it) and fires them back in time order, and collects the call
records. `center(...)` builds a small, valid center in one line.

    h = Harness(center(["a1", "a2"], strategy=Strategy.LINEAR))
    h.online("a1", "a2")
    out = h.arrive("c1")
    assert offered_agents(out) == ["a1"]
    h.fire_due_timers(15.0)  # the answer timeout: the offer moves on
    h.answer("c1", "a2")
    h.hangup("c1", at=60.0)
    assert h.record("c1").result is Result.ANSWERED

Test modules import from here: `from engine_harness import Harness, center, ...` (the tests
have no packages; pytest puts this directory on `sys.path`; a uniquely named module, since
every test directory's `conftest` would shadow the others').
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.calls import Call
from helpline.core.engine import Engine, EngineOptions
from helpline.core.model import (
    Agent,
    Center,
    Group,
    GroupTier,
    IvrTree,
    Number,
    Queue,
    Settings,
)
from helpline.core.records import CallRecord
from helpline.core.states import AgentActivity, CallState
from helpline.core.timers import Timer, TimerKind

NUMBER = "100"  # the hotline number `center()` creates, routed to the first queue
CALLER = "+15550100"  # the default caller of `Harness.arrive`

C = TypeVar("C")


# -- building centers --------------------------------------------------------------------------


def tiers(*groups: str | GroupTier) -> tuple[GroupTier, ...]:
    """A queue's `groups`: a bare group id is a tier of priority 1, opened at once."""
    return tuple(g if isinstance(g, GroupTier) else GroupTier(group=g) for g in groups)


def center(
    agents: Iterable[str | Agent] = ("a1",),
    *,
    queues: Iterable[Queue] | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
    numbers: Iterable[Number] | None = None,
    ivr_trees: Iterable[IvrTree] = (),
    settings: Settings | None = None,
    **queue_options: object,
) -> Center:
    """A small valid center.

    - `agents`: ids (APP agents, AVAILABLE, no skills) or full `Agent`s.
    - `groups`: group id -> agent ids, in order; default one group "g1" of every agent.
    - `queues`: default one queue "q1" serving every group at priority 1, built with
      `queue_options` (any `Queue` field: strategy, max_size, ...), which are only allowed
      with the default queue.
    - `numbers`: default the number `NUMBER` going straight to the first queue.
    """
    agent_list = [a if isinstance(a, Agent) else Agent(id=a) for a in agents]
    if groups is None:
        groups = {"g1": [a.id for a in agent_list]}
    if queues is None:
        queue_list = [Queue(id="q1", groups=tiers(*groups), **queue_options)]  # type: ignore[arg-type]
    else:
        assert not queue_options, "queue options go with the default queue only"
        queue_list = list(queues)
    if numbers is None:
        numbers = [Number(number=NUMBER, queue=queue_list[0].id)] if queue_list else []
    return Center(
        numbers={n.number: n for n in numbers},
        ivr_trees={t.id: t for t in ivr_trees},
        queues={q.id: q for q in queue_list},
        groups={g: Group(id=g, agents=tuple(members)) for g, members in groups.items()},
        agents={a.id: a for a in agent_list},
        settings=settings or Settings(),
    ).validate()


# -- reading commands --------------------------------------------------------------------------


def of_type(commands: Iterable[cmd.Command], kind: type[C]) -> list[C]:
    """The commands of one type, in order."""
    return [c for c in commands if isinstance(c, kind)]


def offered_agents(commands: Iterable[cmd.Command], call_id: str | None = None) -> list[str]:
    """The agents an `OfferCall` rings, in order (of one call if `call_id` is given)."""
    return [
        c.agent_id
        for c in of_type(commands, cmd.OfferCall)
        if call_id is None or c.call_id == call_id
    ]


def cancelled_offers(commands: Iterable[cmd.Command]) -> list[tuple[str, str]]:
    """(call id, agent id) of every `CancelOffer`, in order."""
    return [(c.call_id, c.agent_id) for c in of_type(commands, cmd.CancelOffer)]


# -- the harness -------------------------------------------------------------------------------


class Harness:
    """An engine with a clock, a timer wheel and a command log.

    Attributes:
        engine: the engine under test (its state is read-only for tests).
        now: the current time; `send(event, at=...)` moves it forward, never back.
        log: every command the engine returned, in order.
        timers: live timers -> when they are due (started and neither fired nor cancelled).
        records: every `WriteCallRecord`'s record, in order.
        amendments: every `AmendCallRecord`, in order.
    """

    def __init__(
        self,
        center: Center,
        *,
        seed: int = 0,
        now: float = 0.0,
        options: EngineOptions | None = None,
    ) -> None:
        self.engine = Engine(center, rng=random.Random(seed), now=now, options=options)
        self.now = now
        self.log: list[cmd.Command] = []
        self.timers: dict[Timer, float] = {}
        self.records: list[CallRecord] = []
        self.amendments: list[cmd.AmendCallRecord] = []

    # -- sending -----------------------------------------------------------------------------

    def send(self, event: ev.Event, at: float | None = None) -> list[cmd.Command]:
        """Handle `event` at `at` (default: now) and return its commands."""
        if at is not None:
            assert at >= self.now, f"time runs forward: {at} < {self.now}"
            self.now = at
        out = self.engine.handle(event, self.now)
        for command in out:
            self._track(command)
        self.log.extend(out)
        return out

    def _track(self, command: cmd.Command) -> None:
        if isinstance(command, cmd.StartTimer):
            self.timers[command.timer] = command.at
        elif isinstance(command, cmd.CancelTimer):
            self.timers.pop(command.timer, None)
        elif isinstance(command, cmd.WriteCallRecord):
            self.records.append(command.record)
        elif isinstance(command, cmd.AmendCallRecord):
            self.amendments.append(command)

    # -- timers ------------------------------------------------------------------------------

    def due(self, kind: TimerKind | None = None, subject: str | None = None) -> list[float]:
        """When the live timers (of this kind, about this subject) are due, soonest first."""
        return sorted(
            at
            for timer, at in self.timers.items()
            if (kind is None or timer.kind is kind)
            and (subject is None or timer.subject == subject)
        )

    def fire_due_timers(self, until: float) -> list[cmd.Command]:
        """Fire every live timer due by `until`, in time order (then start order), including
        timers started meanwhile; then set the clock to `until`. Returns all commands."""
        out: list[cmd.Command] = []
        while True:
            due = [(at, timer.serial, timer) for timer, at in self.timers.items() if at <= until]
            if not due:
                break
            at, _, timer = min(due)
            del self.timers[timer]
            out.extend(self.send(ev.TimerFired(timer=timer), at=max(at, self.now)))
        self.now = max(self.now, until)
        return out

    def fire_next(self, kind: TimerKind, subject: str | None = None) -> list[cmd.Command]:
        """Advance to the soonest live timer of `kind` (about `subject`) and fire it, with
        every timer due before it. Fails if there is none."""
        due = self.due(kind, subject)
        assert due, f"no live {kind.value} timer" + (f" for {subject}" if subject else "")
        return self.fire_due_timers(due[0])

    # -- common events -----------------------------------------------------------------------

    def arrive(
        self,
        call_id: str,
        *,
        to: str = NUMBER,
        caller: str = CALLER,
        at: float | None = None,
    ) -> list[cmd.Command]:
        return self.send(ev.CallArrived(call_id=call_id, from_number=caller, to_number=to), at)

    def press(self, call_id: str, digits: str, at: float | None = None) -> list[cmd.Command]:
        return self.send(ev.DigitsPressed(call_id=call_id, digits=digits), at)

    def hangup(
        self, call_id: str, party: ev.Party = ev.Party.CUSTOMER, at: float | None = None
    ) -> list[cmd.Command]:
        return self.send(ev.CallHungUp(call_id=call_id, party=party), at)

    def answer(self, call_id: str, agent_id: str, at: float | None = None) -> list[cmd.Command]:
        return self.send(ev.OfferAnswered(call_id=call_id, agent_id=agent_id), at)

    def reject(self, call_id: str, agent_id: str, at: float | None = None) -> list[cmd.Command]:
        return self.send(ev.OfferRejected(call_id=call_id, agent_id=agent_id), at)

    def status(
        self, agent_id: str, manual_status: str, at: float | None = None
    ) -> list[cmd.Command]:
        return self.send(ev.AgentStatusSet(agent_id=agent_id, manual_status=manual_status), at)

    def online(self, *agent_ids: str, at: float | None = None) -> list[cmd.Command]:
        """Bring agents online, in this order; returns every command."""
        out: list[cmd.Command] = []
        for agent_id in agent_ids:
            out.extend(self.send(ev.AgentPresenceChanged(agent_id=agent_id, online=True), at))
        return out

    def offline(self, *agent_ids: str, at: float | None = None) -> list[cmd.Command]:
        out: list[cmd.Command] = []
        for agent_id in agent_ids:
            out.extend(self.send(ev.AgentPresenceChanged(agent_id=agent_id, online=False), at))
        return out

    # -- reading state -----------------------------------------------------------------------

    def call(self, call_id: str) -> Call:
        """A live call (fails if it has ended)."""
        assert call_id in self.engine.calls, f"call {call_id} is not live"
        return self.engine.calls[call_id]

    def state(self, call_id: str) -> CallState:
        """A call's state; `CallState.ENDED` once it has gone."""
        call = self.engine.calls.get(call_id)
        return CallState.ENDED if call is None else call.state

    def activity(self, agent_id: str) -> AgentActivity:
        return self.engine.agents[agent_id].activity

    def waiting(self, queue_id: str = "q1") -> set[str]:
        """The ids of the calls waiting in line (not those ringing an agent)."""
        return set(self.engine.queues[queue_id].waiting)

    def record(self, call_id: str) -> CallRecord:
        """The one record of an ended call (fails unless there is exactly one)."""
        found = [r for r in self.records if r.call_id == call_id]
        assert len(found) == 1, f"{len(found)} records for {call_id}"
        return found[0]

    def commands(self, kind: type[C]) -> list[C]:
        """Every command of one type the engine returned so far."""
        return of_type(self.log, kind)


def connect(h: Harness, call_id: str, agent_id: str, at: float | None = None) -> None:
    """Let `call_id` arrive, check that it rings `agent_id`, and answer it."""
    out = h.arrive(call_id, at=at)
    assert offered_agents(out, call_id) == [agent_id]
    h.answer(call_id, agent_id)
    assert h.state(call_id) is CallState.CONNECTED
