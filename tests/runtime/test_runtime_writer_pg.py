"""On PostgreSQL: the runtime's connections are killed mid-write, and no record is lost.

Another connection locks `call_records`, so the runtime's record INSERT waits inside its
transaction; `pg_terminate_backend` then kills the runtime's connection (what a failover or
a server restart does to it) and the lock goes. The writer retries on a new connection: every
record arrives once, in order. The SQLite twin is `test_runtime_writer.py`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from test_runtime_writer import (
    TENANT,
    _call,
    _stored_ids,
    _webhook_calls,
    running,
)

from helpline.runtime.writer import is_transient
from helpline.store import Store
from pg_backend import PG_URL, Backend, migrated_pg_schema


@pytest.fixture
def pg() -> Iterator[Backend]:
    with migrated_pg_schema("helpline_writer") as backend:
        yield backend


async def _connect() -> asyncpg.Connection:
    u = make_url(PG_URL)
    return await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, database=u.database
    )


async def _open(pg: Backend, app_name: str) -> Store:
    args: dict[str, Any] = {
        "server_settings": {**pg.connect_args["server_settings"], "application_name": app_name}
    }
    store = await Store.open(pg.url, connect_args=args, migrate=False)
    await store.tenants.create_tenant("writer test", tenant_id=TENANT)
    await store.webhooks.create_subscription(TENANT, "http://127.0.0.1:9/hook")
    return store


async def _backends_waiting(admin: asyncpg.Connection, app_name: str) -> list[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        app_name,
    )
    return [row["pid"] for row in rows]


async def test_records_survive_killed_connections(pg: Backend) -> None:
    app_name = f"writer-{uuid.uuid4().hex[:8]}"
    store = await _open(pg, app_name)
    schema = pg.connect_args["server_settings"]["search_path"]
    # one connection locks; another watches and kills, outside any transaction (inside one,
    # pg_stat_activity is a snapshot taken at its first read and would never change)
    admin = await _connect()
    locking = await _connect()
    try:
        async with running(store) as (runtime, carrier, sink):
            _call(carrier, "c0")
            await runtime.settle()
            ids = [f"c{i}" for i in range(1, 6)]
            for round_ in range(2):  # twice: the new connection of the retry is killed as well
                locker = locking.transaction()
                await locker.start()
                await locking.execute(f'LOCK TABLE "{schema}".call_records IN EXCLUSIVE MODE')
                for call_id in ids[round_ * 3 : round_ * 3 + 3]:
                    _call(carrier, call_id)
                waiting: list[int] = []
                for _ in range(500):  # the runtime's record INSERT waits for the lock
                    waiting = await _backends_waiting(admin, app_name)
                    if waiting:
                        break
                    await asyncio.sleep(0.01)
                assert waiting, "the runtime's record write never reached the lock"
                pids = await admin.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app_name
                )
                killed = 0
                for row in pids:  # one by one: a WHERE may run pg_terminate_backend on any row
                    killed += bool(
                        await admin.fetchval("SELECT pg_terminate_backend($1)", row["pid"])
                    )
                assert killed >= 1
                await locker.rollback()
            await runtime.settle()
            assert runtime.writer.retries >= 2 and runtime.writer.skipped == 0
            assert runtime.write_backlog == 0
            assert sink.committed == ["c0", *ids]
            assert sorted(await _stored_ids(store)) == sorted(["c0", *ids])
            assert await _webhook_calls(store) == ["c0", *ids]
            assert await store.records.list_live_calls(TENANT) == []
    finally:
        await locking.close()
        await admin.close()
        await store.close()


async def test_a_killed_connection_is_a_transient_error(pg: Backend) -> None:
    app_name = f"writer-{uuid.uuid4().hex[:8]}"
    store = await _open(pg, app_name)
    admin = await _connect()
    try:
        async with store.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
            pid = await conn.exec_driver_sql("SELECT pg_backend_pid()")
            await admin.execute("SELECT pg_terminate_backend($1)", pid.scalar_one())
            with pytest.raises(DBAPIError) as killed:
                await conn.exec_driver_sql("SELECT 1")
        assert is_transient(killed.value), repr(killed.value)
    finally:
        await admin.close()
        await store.close()
