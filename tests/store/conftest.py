"""Every store test runs on SQLite (a temporary file) and on PostgreSQL.

PostgreSQL is `HELPLINE_TEST_POSTGRES_URL` (default `postgresql+asyncpg://postgres@127.0.0.1:5432/test`);
its parameter is skipped only when that server cannot be reached. Each test session migrates
a schema of its own (`search_path`), so runs are isolated and repeatable; each test starts
from empty tables (deleting the tenants deletes everything else by cascade).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from store_support import FakeClock, make_record

from helpline.core.records import CallRecord
from helpline.store import Store, create_engine
from pg_backend import (
    PG_URL,
    Backend,
    migrated_pg_schema,
    migrated_sqlite_template,
    pg_reachable,
    sqlite_copy,
)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    reason = asyncio.run(pg_reachable(PG_URL))
    if reason is not None:
        pytest.skip(reason)
    return PG_URL


@pytest.fixture(scope="session")
def pg_backend(postgres_url: str) -> Iterator[Backend]:
    """A schema of this session's own, migrated once, dropped at the end."""
    with migrated_pg_schema() as backend:
        yield backend


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("store") / "template.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "postgresql":
        pg: Backend = request.getfixturevalue("pg_backend")
        return pg
    return sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def open_store(backend: Backend, clock: FakeClock) -> Store:
    store = Store(create_engine(backend.url, connect_args=backend.connect_args), clock=clock)
    if backend.name == "postgresql":
        async with store.engine.begin() as conn:
            await conn.execute(text("DELETE FROM tenants"))  # cascades to every table
    return store


@pytest.fixture
async def store(backend: Backend, clock: FakeClock) -> AsyncIterator[Store]:
    store = await open_store(backend, clock)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def pg_store(pg_backend: Backend, clock: FakeClock) -> AsyncIterator[Store]:
    """PostgreSQL only, for what only PostgreSQL does (row locks that skip)."""
    store = await open_store(pg_backend, clock)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def tenants(store: Store) -> tuple[str, str]:
    """Two tenants, "t1" and "t2", for isolation checks."""
    await store.tenants.create_tenant("One", tenant_id="t1")
    await store.tenants.create_tenant("Two", tenant_id="t2")
    return "t1", "t2"


@pytest.fixture
def record() -> Callable[..., CallRecord]:
    """`record(call_id, ended_at, **changes)`: see `make_record`."""
    return make_record
