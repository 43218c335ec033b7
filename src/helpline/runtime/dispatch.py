"""How a tenant's runtime carries out what its engine decided (issue 4, point 6): the output
half of `TenantRuntime`, as a mixin.

Commands are carried out in the order the engine gave them: call commands by the telephony
adapter, timers on the event loop, live events on the bus; records and outgoing HTTP go, in
that same order, to the writer task (`runtime/writer.py`), so the engine never waits for the
database. The runtime keeps a live row per call so a restart can close it with a record.
"""

from __future__ import annotations

import asyncio
import json
import logging
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import httpx

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.calls import Call
from helpline.core.engine import Engine
from helpline.core.records import CallRecord
from helpline.core.timers import Timer
from helpline.ports import TELEPHONY_COMMANDS, Bus, LiveCallRow, Outbox, RecordSink, Telephony
from helpline.runtime.call_writes import CallWrites
from helpline.runtime.hangup import send_hangup_url
from helpline.runtime.wire import (
    offer_end_reason,
    offer_ended_message,
    offer_message,
    record_dict,
    state_message,
)
from helpline.runtime.writer import Write as StoreWrite
from helpline.runtime.writer import Writer, outbox_write

log = logging.getLogger("helpline.runtime")

_SNAPSHOT_STATES = frozenset({"queued", "connected"})  # worth re-saving for a restart

Write = Callable[[], Awaitable[object]]
# a compatibility API's listener of live messages (e.g. seed 000's event_url): called as the
# engine decides, so it sees the engine's state then; what it returns is queued as a write
EventHook = Callable[[Mapping[str, Any]], Write | None]


class CommandDispatch:
    """Carries out an engine's commands. Not used on its own: see `TenantRuntime`."""

    # set by `TenantRuntime.__init__`
    tenant_id: str
    clock: Callable[[], float]
    engine: Engine
    telephony: Telephony
    records: RecordSink
    outbox: Outbox
    bus: Bus
    http: httpx.AsyncClient
    project_id: int | None
    hangup_urls: dict[str, str]
    event_hooks: list[EventHook]
    writer: Writer
    _timers: dict[Timer, asyncio.TimerHandle]
    _background: set[asyncio.Task[None]]
    _live: dict[str, float]  # call id -> when it started, for calls with a live row
    call_writes: CallWrites

    @abstractmethod
    def post(self, event: ev.Event) -> None:
        """Queue an event without waiting (timers and router replies come back this way)."""

    def _later(
        self, action: Write, what: str = "a write", on_abandon: Callable[[], None] | None = None
    ) -> None:
        """Queue a store or outbox write; the writer task carries them out in order."""
        self.writer.put(StoreWrite(action, what, on_abandon))

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
                if self.outbox.may_publish(self.tenant_id, message["type"]):
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
                self._live.pop(command.record.call_id, None)
                self.call_writes.ended(command.record)
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
        started_at = self._live.get(call_id)
        if started_at is not None and change.state not in _SNAPSHOT_STATES:
            return  # stored already: only queueing and connecting are worth a new snapshot
        call = self.engine.calls.get(call_id)
        if call is None:
            return
        if started_at is None:
            self._live[call_id] = started_at = change.at
        self.call_writes.live(LiveCallRow(call_id, started_at, live_data(call)))

    def _start_timer(self, timer: Timer, at: float) -> None:
        delay = max(0.0, at - self.clock())
        loop = asyncio.get_running_loop()
        self._timers[timer] = loop.call_later(delay, self._fire, timer)

    def _fire(self, timer: Timer) -> None:
        if self._timers.pop(timer, None) is not None:
            self.post(ev.TimerFired(timer=timer))

    def _after_record(self, record: CallRecord) -> list[StoreWrite]:
        """Once a record is stored: its `call.ended` live (so a client that sees it can read
        the record), then, as writes of their own, its webhook, the hooks' writes and its
        `hangup_url`, each retried alone (a retry of one never repeats the record)."""
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
        writes: list[StoreWrite] = []
        if self.outbox.may_publish(self.tenant_id, "call.ended"):
            writes.append(
                outbox_write(
                    f"webhook call.ended of {call}",
                    self.outbox.publish_event,
                    self.tenant_id,
                    "call.ended",
                    data,
                )
            )
        if self.event_hooks:
            writes.append(
                StoreWrite(partial(self._tell_hooks_ended, data), f"call.ended hooks of {call}")
            )
        hangup_url = self.hangup_urls.pop(record.call_id, None)
        if hangup_url or record.data.get("hangup_url"):
            writes.append(
                outbox_write(
                    f"hangup_url of {call}",
                    send_hangup_url,
                    self.outbox,
                    self.tenant_id,
                    record,
                    hangup_url,
                )
            )
        return writes

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


def log_lost_record(tenant_id: str, record: CallRecord) -> None:
    """A record the store did not take (the runtime stopped first, or it failed for good):
    the log keeps it whole (its live row, if stored, also makes the next start write a
    `system_restart` record for the call)."""
    log.error(
        "tenant %s: call record not stored: %s",
        tenant_id,
        json.dumps(record_dict(record), default=str, separators=(",", ":")),
    )
