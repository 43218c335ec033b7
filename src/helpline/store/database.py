"""Engines and migrations: SQLite by default, PostgreSQL by URL (issue 4, point 2).

The URL is `sqlite+aiosqlite:///./helpline.db` unless one is given (`helpline serve
--database`, or `HELPLINE_DATABASE_URL`, e.g. `postgresql+asyncpg://user@host/db`). The
Alembic scripts ship inside the package (`helpline/store/migrations`) and run from code, on
the application's own connection; no `alembic.ini` is needed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DEFAULT_URL = "sqlite+aiosqlite:///./helpline.db"
URL_ENV = "HELPLINE_DATABASE_URL"
SCRIPT_LOCATION = "helpline.store:migrations"


def database_url(url: str | None = None) -> str:
    """`url` if given, else `HELPLINE_DATABASE_URL`, else the embedded SQLite file."""
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # per connection: SQLite forgets these when a connection closes (WAL sticks to the file,
    # but setting it again is free). WAL lets readers run beside the one writer. In WAL mode
    # synchronous=NORMAL syncs at checkpoints, not at every commit: a commit survives the
    # process being killed (kill -9, issue 4 point 11), though not a power cut; the runtime
    # commits a few times per call, and FULL's fsync each time halves its throughput.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def create_engine(
    url: str | None = None,
    *,
    connect_args: Mapping[str, Any] | None = None,
    echo: bool = False,
) -> AsyncEngine:
    """An async engine for `url` (see `database_url`); SQLite gets WAL and foreign keys.

    `connect_args` go to the driver, e.g. `{"server_settings": {"search_path": "s1"}}` for
    asyncpg to work in a schema of its own.
    """
    resolved = database_url(url)
    engine = create_async_engine(
        resolved,
        connect_args=dict(connect_args or {}),
        echo=echo,
        # a server restart or idle timeout must not turn the next request into an error
        pool_pre_ping=not resolved.startswith("sqlite"),
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(url: str | None = None) -> Config:
    """An Alembic `Config` built in code, pointing at the package's migration scripts."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection  # env.py migrates on this connection
    command.upgrade(config, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (default: the newest) in one transaction."""
    config = alembic_config()
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, config, revision)


async def create_database(
    url: str | None = None, *, connect_args: Mapping[str, Any] | None = None
) -> AsyncEngine:
    """An engine for `url` whose database is migrated to the newest revision."""
    engine = create_engine(url, connect_args=connect_args)
    try:
        await migrate(engine)
    except BaseException:
        await engine.dispose()
        raise
    return engine


async def dispose(engine: AsyncEngine) -> None:
    """Close every pooled connection (on shutdown)."""
    await engine.dispose()
