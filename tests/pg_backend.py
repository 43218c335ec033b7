"""PostgreSQL for the tests: where it is, whether it answers, schemas and databases of their own.

One module for every test directory that runs on PostgreSQL as well as SQLite (tests/store,
tests/webhooks, tests/api). `pyproject.toml` puts `tests/` on the import path.

PostgreSQL is `HELPLINE_TEST_POSTGRES_URL` (default
`postgresql+asyncpg://postgres@127.0.0.1:5432/test`); a test is skipped only when that server
cannot be reached at all: an authentication failure or a missing database is an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from helpline.store import create_database, create_engine

PG_URL = os.environ.get(
    "HELPLINE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class Backend:
    name: str  # "sqlite" or "postgresql"
    url: str
    connect_args: dict[str, Any]


async def pg_reachable(url: str = PG_URL) -> str | None:
    """None when the server answers; else why not (only connection failures count)."""
    u = make_url(url)
    try:
        conn = await asyncpg.connect(
            host=u.host,
            port=u.port or 5432,
            user=u.username,
            password=u.password,
            database=u.database,
            timeout=3,
        )
    except (TimeoutError, OSError) as exc:
        return f"PostgreSQL not reachable at {u.host}:{u.port or 5432}: {exc!r}"
    await conn.close()
    return None


async def pg_execute(sql: str, url: str = PG_URL) -> None:
    """Run one statement in a transaction (CREATE/DROP SCHEMA)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def pg_admin(sql: str, url: str = PG_URL) -> None:
    """Run `sql` outside a transaction (CREATE/DROP DATABASE)."""
    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, database=u.database
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def new_pg_schema(prefix: str = "helpline_test") -> str:
    """A schema name no other test run uses."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def pg_schema_args(schema: str) -> dict[str, Any]:
    """asyncpg connect arguments that put every table in `schema`."""
    return {"server_settings": {"search_path": schema}}


def new_pg_database(prefix: str = "helpline_test") -> tuple[str, str]:
    """A fresh database name and its URL (same server and credentials as `PG_URL`)."""
    name = new_pg_schema(prefix)
    return name, make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def migrated_pg_schema(prefix: str = "helpline_test") -> Iterator[Backend]:
    """A schema of its own on PostgreSQL, migrated once, dropped at the end (skip if down)."""
    reason = asyncio.run(pg_reachable())
    if reason is not None:
        pytest.skip(reason)
    schema = new_pg_schema(prefix)
    args = pg_schema_args(schema)

    async def setup() -> None:
        await pg_execute(f'CREATE SCHEMA "{schema}"')
        engine = await create_database(PG_URL, connect_args=args)
        await engine.dispose()

    asyncio.run(setup())
    try:
        yield Backend("postgresql", PG_URL, args)
    finally:
        asyncio.run(pg_execute(f'DROP SCHEMA "{schema}" CASCADE'))


def migrated_sqlite_template(path: Path) -> Path:
    """A migrated SQLite file for tests to copy (cheaper than migrating each time)."""

    async def setup() -> None:
        engine = await create_database(f"sqlite+aiosqlite:///{path}")
        await engine.dispose()  # the last connection checkpoints the WAL into the file

    asyncio.run(setup())
    return path


def sqlite_copy(template: Path, folder: Path) -> Backend:
    """A fresh SQLite store: a copy of the migrated template."""
    path = folder / "helpline.db"
    shutil.copyfile(template, path)
    return Backend("sqlite", f"sqlite+aiosqlite:///{path}", {})
