"""The API tests run the whole app on SQLite (a temporary file) and on PostgreSQL.

PostgreSQL is `HELPLINE_TEST_POSTGRES_URL` (default postgresql+asyncpg://postgres@127.0.0.1/test):
each test module gets a database of its own, migrated once and dropped at the end. The
PostgreSQL parameter is skipped only when no server answers there.

Per module and backend one app runs (`server`, under uvicorn for the websocket tests), its
tenants seeded through `Store` before it starts; each test takes a fresh pair of tenants
(`api`), so tests share no calls, records or agents. Test modules run in a module-wide event
loop: `pytestmark = pytest.mark.asyncio(loop_scope="module")`.

Helpers live in `api_support` (a plain module; `conftest` is a name other directories use).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from api_support import (
    SESSIONS_PER_AGENT,
    Api,
    Server,
    new_pg_database,
    open_api,
    run_server,
)

from helpline.store import create_database
from pg_backend import pg_admin, pg_reachable


@pytest.fixture(scope="module")
def api_pg_url() -> Iterator[str]:
    """The module's PostgreSQL database, migrated once, dropped at the end."""
    reason = asyncio.run(pg_reachable())
    if reason is not None:
        pytest.skip(reason)
    name, url = new_pg_database()

    async def setup() -> None:
        await pg_admin(f'CREATE DATABASE "{name}"')
        # durability across a crash of the server is not what these tests are about
        await pg_admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        engine = await create_database(url)
        await engine.dispose()

    asyncio.run(setup())
    try:
        yield url
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def api_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy (cheaper than migrating each time)."""
    path = tmp_path_factory.mktemp("api") / "template.db"

    async def setup() -> None:
        engine = await create_database(f"sqlite+aiosqlite:///{path}")
        await engine.dispose()  # the last connection checkpoints the WAL into the file

    asyncio.run(setup())
    return path


def _sqlite_copy(template: Path) -> str:
    path = template.with_name(f"helpline-{uuid.uuid4().hex[:12]}.db")
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The backend of this module's run: "sqlite" or "postgresql"."""
    return str(request.param)


@pytest.fixture(scope="module")
def database_url(request: pytest.FixtureRequest, backend: str) -> str:
    if backend == "postgresql":
        url: str = request.getfixturevalue("api_pg_url")
        return url
    return _sqlite_copy(request.getfixturevalue("api_sqlite_template"))


def _tests_using_api(request: pytest.FixtureRequest, backend: str) -> int:
    return sum(
        1
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.module is request.module
        and "api" in item.fixturenames
        and item.callspec.params.get("backend") == backend
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(
    request: pytest.FixtureRequest, backend: str, database_url: str
) -> AsyncIterator[Server]:
    """The module's app, with a pair of tenants for each of its tests."""
    pairs = max(1, _tests_using_api(request, backend))
    async with run_server(
        database_url, pairs=pairs, serve=True, sessions_per_agent=SESSIONS_PER_AGENT
    ) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def api(server: Server) -> AsyncIterator[Api]:
    """A fresh pair of tenants on the module's app: `acme` on the demo center, the second
    with no center."""
    async with open_api(server) as opened:
        yield opened
