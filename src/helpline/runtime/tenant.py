"""One tenant's engine on the real clock: an asyncio task fed by a queue (issue 4, point 6).

Everything that changes the tenant's engine goes through its inbox, one event at a time, so
the engine needs no locks. The API awaits `submit` to learn whether a request was accepted
(a `ClientError` comes back as the exception); telephony adapters, timers and the external
router `post` events and do not wait. Commands are carried out in the order the engine gave
them: timers on the event loop, call commands by the telephony adapter, live events on the
bus; records and outgoing HTTP go, in that same order, to a writer task that carries them out
through the store and its outbox, so the engine never waits for the database (an agent's
phone rings without waiting for the call's live row to be stored). A request that waits on
the runtime (`submit`, `settle`) is answered once the writes of every event before it are
done, so what the API answers is already stored. The writer (`runtime/writer.py`) retries a
write the database could not take (locked, failing over) until it can, keeping the order;
`write_backlog` tells how many writes wait.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.base import EngineOptions
from helpline.core.engine import Engine
from helpline.core.errors import HelplineError, InternalError, NotFound
from helpline.core.model import Center
from helpline.core.timers import Timer
from helpline.ports import Bus, Outbox, RecordSink, Telephony
from helpline.runtime.call_writes import CallWrites
from helpline.runtime.dispatch import CommandDispatch, EventHook, Write, live_data, log_lost_record
from helpline.runtime.wire import released_by_event, ringing_before
from helpline.runtime.writer import STOP_DRAIN_S, Writer

__all__ = ["EventHook", "TenantRuntime", "Write", "live_data"]

log = logging.getLogger("helpline.runtime")

_STOP = object()
_SETTLE = object()  # a marker: reached once every event queued before it is applied


class TenantRuntime(CommandDispatch):
    """Runs one tenant's engine; carries out its commands."""

    def __init__(
        self,
        tenant_id: str,
        center: Center,
        *,
        telephony: Telephony,
        records: RecordSink,
        outbox: Outbox,
        bus: Bus,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        project_id: int | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.clock = clock
        self.engine = Engine(
            center, rng=rng or random.Random(), now=clock(), options=EngineOptions()
        )
        self.telephony = telephony
        self.records = records
        self.outbox = outbox
        self.bus = bus
        self.http = http
        self.project_id = project_id
        self._inbox: asyncio.Queue[tuple[Any, asyncio.Future[list[cmd.Command]] | None]] = (
            asyncio.Queue()
        )
        self._timers: dict[Timer, asyncio.TimerHandle] = {}
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.hangup_urls: dict[str, str] = {}  # call id -> seed 002 hangup_url (click2call)
        self.event_hooks: list[EventHook] = []  # see `EventHook`
        self.processed = 0
        self._live: dict[str, float] = {}  # calls stored as live (closed on restart if unfinished)
        self.writer = Writer(f"tenant {tenant_id}")  # store and outbox writes, in order
        self.call_writes = CallWrites(  # live rows and records, a batch per transaction
            tenant_id,
            records,
            self.writer,
            after_record=self._after_record,
            on_lost=partial(log_lost_record, tenant_id),
        )
        self.stop_drain_s = STOP_DRAIN_S  # how long `stop` waits for writes to get stored

    @property
    def write_backlog(self) -> int:
        """Store and outbox writes not yet done (more than a few: the database is away)."""
        return self.writer.backlog

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"tenant-{self.tenant_id}")
            self.writer.start()

    async def stop(self) -> None:
        if self._task is None:
            return
        await self._inbox.put((_STOP, None))
        await self._task
        self._task = None
        # what the applied events wrote is stored before we stop, if the database lets us
        # within `stop_drain_s`; each write left is logged, and a call whose record is among
        # them stays a live row, which the next start closes as `system_restart`
        await self.writer.stop(self.stop_drain_s)
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._background):
            task.cancel()

    # -- input ---------------------------------------------------------------------------------

    def post(self, event: ev.Event) -> None:
        """Queue an event without waiting (telephony, timers, router replies)."""
        self._inbox.put_nowait((event, None))

    async def submit(self, event: ev.Event) -> list[cmd.Command]:
        """Queue an event and wait until it is applied; a refused request raises its error."""
        future: asyncio.Future[list[cmd.Command]] = asyncio.get_running_loop().create_future()
        await self._inbox.put((event, future))
        return await future

    async def settle(self) -> None:
        """Wait until every event queued so far (e.g. by the sandbox) has been applied."""
        future: asyncio.Future[list[cmd.Command]] = asyncio.get_running_loop().create_future()
        await self._inbox.put((_SETTLE, future))
        await future

    def require_agent(self, agent_id: str) -> None:
        agent = self.engine.agents.get(agent_id)
        if agent is None or agent.removed:
            raise NotFound(f"agent {agent_id} not found", details={"field": "agent_id"})

    async def _run(self) -> None:
        while True:
            event, future = await self._inbox.get()
            if event is _STOP:
                return
            if event is _SETTLE:
                if future is not None:
                    self._answer_after_writes(future, [])
                continue
            before = ringing_before(self.engine.calls, event)
            try:
                commands = self.engine.handle(event, self.clock())
            except HelplineError as error:
                if future is not None and not future.done():
                    future.set_exception(error)
                else:
                    log.warning("tenant %s: %s refused: %s", self.tenant_id, event, error)
                continue
            except Exception as error:  # a bug: keep the tenant running, report it
                log.exception("tenant %s: engine failed on %s", self.tenant_id, event)
                if future is not None and not future.done():
                    future.set_exception(InternalError(f"engine failed: {error}"))
                continue
            self.processed += 1
            try:
                for message in released_by_event(self.tenant_id, event, before, self.clock()):
                    self.bus.publish(self.tenant_id, message)  # before a new offer of the call
                await self._dispatch(commands, event)
            except Exception:
                log.exception("tenant %s: carrying out commands failed", self.tenant_id)
            if future is not None:
                self._answer_after_writes(future, commands)

    def _answer_after_writes(
        self, future: asyncio.Future[list[cmd.Command]], commands: list[cmd.Command]
    ) -> None:
        """Resolve `future` once every write queued so far is done."""
        self._later(
            partial(_resolve, future, commands),
            "the answer to a request",
            partial(_refuse, future),
        )


async def _resolve(future: asyncio.Future[list[cmd.Command]], commands: list[cmd.Command]) -> None:
    if not future.done():
        future.set_result(commands)


def _refuse(future: asyncio.Future[list[cmd.Command]]) -> None:
    """The runtime stopped before what the request caused was stored: say so."""
    if not future.done():
        future.set_exception(InternalError("stopped before the request's changes were stored"))
