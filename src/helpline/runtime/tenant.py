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
done, so what the API answers is already stored.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any
from urllib.parse import quote

import httpx

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.base import EngineOptions
from helpline.core.calls import Call
from helpline.core.engine import Engine
from helpline.core.errors import HelplineError, InternalError, NotFound
from helpline.core.ivr import call_date
from helpline.core.model import Center
from helpline.core.records import CallRecord, Result
from helpline.core.timers import Timer
from helpline.ports import TELEPHONY_COMMANDS, Bus, Outbox, RecordSink, Telephony
from helpline.runtime.wire import offer_message, record_dict, state_message

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
        self._writes: asyncio.Queue[Write] = asyncio.Queue()  # store and outbox, in order
        self._writer: asyncio.Task[None] | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"tenant-{self.tenant_id}")
            self._writer = asyncio.create_task(
                self._write_loop(), name=f"tenant-{self.tenant_id}-writes"
            )

    async def stop(self) -> None:
        if self._task is None:
            return
        await self._inbox.put((_STOP, None))
        await self._task
        self._task = None
        await self._writes.join()  # what the applied events wrote is stored before we stop
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
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
                await self._dispatch(commands)
            except Exception:
                log.exception("tenant %s: carrying out commands failed", self.tenant_id)
            if future is not None:
                self._answer_after_writes(future, commands)

    def _answer_after_writes(
        self, future: asyncio.Future[list[cmd.Command]], commands: list[cmd.Command]
    ) -> None:
        """Resolve `future` once every write queued so far is done."""
        self._later(partial(_resolve, future, commands))

    def _later(self, write: Write) -> None:
        """Queue a store or outbox write; the writer task carries them out in order."""
        self._writes.put_nowait(write)

    async def _write_loop(self) -> None:
        while True:
            write = await self._writes.get()
            try:
                await write()
            except Exception:
                log.exception("tenant %s: a store or outbox write failed", self.tenant_id)
            finally:
                self._writes.task_done()

    # -- output --------------------------------------------------------------------------------

    async def _dispatch(self, commands: list[cmd.Command]) -> None:
        for command in commands:
            if isinstance(command, TELEPHONY_COMMANDS):
                await self.telephony.execute(self.tenant_id, command)  # type: ignore[arg-type]
                if isinstance(command, cmd.OfferCall):
                    self.bus.publish(
                        self.tenant_id, offer_message(self.tenant_id, command, self.clock())
                    )
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
                self._later(
                    partial(
                        self.outbox.publish_event, self.tenant_id, message["type"], message["data"]
                    )
                )
            elif isinstance(command, cmd.WriteCallRecord):
                self._live.discard(command.record.call_id)
                self._later(partial(self._write_record, command))
            elif isinstance(command, cmd.AmendCallRecord):
                self._later(
                    partial(
                        self.records.amend_record,
                        self.tenant_id,
                        command.call_id,
                        command.wrap_up_s,
                        command.disposition,
                        command.notes,
                    )
                )
            elif isinstance(command, cmd.Notify):
                self._later(
                    partial(
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
                self._later(write)

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
                )
            )
        elif change.state in _SNAPSHOT_STATES:
            self._later(
                partial(self.records.update_live_call, self.tenant_id, call_id, live_data(call))
            )

    def _start_timer(self, timer: Timer, at: float) -> None:
        delay = max(0.0, at - self.clock())
        loop = asyncio.get_running_loop()
        self._timers[timer] = loop.call_later(delay, self._fire, timer)

    def _fire(self, timer: Timer) -> None:
        if self._timers.pop(timer, None) is not None:
            self.post(ev.TimerFired(timer=timer))

    async def _write_record(self, command: cmd.WriteCallRecord) -> None:
        """The record, then its `call.ended` (so a client that sees it can read the record)."""
        record = command.record
        await self.records.write_record(self.tenant_id, record)
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
        await self.outbox.publish_event(self.tenant_id, "call.ended", data)
        for hook in self.event_hooks:
            write = hook({"type": "call.ended", "tenant_id": self.tenant_id, "data": data})
            if write is not None:
                await write()
        await send_hangup_url(
            self.outbox, self.tenant_id, record, self.hangup_urls.pop(record.call_id, None)
        )

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


async def send_hangup_url(
    outbox: Outbox, tenant_id: str, record: CallRecord, url: str | None = None
) -> None:
    """Seed 002: POST the hangup body to the call's `hangup_url`: `url`, else the one kept in
    the call's data (click2call keeps it there, so a call closed by a restart posts it too)."""
    url = url or record.data.get("hangup_url")
    if url:
        await outbox.send(
            tenant_id,
            kind="hangup_url",
            url=url,
            method="POST",
            form=hangup_fields(tenant_id, record, url),
        )


def hangup_fields(tenant_id: str, record: CallRecord, url: str) -> dict[str, str]:
    """Seed 002 "Post Body That Goes to Hangup_url": the documented fields of a finished call,
    in the seed's order. `url` is the hangup_url itself, quoted as the seed shows it
    (`https%3A//webhook.site/...`); `tenant` is the Helpline tenant id (Alo-Tech's tenant
    name); `agent_username` is the e-mail of the agent who placed the click2call."""
    return {
        "project": "alotech",
        "action": "webhook",
        "tenant": tenant_id,
        "url": quote(url),
        "call_date": call_date(record.created_at),
        "agent_username": record.data.get("agent_username", record.agent_id or ""),
        "transaction_id": record.data.get("transaction_id", ""),
        "disposition": dial_status(record),
        "duration": str(round(record.talk_s)),
        "called_num": record.to_number,
        "caller_id": record.from_number,
        "call_id": record.call_id,
    }


# Alo-Tech's dispositions are Asterisk's DIALSTATUS values (seed 002 shows ANSWER)
_DIAL_STATUS_BY_REASON = {
    "busy": "BUSY",
    "no_answer": "NOANSWER",
    "agent_no_answer": "NOANSWER",
    "no_agent_answered": "NOANSWER",
    "agent_rejected": "CANCEL",  # the click2call agent declined its own call
    "failed": "CHANUNAVAIL",
    "unknown_number": "CONGESTION",
}


def dial_status(record: CallRecord) -> str:
    """The call's `disposition` as Alo-Tech reports it: ANSWER, BUSY, NOANSWER, CANCEL,
    CONGESTION or CHANUNAVAIL."""
    if record.result in (Result.ANSWERED, Result.TRANSFERRED_EXTERNAL):
        return "ANSWER"
    by_reason = _DIAL_STATUS_BY_REASON.get(record.end_reason)
    if by_reason is not None:
        return by_reason
    if record.result in (Result.ABANDONED_IN_IVR, Result.ABANDONED_IN_QUEUE):
        return "CANCEL"  # the caller hung up before anyone answered
    if record.result is Result.FAILED and record.end_reason.endswith("_hangup"):
        return "CANCEL"  # a callout ended by its agent or the API before the customer answered
    if record.result is Result.FAILED:
        return "CHANUNAVAIL"
    return "NOANSWER"  # ended in the IVR, no agent, voicemail, callback requested


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
