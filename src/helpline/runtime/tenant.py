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
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import httpx

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.base import EngineOptions
from helpline.core.calls import Call
from helpline.core.engine import Engine
from helpline.core.errors import HelplineError, InternalError, NotFound
from helpline.core.model import Center
from helpline.core.records import CallRecord
from helpline.core.timers import Timer
from helpline.ports import TELEPHONY_COMMANDS, Bus, Outbox, RecordSink, Telephony
from helpline.runtime.hangup import send_hangup_url
from helpline.runtime.wire import (
    offer_end_reason,
    offer_ended_message,
    offer_message,
    record_dict,
    released_by_event,
    ringing_before,
    state_message,
)
from helpline.runtime.writer import STOP_DRAIN_S, Writer, outbox_write
from helpline.runtime.writer import Write as StoreWrite

log = logging.getLogger("helpline.runtime")

_STOP = object()
_SETTLE = object()  # a marker: reached once every event queued before it is applied
_SNAPSHOT_STATES = frozenset({"queued", "connected"})  # worth re-saving for a restart

Write = Callable[[], Awaitable[object]]
# a compatibility API's listener of live messages (e.g. seed 000's event_url): called as the
# engine decides, so it sees the engine's state then; what it returns is queued as a write
EventHook = Callable[[Mapping[str, Any]], Write | None]


class TenantRuntime:
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
        self._live: set[str] = set()  # calls stored as live (closed on restart if unfinished)
        self.writer = Writer(f"tenant {tenant_id}")  # store and outbox writes, in order
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

    def _later(
        self, action: Write, what: str = "a write", on_abandon: Callable[[], None] | None = None
    ) -> None:
        """Queue a store or outbox write; the writer task carries them out in order."""
        self.writer.put(StoreWrite(action, what, on_abandon))

    # -- output --------------------------------------------------------------------------------

    async def _dispatch(self, commands: list[cmd.Command], cause: ev.Event) -> None:
        for command in commands:
            if isinstance(command, TELEPHONY_COMMANDS):
                await self.telephony.execute(self.tenant_id, command)  # type: ignore[arg-type]
                if isinstance(command, cmd.OfferCall):
                    self.bus.publish(
                        self.tenant_id, offer_message(self.tenant_id, command, self.clock())
                    )
                elif isinstance(command, cmd.CancelOffer):
                    reason = offer_end_reason(cause, command.agent_id)
                    message = offer_ended_message(
                        self.tenant_id, command.call_id, command.agent_id, reason, self.clock()
                    )
                    self.bus.publish(self.tenant_id, message)
            elif isinstance(command, cmd.StartTimer):
                self._start_timer(command.timer, command.at)
            elif isinstance(command, cmd.CancelTimer):
                handle = self._timers.pop(command.timer, None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(command, cmd.CallStateChanged | cmd.AgentStateChanged):
                if isinstance(command, cmd.CallStateChanged):
                    self._track_live(command)
                message = state_message(self.tenant_id, command)
                self.bus.publish(self.tenant_id, message)
                self._tell_hooks(message)
                subject = (
                    f"call {command.call_id}"
                    if isinstance(command, cmd.CallStateChanged)
                    else f"agent {command.agent_id}"
                )
                self.writer.put(
                    outbox_write(
                        f"webhook {message['type']} of {subject}",
                        self.outbox.publish_event,
                        self.tenant_id,
                        message["type"],
                        message["data"],
                    )
                )
            elif isinstance(command, cmd.WriteCallRecord):
                record = command.record
                self._live.discard(record.call_id)
                self._later(
                    partial(self._write_record, command),
                    f"record of call {record.call_id}",
                    partial(_log_lost_record, self.tenant_id, record),
                )
            elif isinstance(command, cmd.AmendCallRecord):
                self._later(
                    partial(
                        self.records.amend_record,
                        self.tenant_id,
                        command.call_id,
                        command.wrap_up_s,
                        command.disposition,
                        command.notes,
                    ),
                    f"wrap-up of call {command.call_id}",
                )
            elif isinstance(command, cmd.Notify):
                self.writer.put(
                    outbox_write(
                        f"notification of call {command.call_id}",
                        self.outbox.send,
                        self.tenant_id,
                        kind="notify",
                        url=command.url,
                        method=command.method,
                        params=command.params,
                    )
                )
            elif isinstance(command, cmd.AskRouter):
                self._spawn(self._ask_router(command))

    def _tell_hooks(self, message: Mapping[str, Any]) -> None:
        for hook in self.event_hooks:
            write = hook(message)
            if write is not None:
                self._later(write, f"{message.get('type')} for a compatibility API")

    def _track_live(self, change: cmd.CallStateChanged) -> None:
        """Keep a live row per call, so a restart can close it with a record (point 11)."""
        call_id = change.call_id
        if change.state == "ended":
            return  # the record's write removes the live row in the same transaction
        call = self.engine.calls.get(call_id)
        if call is None:
            return
        if call_id not in self._live:
            self._live.add(call_id)
            self._later(
                partial(
                    self.records.call_started, self.tenant_id, call_id, change.at, live_data(call)
                ),
                f"live row of call {call_id}",
            )
        elif change.state in _SNAPSHOT_STATES:
            self._later(
                partial(self.records.update_live_call, self.tenant_id, call_id, live_data(call)),
                f"live row of call {call_id} ({change.state})",
            )

    def _start_timer(self, timer: Timer, at: float) -> None:
        delay = max(0.0, at - self.clock())
        loop = asyncio.get_running_loop()
        self._timers[timer] = loop.call_later(delay, self._fire, timer)

    def _fire(self, timer: Timer) -> None:
        if self._timers.pop(timer, None) is not None:
            self.post(ev.TimerFired(timer=timer))

    async def _write_record(self, command: cmd.WriteCallRecord) -> list[StoreWrite]:
        """The record, then its `call.ended` (so a client that sees it can read the record).

        What follows the record (its webhook, the hooks' writes, its `hangup_url`) comes back
        as writes of their own, which the writer does next, each retried alone: a retry of one
        never repeats the record or the live event.
        """
        record = command.record
        await self.records.write_record(self.tenant_id, record)  # idempotent on the call id
        data = record_dict(record)
        self.bus.publish(
            self.tenant_id,
            {
                "type": "call.ended",
                "tenant_id": self.tenant_id,
                "at": record.ended_at,
                "data": data,
            },
        )
        call = f"call {record.call_id}"
        hangup_url = self.hangup_urls.pop(record.call_id, None)
        return [
            outbox_write(
                f"webhook call.ended of {call}",
                self.outbox.publish_event,
                self.tenant_id,
                "call.ended",
                data,
            ),
            StoreWrite(partial(self._tell_hooks_ended, data), f"call.ended hooks of {call}"),
            outbox_write(
                f"hangup_url of {call}",
                send_hangup_url,
                self.outbox,
                self.tenant_id,
                record,
                hangup_url,
            ),
        ]

    async def _tell_hooks_ended(self, data: Mapping[str, Any]) -> list[StoreWrite]:
        """The hooks hear of the record once it is stored; their writes come next, in order."""
        message = {"type": "call.ended", "tenant_id": self.tenant_id, "data": data}
        writes: list[StoreWrite] = []
        for hook in self.event_hooks:
            write = hook(message)
            if write is not None:
                what = f"call.ended of call {data.get('call_id')} for a compatibility API"
                writes.append(StoreWrite(write, what))
        return writes

    async def _ask_router(self, command: cmd.AskRouter) -> None:
        """Seed 000 Step 5: POST the queue's calls; the reply (or its absence) is an event."""
        body = dict(command.body)
        if self.project_id is not None:
            body["projectId"] = self.project_id
        try:
            response = await self.http.post(command.url, json=body, timeout=command.timeout_s)
            response.raise_for_status()
            reply = response.json()
        except (httpx.HTTPError, ValueError) as error:
            self.post(ev.RouterFailed(request_id=command.request_id, reason=str(error) or "error"))
            return
        self.post(ev.RouterReplied(request_id=command.request_id, body=reply))

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def live_data(call: Call) -> dict[str, Any]:
    """What a restart needs to write the record of a call that was live."""
    return {
        "direction": call.direction.value,
        "from_number": call.from_number,
        "to_number": call.to_number,
        "queue_id": call.queue_id,
        "agent_id": call.agent_id,
        "ivr_tree": call.ivr_tree,
        "ivr_path": list(call.ivr_path),
        "keys": "".join(call.keys),
        "priority": call.priority,
        "queued_at": call.queued_at,
        "offered_at": call.offered_at,
        "answered_at": call.answered_at,
        "data": dict(call.data),
    }


async def _resolve(future: asyncio.Future[list[cmd.Command]], commands: list[cmd.Command]) -> None:
    if not future.done():
        future.set_result(commands)


def _refuse(future: asyncio.Future[list[cmd.Command]]) -> None:
    """The runtime stopped before what the request caused was stored: say so."""
    if not future.done():
        future.set_exception(InternalError("stopped before the request's changes were stored"))


def _log_lost_record(tenant_id: str, record: CallRecord) -> None:
    """A record the store did not take (the runtime stopped first, or it failed for good):
    the log keeps it whole (its live row, if stored, also makes the next start write a
    `system_restart` record for the call)."""
    log.error(
        "tenant %s: call record not stored: %s",
        tenant_id,
        json.dumps(record_dict(record), default=str, separators=(",", ":")),
    )
