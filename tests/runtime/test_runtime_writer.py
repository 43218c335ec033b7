"""The runtime's writer retries what the database could not take, in order, exactly once.

Real failures only: a second SQLite connection holds `BEGIN EXCLUSIVE`, so the runtime's
writes fail with "database is locked" (its busy timeout lowered to 50 ms) until the lock is
released; a real constraint violation stands for the permanent failure. The runtime runs on
the real clock with the virtual carrier, as in `test_runtime_router.py`. The PostgreSQL twin
is `test_runtime_writer_pg.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from helpline.api.app import create_app
from helpline.bus import LocalBus
from helpline.core.errors import InternalError
from helpline.core.records import CallRecord
from helpline.ports import LiveCallRow
from helpline.runtime.hub import Hub
from helpline.runtime.tenant import TenantRuntime
from helpline.runtime.writer import (
    Write,
    Writer,
    backoff_delay,
    is_transient,
    new_message_id,
    outbox_write,
)
from helpline.settings import Settings
from helpline.store import Store
from helpline.store.models import OutboxMessage
from helpline.store.records import RecordsRepository
from helpline.telephony.virtual import VirtualCarrier
from helpline.webhooks.publisher import WebhookOutbox
from sqlite_lock import database_locked

TENANT = "t-writer"
NUMBER = "+18005550199"
CENTER: dict[str, Any] = {
    "numbers": [{"number": NUMBER, "queue": "q"}],
    "queues": [{"id": "q", "groups": ["team"]}],
    "groups": [{"id": "team", "agents": ["alice"]}],
    "agents": [{"id": "alice"}],
}


class CommitOrder:
    """The real records repository, noting the call ids in the order their records commit
    (an observer of the store, not a stand-in: every write goes to the database)."""

    def __init__(self, records: RecordsRepository) -> None:
        self.inner = records
        self.committed: list[str] = []

    async def amend_record(self, *args: Any, **kwargs: Any) -> None:
        await self.inner.amend_record(*args, **kwargs)

    async def store_calls(
        self, tenant_id: str, live: Sequence[LiveCallRow], records: Sequence[CallRecord]
    ) -> None:
        await self.inner.store_calls(tenant_id, live, records)
        self.committed.extend(record.call_id for record in records)


async def _open(path: Path) -> Store:
    # a busy timeout of 50 ms (aiosqlite's `timeout`): a locked database fails fast
    store = await Store.open(f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 0.05})
    await store.tenants.create_tenant("writer test", tenant_id=TENANT)
    await store.webhooks.create_subscription(TENANT, "http://127.0.0.1:9/hook")
    return store


@contextlib.asynccontextmanager
async def running(
    store: Store, drain_s: float = 5.0
) -> AsyncIterator[tuple[TenantRuntime, VirtualCarrier, CommitOrder]]:
    carrier = VirtualCarrier()
    sink = CommitOrder(store.records)
    hub = Hub(telephony=carrier, records=sink, outbox=WebhookOutbox(store), bus=LocalBus())
    runtime = hub.start_tenant(TENANT, CENTER)
    runtime.stop_drain_s = drain_s
    try:
        yield runtime, carrier, sink
    finally:
        await hub.stop()
        carrier.close()


async def _until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _call(carrier: VirtualCarrier, call_id: str) -> None:
    carrier.place_call(TENANT, call_id, "+15550001", NUMBER)
    carrier.hang_up(TENANT, call_id)


async def _stored_ids(store: Store) -> list[str]:
    page = await store.records.list_records(TENANT, limit=1000)
    return [row.call_id for row in page.items]


async def _webhook_calls(store: Store) -> list[str]:
    async with store.engine.connect() as conn:
        bodies = (
            await conn.execute(
                select(OutboxMessage.body)
                .where(OutboxMessage.tenant_id == TENANT, OutboxMessage.kind == "webhook")
                .order_by(OutboxMessage.id)
            )
        ).scalars()
        events = [json.loads(body) for body in bodies]
    return [e["data"]["call_id"] for e in events if e["type"] == "call.ended"]


async def test_writes_wait_out_a_locked_database_in_order_and_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "writer.db"
    store = await _open(path)
    try:
        async with running(store) as (runtime, carrier, sink):
            assert isinstance(runtime.bus, LocalBus)
            live_events = runtime.bus.subscribe(TENANT)
            _call(carrier, "c0")
            await runtime.settle()
            assert sink.committed == ["c0"]
            ids = [f"c{i}" for i in range(1, 9)]
            async with database_locked(path):
                for call_id in ids:
                    _call(carrier, call_id)
                # the engine keeps deciding: every call has ended in it, none stored yet
                await _until(lambda: runtime.processed >= 18, "the engine to end the calls")
                await _until(lambda: runtime.writer.retries >= 3, "the writer to retry")
                assert not any(c in runtime.engine.calls for c in ids)  # done with
                assert runtime.write_backlog > len(ids)  # live rows, records, webhooks
                assert sink.committed == ["c0"]
                assert await _stored_ids(store) == ["c0"]  # WAL: readers still read
                await asyncio.sleep(0.5)
            await runtime.settle()  # answered once everything before it is stored
            assert runtime.write_backlog == 0
            assert sink.committed == ["c0", *ids]  # in the order the calls ended
            assert sorted(await _stored_ids(store)) == sorted(["c0", *ids])
            assert await _webhook_calls(store) == ["c0", *ids]  # one each, in order
            ended = []
            while not live_events.queue.empty():
                message = live_events.queue.get_nowait()
                if message["type"] == "call.ended":
                    ended.append(message["data"]["call_id"])
            assert ended == ["c0", *ids]  # live, once each, after its record was stored
            assert runtime.writer.skipped == 0
            assert await store.records.list_live_calls(TENANT) == []
    finally:
        await store.close()


async def test_the_backlog_is_logged_while_the_store_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "writer.db"
    store = await _open(path)
    caplog.set_level(logging.WARNING, logger="helpline.runtime")
    try:
        async with running(store) as (runtime, carrier, _sink):
            runtime.writer.report_every_s = 0.2
            async with database_locked(path):
                _call(carrier, "c1")
                await asyncio.sleep(1.0)
            await runtime.settle()
        messages = [r.getMessage() for r in caplog.records]
        first = [m for m in messages if "failed (OperationalError" in m]
        assert first and "database is locked" in first[0]
        assert any("has been failing for" in m and "writes waiting" in m for m in messages)
        assert any("stored after" in m and "retries" in m for m in messages)
        assert await _stored_ids(store) == ["c1"]
    finally:
        await store.close()


async def test_a_stop_during_an_outage_leaves_live_rows_that_a_restart_closes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "writer.db"
    store = await _open(path)
    caplog.set_level(logging.ERROR, logger="helpline.runtime")
    outage = contextlib.AsyncExitStack()
    try:
        async with running(store, drain_s=0.5) as (runtime, carrier, sink):
            carrier.place_call(TENANT, "c1", "+15550001", NUMBER)
            await runtime.settle()
            live = await store.records.list_live_calls(TENANT)
            assert [row.call_id for row in live] == ["c1"]
            await outage.enter_async_context(database_locked(path))
            carrier.hang_up(TENANT, "c1")  # its record waits for the lock
            _call(carrier, "c2")  # a whole call in the outage: no live row, no record stored
            waiting = asyncio.create_task(runtime.settle())  # a request waiting on the writes
            await _until(lambda: runtime.writer.retries >= 1, "the writer to retry")
            started = time.monotonic()
        # the stop gave up after its drain time (0.5 s), not waiting for the lock
        assert time.monotonic() - started < 3.0
        with pytest.raises(InternalError):
            await waiting  # told that its changes were not stored, not left hanging
        await outage.aclose()  # the lock goes
        assert sink.committed == []
        messages = [r.getMessage() for r in caplog.records]
        # the records' group commit (runtime/call_writes.py) was given up...
        stopped = "tenant t-writer: stopped before this was stored: live rows and call records"
        assert f"{stopped} of tenant t-writer" in messages
        lost = [m for m in messages if "call record not stored" in m]
        # not silently lost: the log keeps each record whole...
        assert [json.loads(m.split("not stored: ", 1)[1])["call_id"] for m in lost] == ["c1", "c2"]
        await store.close()
        # ...and the restart (api/app.py's lifespan) closes the call that stayed live
        settings = Settings(database_url=f"sqlite+aiosqlite:///{path}", media_dir=str(tmp_path))
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            pass
        store = await Store.open(f"sqlite+aiosqlite:///{path}")
        row = await store.records.get_record(TENANT, "c1")
        assert row is not None and (row.end_reason, row.result) == ("system_restart", "failed")
        assert await _stored_ids(store) == ["c1"]  # c2 is in the log only (see above)
        assert await _webhook_calls(store) == ["c1"]  # its call.ended, from the restart
        assert await store.records.list_live_calls(TENANT) == []
    finally:
        await outage.aclose()
        await store.close()


async def test_the_hub_stops_its_tenants_together_and_each_drains_its_writes(
    tmp_path: Path,
) -> None:
    """Two tenants' writers wait on a locked database: both stop at once (one after the other
    would leave the second running until the first's drain time had passed), and both drain
    what they hold once the lock goes."""
    path = tmp_path / "writer.db"
    store = await _open(path)
    await store.tenants.create_tenant("writer test 2", tenant_id="t-writer-2")
    carrier = VirtualCarrier()
    hub = Hub(telephony=carrier, records=store.records, outbox=WebhookOutbox(store), bus=LocalBus())
    runtimes = [hub.start_tenant(tenant, CENTER) for tenant in (TENANT, "t-writer-2")]
    try:
        async with database_locked(path):
            for runtime in runtimes:
                runtime.stop_drain_s = 60.0  # far longer than this test waits under the lock
                carrier.place_call(runtime.tenant_id, "c1", "+15550001", NUMBER)
                carrier.hang_up(runtime.tenant_id, "c1")
            for runtime in runtimes:
                await _until(lambda r=runtime: r.writer.retries >= 1, "both writers to retry")
            stopping = asyncio.create_task(hub.stop())
            # each runtime's loop has stopped; both are now draining, neither waits its turn
            await _until(lambda: all(r._task is None for r in runtimes), "both to be stopping")
            assert not stopping.done()
        await asyncio.wait_for(stopping, 30.0)
        for runtime in runtimes:
            row = await store.records.get_record(runtime.tenant_id, "c1")
            assert row is not None and row.end_reason is not None
    finally:
        carrier.close()
        await store.close()


async def test_a_permanent_failure_is_logged_and_skipped_and_later_writes_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await _open(tmp_path / "writer.db")
    caplog.set_level(logging.ERROR, logger="helpline.runtime")
    writer = Writer("test writer")
    writer.start()
    given_up: list[str] = []
    try:
        # "b" names no tenant: the foreign key refuses it (IntegrityError), every time
        for call_id, tenant in (("a", TENANT), ("b", "no-such-tenant"), ("c", TENANT)):
            writer.put(
                Write(
                    partial(store.records.call_started, tenant, call_id, 1.0),
                    f"live row of call {call_id}",
                    partial(given_up.append, call_id),
                )
            )
        await asyncio.wait_for(writer.join(), 5)
        assert writer.skipped == 1 and writer.retries == 0  # never retried: it cannot succeed
        assert given_up == ["b"]
        live = [row.call_id for row in await store.records.list_live_calls(TENANT)]
        assert live == ["a", "c"]
        skipped = [r for r in caplog.records if "will not be retried" in r.getMessage()]
        assert len(skipped) == 1 and "live row of call b" in skipped[0].getMessage()
        assert skipped[0].exc_info is not None and skipped[0].exc_info[0] is IntegrityError
    finally:
        assert await writer.stop(1.0) == []
        await store.close()


def _ack_lost(action: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
    """`action`, whose first call commits and then fails as if the connection dropped before
    the commit's acknowledgement came back (no database can be made to do that on cue)."""
    calls = 0

    async def run() -> object:
        nonlocal calls
        calls += 1
        result = await action()
        if calls == 1:
            raise ConnectionResetError("connection lost before the commit was acknowledged")
        return result

    return run


async def test_a_retry_after_an_unseen_commit_queues_nothing_twice(tmp_path: Path) -> None:
    store = await _open(tmp_path / "writer.db")
    outbox = WebhookOutbox(store)
    writer = Writer("test writer")
    writer.start()
    data = {"call_id": "c1"}
    try:
        writes = [
            Write(partial(store.records.call_started, TENANT, "c1", 1.0), "live row"),
            outbox_write("webhook", outbox.publish_event, TENANT, "call.ended", data),
            outbox_write(
                "notify", outbox.send, TENANT, kind="notify", url="http://x/n", method="GET"
            ),
        ]
        for write in writes:
            writer.put(replace(write, action=_ack_lost(write.action)))
        await asyncio.wait_for(writer.join(), 5)
        assert writer.retries == 3 and writer.skipped == 0
        assert [row.call_id for row in await store.records.list_live_calls(TENANT)] == ["c1"]
        assert await _webhook_calls(store) == ["c1"]  # once, though its first try was retried
        async with store.engine.connect() as conn:
            kinds = (
                await conn.execute(select(OutboxMessage.kind).order_by(OutboxMessage.id))
            ).scalars()
            assert list(kinds) == ["webhook", "notify"]
    finally:
        await writer.stop(1.0)
        await store.close()


async def test_real_errors_are_classified(tmp_path: Path) -> None:
    path = tmp_path / "writer.db"
    store = await _open(path)
    try:
        async with database_locked(path):
            with pytest.raises(OperationalError) as locked:
                await store.records.call_started(TENANT, "x", 1.0)
        assert "database is locked" in str(locked.value) and is_transient(locked.value)
        with pytest.raises(IntegrityError) as duplicate:
            async with store.engine.begin() as conn:
                for _ in range(2):
                    await conn.execute(
                        text(
                            "INSERT INTO live_calls (tenant_id, call_id, started_at, data) "
                            "VALUES (:t, 'd', 1, '{}')"
                        ),
                        {"t": TENANT},
                    )
        assert not is_transient(duplicate.value)
        with pytest.raises(OperationalError) as bad_sql:
            async with store.engine.begin() as conn:
                await conn.execute(text("SELECT * FROM no_such_table"))
        assert not is_transient(bad_sql.value)  # a bug, not an outage
        assert not is_transient(ValueError("bad"))
        assert is_transient(ConnectionResetError())
    finally:
        await store.close()


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_delay(n, 0.05, 0.3) for n in range(1, 6)] == [0.05, 0.1, 0.2, 0.3, 0.3]


def test_message_ids_are_unique_and_shaped_like_the_stores() -> None:
    ids = [new_message_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(re.fullmatch(r"msg_[0-9a-f]{32}", i) for i in ids)
    # the random part is per process: another process does not repeat this one's ids
    code = "from helpline.runtime.writer import new_message_id as n; print(n())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip()[:20] != ids[0][:20]
