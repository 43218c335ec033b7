"""Call records and live calls (issue 4, points 7 and 11).

A call is stored as live when it starts; its record is written when it ends, and the live row
is deleted in the same transaction. After a crash, `close_live_calls` turns what is still live
into `system_restart` records. Writing a record is idempotent on (tenant, call id), so a replay
after a restart neither fails nor duplicates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.core.records import CallRecord, Result
from helpline.ports import LiveCallRow
from helpline.store.base import (
    Clock,
    Page,
    SessionScope,
    clamp_limit,
    decode_cursor,
    encode_cursor,
    fetch_page,
    rowcount,
)
from helpline.store.models import CallRecordRow, LiveCall
from helpline.store.serialize import live_call_record, record_values

_CURSOR = "rec"
_LIVE_TABLE = cast(Table, LiveCall.__table__)
_RECORDS_TABLE = cast(Table, CallRecordRow.__table__)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueFigures:
    """One queue's answered and abandoned calls over a span (the wallboard's day).

    `offered` counts what a service level is measured on: answered plus abandoned in the queue
    (a caller who hung up in the IVR never reached a queue, so never counts).
    """

    queue_id: str
    answered: int
    abandoned: int
    answered_in_threshold: int  # answered with `wait_s <= ` the queue's threshold
    wait_s_total: float  # the answered calls' waits, summed (ASA = this / answered)

    @property
    def offered(self) -> int:
        return self.answered + self.abandoned


def record_cursor(row: CallRecordRow) -> str:
    """The `list_records` cursor of the page after `row` (its position, kept by a client that
    pages on until a page comes back short, as Alo-Tech's reportsCDRLogs does)."""
    return encode_cursor(_CURSOR, row.ended_at, row.call_id)


class RecordsRepository:
    """Call records and live calls of every tenant; each method takes the tenant it reads.

    It satisfies `helpline.ports.RecordSink` (`store_calls`, `call_started`, `write_record`,
    `amend_record`).
    """

    def __init__(self, scope: SessionScope, clock: Clock) -> None:
        self._scope = scope
        self._clock = clock
        self._store_calls_statements: tuple[Any, Any, Any] | None = None

    def _calls_statements(self) -> tuple[Any, Any, Any]:
        """`store_calls`' three statements, built once: building them (the upsert's
        `excluded` alias and its column collection, an IN list expanded per call) cost more
        than their execution's share of a group commit (py-spy of bench_sip)."""
        if self._store_calls_statements is None:
            upsert = self._scope.insert(_LIVE_TABLE)
            self._store_calls_statements = (
                upsert.on_conflict_do_update(
                    index_elements=["tenant_id", "call_id"],
                    set_={"data": upsert.excluded.data},
                ),
                self._scope.insert(_RECORDS_TABLE).on_conflict_do_nothing(
                    index_elements=["tenant_id", "call_id"]
                ),
                delete(_LIVE_TABLE).where(  # executed with many parameter sets
                    _LIVE_TABLE.c.tenant_id == bindparam("tenant"),
                    _LIVE_TABLE.c.call_id == bindparam("call"),
                ),
            )
        return self._store_calls_statements

    # -- live calls --------------------------------------------------------------------------

    async def call_started(
        self,
        tenant_id: str,
        call_id: str,
        at: float,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Store a call as live (idempotent: a second start of the same call changes nothing).

        `data` is what a restart should know of the call (see `serialize.live_call_record`).
        """
        values = {
            "tenant_id": tenant_id,
            "call_id": call_id,
            "started_at": at,
            "data": dict(data or {}),
        }
        stmt = self._scope.insert(LiveCall).values(values)
        async with self._scope.begin() as s:
            await s.execute(stmt.on_conflict_do_nothing(index_elements=["tenant_id", "call_id"]))

    async def update_live_call(self, tenant_id: str, call_id: str, data: Mapping[str, Any]) -> bool:
        """Replace what is known of a live call; False when it is not live."""
        stmt = (
            update(LiveCall)
            .where(LiveCall.tenant_id == tenant_id, LiveCall.call_id == call_id)
            .values(data=dict(data))
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            result = await s.execute(stmt)
        return bool(rowcount(result))

    async def get_live_call(self, tenant_id: str, call_id: str) -> LiveCall | None:
        async with self._scope.begin() as s:
            return await s.get(LiveCall, (tenant_id, call_id), populate_existing=True)

    async def list_live_calls(self, tenant_id: str) -> list[LiveCall]:
        stmt = (
            select(LiveCall)
            .where(LiveCall.tenant_id == tenant_id)
            .order_by(LiveCall.started_at, LiveCall.call_id)
        )
        async with self._scope.begin() as s:
            return list((await s.scalars(stmt)).all())

    async def close_live_calls(self, tenant_id: str, now: float) -> list[CallRecord]:
        """On start after a stop: every call still live becomes a record (issue 4, point 11).

        Result `failed`, end reason `system_restart`, disconnected by `system`, ended at `now`.
        Returns the records written, oldest first, so the caller can publish them (in the same
        transaction when it runs this in a `UnitOfWork`).
        """
        written: list[CallRecord] = []
        async with self._scope.begin() as s:
            stmt = (
                select(LiveCall)
                .where(LiveCall.tenant_id == tenant_id)
                .order_by(LiveCall.started_at, LiveCall.call_id)
            )
            for live in (await s.scalars(stmt)).all():
                record = live_call_record(live, now)
                # its live row goes with the write, by call id; a call whose record somehow
                # exists already keeps that record and is not reported again
                if await self._insert_record(s, tenant_id, record):
                    written.append(record)
        return written

    # -- both, in one transaction -------------------------------------------------------------

    async def store_calls(
        self, tenant_id: str, live: Sequence[LiveCallRow], records: Sequence[CallRecord]
    ) -> None:
        """Live rows upserted, records inserted and their live rows deleted, all at once.

        Each kind goes in one statement executed with many parameter sets (the driver's
        executemany, on the tables, not through the ORM): a group of calls costs the database
        round trips of one. Idempotent, so the writer may retry it: a live row is replaced
        (its `started_at` kept), a record already there is kept as it is.
        """
        ended = {record.call_id for record in records}
        rows = [
            {
                "tenant_id": tenant_id,
                "call_id": row.call_id,
                "started_at": row.started_at,
                "data": dict(row.data),
            }
            for row in live
            if row.call_id not in ended
        ]
        upsert, insert, drop_live = self._calls_statements()
        async with self._scope.connection() as s:
            if rows:
                await s.execute(upsert, rows)
            if records:
                await s.execute(insert, [record_values(tenant_id, r) for r in records])
                gone = [{"tenant": tenant_id, "call": call_id} for call_id in sorted(ended)]
                await s.execute(drop_live, gone)

    # -- records -----------------------------------------------------------------------------

    async def write_record(self, tenant_id: str, record: CallRecord) -> None:
        """Store the call's one record and drop its live row, in one transaction.

        Idempotent: when the record is already there (a replay after a restart), the stored one
        is kept as it is (with any wrap-up amendment) and nothing fails.
        """
        async with self._scope.begin() as s:
            await self._insert_record(s, tenant_id, record)

    async def _insert_record(self, s: AsyncSession, tenant_id: str, record: CallRecord) -> bool:
        """Insert unless there; drop the live row either way. True when inserted."""
        stmt = self._scope.insert(CallRecordRow).values(record_values(tenant_id, record))
        result = await s.execute(
            stmt.on_conflict_do_nothing(index_elements=["tenant_id", "call_id"])
        )
        await s.execute(
            delete(LiveCall)
            .where(LiveCall.tenant_id == tenant_id, LiveCall.call_id == record.call_id)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) > 0

    async def amend_record(
        self,
        tenant_id: str,
        call_id: str,
        wrap_up_s: float | None,
        disposition: str | None,
        notes: str | None,
    ) -> None:
        """Add what wrap-up gave to a record. None leaves a field as it is; no record, no-op."""
        values: dict[str, Any] = {}
        if wrap_up_s is not None:
            values["wrap_up_s"] = wrap_up_s
        if disposition is not None:
            values["disposition"] = disposition
        if notes is not None:
            values["notes"] = notes
        if not values:
            return
        stmt = (
            update(CallRecordRow)
            .where(CallRecordRow.tenant_id == tenant_id, CallRecordRow.call_id == call_id)
            .values(values)
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            await s.execute(stmt)

    async def set_voicemail_url(self, tenant_id: str, call_id: str, url: str) -> bool:
        """Point a call's record at the caller's voicemail message; False when no record."""
        stmt = (
            update(CallRecordRow)
            .where(CallRecordRow.tenant_id == tenant_id, CallRecordRow.call_id == call_id)
            .values(voicemail_url=url)
            .execution_options(synchronize_session=False)
        )
        async with self._scope.begin() as s:
            return rowcount(await s.execute(stmt)) > 0

    async def get_record(self, tenant_id: str, call_id: str) -> CallRecordRow | None:
        async with self._scope.begin() as s:
            return await s.get(CallRecordRow, (tenant_id, call_id), populate_existing=True)

    async def list_records(
        self,
        tenant_id: str,
        *,
        start: float | None = None,
        end: float | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[CallRecordRow]:
        """Records that ended in [start, end), oldest first, by keyset on (ended_at, call_id).

        The cursor is opaque (`InvalidCursor` if forged). Paging is stable: a page starts
        strictly after the last row of the one before, so records that arrive meanwhile (they
        end later) show up on later pages, never twice, and never push others out. `limit` is
        capped at `MAX_LIMIT`.
        """
        size = clamp_limit(limit)
        stmt = select(CallRecordRow).where(CallRecordRow.tenant_id == tenant_id)
        if start is not None:
            stmt = stmt.where(CallRecordRow.ended_at >= start)
        if end is not None:
            stmt = stmt.where(CallRecordRow.ended_at < end)
        if cursor is not None:
            after_end, after_id = decode_cursor(cursor, _CURSOR, (float, str))
            # `ended_at >= x` first: a plain index range on every backend
            stmt = stmt.where(
                CallRecordRow.ended_at >= after_end,
                or_(
                    CallRecordRow.ended_at > after_end,
                    and_(CallRecordRow.ended_at == after_end, CallRecordRow.call_id > after_id),
                ),
            )
        stmt = stmt.order_by(CallRecordRow.ended_at, CallRecordRow.call_id)
        async with self._scope.begin() as s:
            return await fetch_page(s, stmt, size, record_cursor)

    async def queue_figures(
        self,
        tenant_id: str,
        *,
        start: float,
        end: float | None = None,
        threshold_s: float,
        queue_thresholds: Mapping[str, float] | None = None,
    ) -> list[QueueFigures]:
        """Per queue, the calls that ended in [start, end) answered, abandoned in the queue,
        answered within the queue's service-level threshold (`queue_thresholds`, else
        `threshold_s`), and the answered calls' summed waits: one aggregate query, by queue id.

        Calls with no queue (ended in the IVR, straight to voicemail) and other results are not
        counted. The (tenant_id, ended_at, queue_id, result, wait_s) index covers the query: a
        range scan that never reads the table's rows.
        """
        answered = CallRecordRow.result == Result.ANSWERED.value
        abandoned = CallRecordRow.result == Result.ABANDONED_IN_QUEUE.value
        threshold: ColumnElement[Any] | float = threshold_s
        if queue_thresholds:
            threshold = case(
                dict(queue_thresholds), value=CallRecordRow.queue_id, else_=threshold_s
            )
        stmt = (
            select(
                CallRecordRow.queue_id,
                _count_where(answered),
                _count_where(abandoned),
                _count_where(and_(answered, CallRecordRow.wait_s <= threshold)),
                func.coalesce(func.sum(case((answered, CallRecordRow.wait_s), else_=0.0)), 0.0),
            )
            .where(
                CallRecordRow.tenant_id == tenant_id,
                CallRecordRow.ended_at >= start,
                CallRecordRow.queue_id.is_not(None),
                CallRecordRow.result.in_([Result.ANSWERED.value, Result.ABANDONED_IN_QUEUE.value]),
            )
            .group_by(CallRecordRow.queue_id)
            .order_by(CallRecordRow.queue_id)
        )
        if end is not None:
            stmt = stmt.where(CallRecordRow.ended_at < end)
        async with self._scope.begin() as s:
            rows = (await s.execute(stmt)).all()
        return [
            QueueFigures(
                queue_id=str(queue_id),
                answered=int(n_answered),
                abandoned=int(n_abandoned),
                answered_in_threshold=int(n_in_threshold),
                wait_s_total=float(waited),
            )
            for queue_id, n_answered, n_abandoned, n_in_threshold, waited in rows
        ]

    async def count_records(self, tenant_id: str) -> int:
        stmt = select(func.count()).where(CallRecordRow.tenant_id == tenant_id)
        async with self._scope.begin() as s:
            return int((await s.execute(stmt)).scalar_one())


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows of the group meet `condition` (SUM of a CASE: portable, unlike FILTER)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)
