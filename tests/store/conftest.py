"""Every store test runs on SQLite (a temporary file) and on PostgreSQL.

PostgreSQL is `HELPLINE_TEST_POSTGRES_URL` (default `postgresql+asyncpg://postgres@127.0.0.1:5432/test`);
its parameter is skipped only when that server cannot be reached. Each test session migrates
a schema of its own (`search_path`), so runs are isolated and repeatable; each test starts
from empty tables (deleting the tenants deletes everything else by cascade).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from store_support import FakeClock, make_record

from helpline.core.records import CallRecord
from helpline.store import Store, create_database, create_engine
from pg_backend import PG_URL, Backend, new_pg_schema, pg_execute, pg_reachable, pg_schema_args


@pytest.fixture(scope="session")
def postgres_url() -> str:
    reason = asyncio.run(pg_reachable(PG_URL))
    if reason is not None:
        pytest.skip(reason)
    return PG_URL


@pytest.fixture(scope="session")
def pg_backend(postgres_url: str) -> Iterator[Backend]:
    """A schema of this session's own, migrated once, dropped at the end."""
    schema = new_pg_schema()
    args = pg_schema_args(schema)

    async def setup() -> None:
        await pg_execute(f'CREATE SCHEMA "{schema}"')
        engine = await create_database(postgres_url, connect_args=args)
        await engine.dispose()

    asyncio.run(setup())
    try:
        yield Backend("postgresql", postgres_url, args)
    finally:
        asyncio.run(pg_execute(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (cheaper than migrating each time)."""
    path = tmp_path_factory.mktemp("store") / "template.db"

    async def setup() -> None:
        engine = await create_database(f"sqlite+aiosqlite:///{path}")
        await engine.dispose()  # the last connection checkpoints the WAL into the file

    asyncio.run(setup())
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "postgresql":
        pg: Backend = request.getfixturevalue("pg_backend")
        return pg
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "helpline.db"
    shutil.copyfile(template, path)
    return Backend("sqlite", f"sqlite+aiosqlite:///{path}", {})


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
