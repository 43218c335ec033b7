"""Group commit of a tenant's live rows and call records (issue 7, "Performance").

Every call used to cost the writer four transactions of its own: its live row inserted, then
updated when it queued and again when it connected, then its record inserted with the live
row deleted. At a few hundred calls a second the writer fell behind the calls (a SIP bench at
300 calls/s needed 9 s after each 8 s step to store its records), and the backlog grows
without end under steady load.

Here the live-row and record writes of a tenant are gathered rather than queued one by one.
The first change after a flush queues one `Write` on the tenant's writer; whatever changes
come before the writer reaches it join the same batch, and the flush stores the batch in one
transaction (`RecordSink.store_calls`). At low load a batch is one call's change, as before;
under load batches grow by themselves, and a call that ends before its live row was stored
never has one written (its record is what a restart needs).

The order the writer promises still holds: a write queued after a change (the call's
webhooks, its wrap-up amendment) is queued after the flush that carries it, because the flush
was queued when the batch it drains was opened. A record's follow-ups (its `call.ended` on the
bus, its webhook and `hangup_url`) come back from the flush and run next.

Losing nothing: a batch that fails for a reason a retry cannot cure is split, and each call's
change is tried alone, so one bad record costs only itself (logged whole by `on_lost`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from helpline.core.records import CallRecord
from helpline.ports import LiveCallRow, RecordSink
from helpline.runtime.writer import Write, Writer, is_transient

log = logging.getLogger("helpline.runtime")

MAX_BATCH = 500  # records a flush takes at once; the rest wait for the next flush

AfterRecord = Callable[[CallRecord], list[Write]]


class _Flush:
    """One queued flush and its batch: live rows (the latest snapshot per call) and records,
    in order. Changes join it until the writer first runs it; it keeps the same calls
    through the writer's retries."""

    __slots__ = ("live", "owner", "records", "started", "stored")

    def __init__(self, owner: CallWrites) -> None:
        self.owner = owner
        self.live: dict[str, LiveCallRow] = {}
        self.records: list[CallRecord] = []  # not yet stored
        self.started = False
        self.stored: list[CallRecord] = []  # stored, in order: their follow-ups come next

    def write(self) -> Write:
        what = f"live rows and call records of tenant {self.owner.tenant_id}"
        return Write(self.run, what, on_abandon=self.abandon)

    async def run(self) -> list[Write]:
        self.started = True  # later changes open a flush of their own
        owner = self.owner
        if self.live or self.records:
            try:
                await owner.sink.store_calls(
                    owner.tenant_id, list(self.live.values()), self.records
                )
            except Exception as error:
                if is_transient(error):
                    raise  # the writer waits and retries the same calls
                await self._one_by_one()
            else:
                self.live.clear()
                self.stored.extend(self.records)
                self.records.clear()
            owner.flushes += 1
        follow_ups: list[Write] = []
        for record in self.stored:
            follow_ups.extend(owner.after_record(record))
        return follow_ups

    async def _one_by_one(self) -> None:
        """Each change alone: what fails for good is given up (a record logged whole by
        `on_lost`), the rest stored. A transient failure meanwhile raises, and the writer's
        retry goes on with what is left (what was stored has left the batch)."""
        for call_id, row in list(self.live.items()):
            await self._alone(f"live row of call {call_id}", [row], [])
            del self.live[call_id]
        while self.records:
            record = self.records[0]
            if await self._alone(f"record of call {record.call_id}", [], [record]):
                self.stored.append(record)
            else:
                self.owner.on_lost(record)
            del self.records[0]

    async def _alone(
        self, what: str, live: Sequence[LiveCallRow], records: Sequence[CallRecord]
    ) -> bool:
        owner = self.owner
        try:
            await owner.sink.store_calls(owner.tenant_id, live, records)
        except Exception as error:
            if is_transient(error):
                raise
            log.exception("%s: %s failed and will not be retried; skipped", owner.writer.name, what)
            return False
        return True

    def abandon(self) -> None:
        """The writer stopped before this was stored: each record not stored is logged whole
        (its live row, where one was stored, makes the next start close the call)."""
        self.started = True
        for record in self.records:
            self.owner.on_lost(record)


class CallWrites:
    """Gathers a tenant's live rows and records and stores them a batch at a time."""

    def __init__(
        self,
        tenant_id: str,
        sink: RecordSink,
        writer: Writer,
        *,
        after_record: AfterRecord,
        on_lost: Callable[[CallRecord], None],
    ) -> None:
        self.tenant_id = tenant_id
        self.sink = sink
        self.writer = writer
        self.after_record = after_record
        self.on_lost = on_lost
        self._open: _Flush | None = None  # queued, not yet started: changes join it
        self.flushes = 0  # transactions that stored a batch (a figure for tests and benches)

    def live(self, row: LiveCallRow) -> None:
        """A call's live row, to insert or replace with this snapshot."""
        self._flush().live[row.call_id] = row

    def ended(self, record: CallRecord) -> None:
        """A call's record: its live row goes (or is never written) in the same transaction."""
        flush = self._flush()
        flush.live.pop(record.call_id, None)
        flush.records.append(record)

    def _flush(self) -> _Flush:
        flush = self._open
        if flush is None or flush.started or len(flush.records) >= MAX_BATCH:
            flush = self._open = _Flush(self)
            self.writer.put(flush.write())
        return flush
