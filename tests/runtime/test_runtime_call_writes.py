"""The group commit of live rows and records (runtime/call_writes.py), on a real SQLite store.

Under load the writer falls behind the calls; what waits for it is stored a batch per
transaction, a call that ended meanwhile never gets a live row, and one record the store
refuses for good costs only itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from test_runtime_writer import (
    TENANT,
    _call,
    _open,
    _stored_ids,
    _until,
    running,
)

from helpline.core.records import CallRecord, Direction, Result
from helpline.ports import LiveCallRow
from helpline.runtime.call_writes import CallWrites
from helpline.runtime.writer import Write, Writer
from helpline.store.records import RecordsRepository
from sqlite_lock import database_locked


def make_record(call_id: str, ended_at: float, from_number: str = "+15550001") -> CallRecord:
    """An inbound call that was abandoned in the queue after 5 s."""
    return CallRecord(
        call_id=call_id,
        direction=Direction.INBOUND,
        from_number=from_number,
        to_number="+18005550199",
        result=Result.ABANDONED_IN_QUEUE,
        disconnected_by="customer",
        end_reason="customer_hangup",
        created_at=ended_at - 5.0,
        queued_at=ended_at - 5.0,
        offered_at=None,
        answered_at=None,
        ended_at=ended_at,
        wait_s=5.0,
        talk_s=0.0,
        hold_s=0.0,
        wrap_up_s=0.0,
        queue_id="q",
        agent_id=None,
        ivr_tree=None,
        ivr_path=(),
        keys="",
        priority=0,
        legs=(),
    )


class Batches:
    """The real records repository, noting what each `store_calls` tried to store (an
    observer of the store: every write still goes to the database)."""

    def __init__(self, records: RecordsRepository) -> None:
        self.inner = records
        self.calls: list[tuple[list[str], list[str]]] = []  # (live call ids, record ids)

    async def amend_record(self, *args: Any, **kwargs: Any) -> None:
        await self.inner.amend_record(*args, **kwargs)

    async def store_calls(
        self, tenant_id: str, live: Sequence[LiveCallRow], records: Sequence[CallRecord]
    ) -> None:
        self.calls.append(([row.call_id for row in live], [r.call_id for r in records]))
        await self.inner.store_calls(tenant_id, live, records)


async def test_calls_that_wait_for_the_store_are_stored_a_batch_at_a_time(
    tmp_path: Path,
) -> None:
    path = tmp_path / "writer.db"
    store = await _open(path)
    try:
        async with running(store) as (runtime, carrier, sink):
            ids = [f"c{i}" for i in range(40)]
            async with database_locked(path):
                _call(carrier, "first")  # its flush is the one that waits on the lock
                await _until(lambda: runtime.writer.retries >= 1, "the writer to retry")
                for call_id in ids:
                    _call(carrier, call_id)
                await _until(lambda: runtime.processed >= 2 + 2 * len(ids), "the calls to end")
            await runtime.settle()
            # every call stored, in the order the calls ended, each record once
            assert sink.committed == ["first", *ids]
            assert sorted(await _stored_ids(store)) == sorted(["first", *ids])
            assert await store.records.list_live_calls(TENANT) == []
            # the 40 calls that ended while the store was away: one transaction, no live rows
            assert runtime.call_writes.flushes <= 3
    finally:
        await store.close()


async def test_a_live_row_is_stored_with_its_latest_snapshot(tmp_path: Path) -> None:
    store = await _open(tmp_path / "writer.db")
    try:
        async with running(store) as (runtime, carrier, _sink):
            carrier.place_call(TENANT, "c1", "+15550001", "+18005550199")
            await runtime.settle()
            live = await store.records.list_live_calls(TENANT)
            assert [row.call_id for row in live] == ["c1"]
            assert live[0].data["queue_id"] == "q" and live[0].data["queued_at"] is not None
            carrier.hang_up(TENANT, "c1")
            await runtime.settle()
            assert await store.records.list_live_calls(TENANT) == []
            assert await _stored_ids(store) == ["c1"]
    finally:
        await store.close()


async def test_a_record_refused_for_good_costs_only_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await _open(tmp_path / "writer.db")
    caplog.set_level(logging.ERROR, logger="helpline.runtime")
    writer = Writer("test writer")
    sink = Batches(store.records)
    lost: list[str] = []
    followed: list[str] = []

    def after(record: CallRecord) -> list[Write]:
        followed.append(record.call_id)
        return []

    writes = CallWrites(
        TENANT, sink, writer, after_record=after, on_lost=lambda r: lost.append(r.call_id)
    )
    try:
        # all of it joins one batch: the writer is not running yet
        writes.live(LiveCallRow("open", 1.0, {}))
        writes.ended(make_record("a", 10.0))
        writes.ended(make_record("bad", 11.0, from_number="nul\x00"))  # no backend stores NUL
        writes.ended(make_record("c", 12.0))
        writer.start()
        await asyncio.wait_for(writer.join(), 5)
        assert sink.calls[0] == (["open"], ["a", "bad", "c"])  # the batch, refused whole
        alone = [(["open"], []), ([], ["a"]), ([], ["bad"]), ([], ["c"])]
        assert sink.calls[1:] == alone  # then each change alone
        assert sorted(await _stored_ids(store)) == ["a", "c"]
        assert [row.call_id for row in await store.records.list_live_calls(TENANT)] == ["open"]
        assert lost == ["bad"] and followed == ["a", "c"]  # the rest go on as stored
        assert writer.skipped == 0  # nothing else of the writer's queue was given up
        skipped = [
            r.getMessage() for r in caplog.records if "will not be retried" in r.getMessage()
        ]
        assert skipped == [
            "test writer: record of call bad failed and will not be retried; skipped"
        ]
        # a later change gets a flush of its own
        writes.ended(make_record("d", 13.0))
        await asyncio.wait_for(writer.join(), 5)
        assert sorted(await _stored_ids(store)) == ["a", "c", "d"] and sink.calls[-1][1] == ["d"]
    finally:
        await writer.stop(1.0)
        await store.close()


async def test_records_of_a_stopped_writer_are_logged_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await _open(tmp_path / "writer.db")
    caplog.set_level(logging.ERROR, logger="helpline.runtime")
    writer = Writer("test writer")
    lost: list[str] = []
    writes = CallWrites(
        TENANT,
        store.records,
        writer,
        after_record=lambda r: [],
        on_lost=lambda r: lost.append(json.dumps(r.call_id)),
    )
    try:
        writes.ended(make_record("a", 10.0))
        writes.ended(make_record("b", 11.0))
        assert len(await writer.stop(0.1)) == 1  # never started: one flush left undone
        assert lost == ['"a"', '"b"']
        assert await _stored_ids(store) == []
    finally:
        await store.close()
