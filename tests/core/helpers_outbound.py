"""A small driver for the engine, shared by the router, outbound, record, estimator and
transfer tests (not a conftest: imported by name from the test files beside it).

`Driver` plays the outside world: it feeds events at given times, keeps the timers the engine
asked for (so a test can fire one, or let the clock run), and collects the call records.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.base import EngineOptions
from helpline.core.calls import Call
from helpline.core.engine import Engine
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
from helpline.core.timers import Timer, TimerKind

C = TypeVar("C")

QUEUE_NUMBER = "100"  # the number that goes straight to queue q1


def of(commands: Iterable[object], kind: type[C]) -> list[C]:
    """The commands of one type, in order."""
    return [c for c in commands if isinstance(c, kind)]


def one(commands: Iterable[object], kind: type[C]) -> C:
    """The one command of a type; fails if there are none or several."""
    found = of(commands, kind)
    assert len(found) == 1, f"expected one {kind.__name__}, got {found!r}"
    return found[0]


def build_center(
    *,
    agents: Sequence[Agent | str] = ("a1",),
    groups: Mapping[str, Sequence[str]] | None = None,
    queues: Sequence[Queue] | None = None,
    numbers: Mapping[str, str] | None = None,
    ivr_numbers: Mapping[str, str] | None = None,
    ivr_trees: Sequence[IvrTree] = (),
    settings: Settings | None = None,
    **queue_fields: Any,
) -> Center:
    """A center; by default one queue `q1` served by group `g1` of every agent, on number 100.

    `queue_fields` go to that default queue (ignored when `queues` is given).
    """
    agent_models = [a if isinstance(a, Agent) else Agent(id=a) for a in agents]
    if groups is None:
        groups = {"g1": [a.id for a in agent_models]}
    if queues is None:
        queue_fields.setdefault("groups", (GroupTier(group="g1"),))
        queues = [Queue(id="q1", **queue_fields)]
    if numbers is None:
        numbers = {QUEUE_NUMBER: "q1"}
    number_models = {n: Number(number=n, queue=q) for n, q in numbers.items()}
    for n, tree in (ivr_numbers or {}).items():
        number_models[n] = Number(number=n, enable_ivr=True, ivr_tree=tree)
    return Center(
        numbers=number_models,
        ivr_trees={t.id: t for t in ivr_trees},
        queues={q.id: q for q in queues},
        groups={g: Group(id=g, agents=tuple(members)) for g, members in groups.items()},
        agents={a.id: a for a in agent_models},
        settings=settings or Settings(),
    ).validate()


class Driver:
    """Feeds events to an engine at given times and plays back the timers it asks for."""

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
        self.timers: dict[Timer, float] = {}
        self.log: list[object] = []
        self.records: list[CallRecord] = []

    # -- feeding events ----------------------------------------------------------------------

    def send(self, event: ev.Event, at: float | None = None) -> list[cmd.Command]:
        if at is not None:
            assert at >= self.now, "time runs forward"
            self.now = at
        out = self.engine.handle(event, self.now)
        for command in out:
            self.log.append(command)
            if isinstance(command, cmd.StartTimer):
                self.timers[command.timer] = command.at
            elif isinstance(command, cmd.CancelTimer):
                self.timers.pop(command.timer, None)
            elif isinstance(command, cmd.WriteCallRecord):
                self.records.append(command.record)
        return out

    def timer(self, kind: TimerKind, subject: str) -> Timer:
        """The one pending timer of this kind about this subject."""
        found = [t for t in self.timers if t.kind is kind and t.subject == subject]
        assert len(found) == 1, f"expected one {kind} timer for {subject}, got {found}"
        return found[0]

    def has_timer(self, kind: TimerKind, subject: str) -> bool:
        return any(t.kind is kind and t.subject == subject for t in self.timers)

    def fire(self, kind: TimerKind, subject: str) -> list[cmd.Command]:
        """Move the clock to the timer's time and fire it."""
        timer = self.timer(kind, subject)
        at = max(self.now, self.timers.pop(timer))
        return self.send(ev.TimerFired(timer=timer), at)

    def run_until(self, until: float) -> list[cmd.Command]:
        """Fire every pending timer due by `until`, in time order; the clock ends at `until`."""
        out: list[cmd.Command] = []
        while True:
            due = [(at, t.serial, t) for t, at in self.timers.items() if at <= until]
            if not due:
                break
            at, _, timer = min(due)
            del self.timers[timer]
            out += self.send(ev.TimerFired(timer=timer), max(at, self.now))
        self.tick(until)
        return out

    def tick(self, at: float) -> None:
        """Move the engine's clock to `at` without changing anything (a stale timer)."""
        self.send(ev.TimerFired(timer=Timer(TimerKind.OFFER, "-no-such-call-", -1)), at)

    # -- shorthand events --------------------------------------------------------------------

    def online(self, *agent_ids: str, at: float | None = None) -> list[cmd.Command]:
        out: list[cmd.Command] = []
        for agent_id in agent_ids:
            out += self.send(ev.AgentPresenceChanged(agent_id=agent_id, online=True), at)
        return out

    def offline(self, agent_id: str, at: float | None = None) -> list[cmd.Command]:
        return self.send(ev.AgentPresenceChanged(agent_id=agent_id, online=False), at)

    def status(self, agent_id: str, status: str, at: float | None = None) -> list[cmd.Command]:
        return self.send(ev.AgentStatusSet(agent_id=agent_id, manual_status=status), at)

    def arrive(
        self,
        call_id: str,
        to_number: str = QUEUE_NUMBER,
        at: float | None = None,
        from_number: str = "+15550001",
    ) -> list[cmd.Command]:
        return self.send(
            ev.CallArrived(call_id=call_id, from_number=from_number, to_number=to_number), at
        )

    def answer(self, call_id: str, agent_id: str, at: float | None = None) -> list[cmd.Command]:
        return self.send(ev.OfferAnswered(call_id=call_id, agent_id=agent_id), at)

    def reject(self, call_id: str, agent_id: str, at: float | None = None) -> list[cmd.Command]:
        return self.send(ev.OfferRejected(call_id=call_id, agent_id=agent_id), at)

    def hangup(
        self, call_id: str, party: ev.Party = ev.Party.CUSTOMER, at: float | None = None
    ) -> list[cmd.Command]:
        return self.send(ev.CallHungUp(call_id=call_id, party=party), at)

    def press(self, call_id: str, digits: str, at: float | None = None) -> list[cmd.Command]:
        return self.send(ev.DigitsPressed(call_id=call_id, digits=digits), at)

    # -- reading state -----------------------------------------------------------------------

    def call(self, call_id: str) -> Call:
        return self.engine.calls[call_id]

    def record(self, call_id: str) -> CallRecord:
        """The one record of a call; fails if it has none or several."""
        found = [r for r in self.records if r.call_id == call_id]
        assert len(found) == 1, f"call {call_id}: {len(found)} records"
        return found[0]

    def offers(self, out: Iterable[object] | None = None) -> list[tuple[str, str]]:
        """(call, agent) of every OfferCall, in order, in `out` or the whole log."""
        return [
            (o.call_id, o.agent_id) for o in of(self.log if out is None else out, cmd.OfferCall)
        ]
