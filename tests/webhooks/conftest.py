"""Webhook tests: a store on SQLite (a temporary file) and PostgreSQL, and a real HTTP server.

PostgreSQL is `HELPLINE_TEST_POSTGRES_URL` (default `postgresql+asyncpg://postgres@127.0.0.1:5432/test`,
as in tests/store); its parameter is skipped only when no server answers there. The session
migrates a schema of its own and drops it at the end.

`receiver` is a real HTTP server on 127.0.0.1 (`webhook_helpers.Receiver`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from webhook_helpers import FakeClock, Receiver

from helpline.settings import Settings
from helpline.store import Store, create_engine
from pg_backend import (
    Backend,
    migrated_pg_schema,
    migrated_sqlite_template,
    sqlite_copy,
)


@pytest.fixture(scope="session")
def wh_pg_backend() -> Iterator[Backend]:
    with migrated_pg_schema("helpline_wh_test") as backend:
        yield backend


@pytest.fixture(scope="session")
def wh_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("webhooks") / "template.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "postgresql":
        pg: Backend = request.getfixturevalue("wh_pg_backend")
        return pg
    return sqlite_copy(request.getfixturevalue("wh_sqlite_template"), tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(backend: Backend, clock: FakeClock) -> AsyncIterator[Store]:
    store = Store(create_engine(backend.url, connect_args=backend.connect_args), clock=clock)
    if backend.name == "postgresql":
        async with store.engine.begin() as conn:
            await conn.execute(text("DELETE FROM tenants"))  # cascades to every table
    await store.tenants.create_tenant("One", tenant_id="t1")
    await store.tenants.create_tenant("Two", tenant_id="t2")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def settings() -> Settings:
    return Settings(
        webhook_retry_schedule=(0.0, 0.05, 0.05),
        # long enough for a local round trip on a loaded 2-core CI machine (0.3 s was not)
        webhook_timeout_s=1.0,
        outbox_poll_s=0.05,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
