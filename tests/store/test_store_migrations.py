"""The migrations create exactly the tables the models define, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Index, Integer, MetaData, String, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline.store import alembic_config, create_database, create_engine, migrate
from helpline.store.models import NAMING_CONVENTION, Base
from pg_backend import new_pg_schema, pg_schema_args


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    url: str = request.getfixturevalue("postgres_url")  # skips when unreachable
    return url


@pytest.fixture
async def fresh(fresh_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database: a new SQLite file, or a new PostgreSQL schema."""
    if fresh_url.startswith("sqlite"):
        engine = create_engine(fresh_url)
        yield engine
        await engine.dispose()
        return
    schema = new_pg_schema()
    admin = create_engine(fresh_url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(fresh_url, connect_args=pg_schema_args(schema))
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


def _diffs(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_migrated_schema_is_the_models(fresh: AsyncEngine) -> None:
    await migrate(fresh)
    async with fresh.connect() as conn:
        assert await conn.run_sync(_diffs) == []
        assert await conn.run_sync(_tables) == set(Base.metadata.tables) | {"alembic_version"}
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert version != "0001"  # the compat migrations follow the initial one


async def test_migrating_again_changes_nothing_and_downgrade_undoes_it(
    fresh: AsyncEngine,
) -> None:
    await migrate(fresh)
    await migrate(fresh)  # a restart: already at head

    def downgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    async with fresh.begin() as conn:
        await conn.run_sync(downgrade)
    async with fresh.connect() as conn:
        assert await conn.run_sync(_tables) == {"alembic_version"}
    await migrate(fresh)
    async with fresh.connect() as conn:
        assert await conn.run_sync(_diffs) == []


async def test_create_database_on_a_new_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "helpline.db"
    path.parent.mkdir()
    engine = await create_database(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
            assert await conn.run_sync(_diffs) == []
    finally:
        await engine.dispose()
    assert (mode, keys) == ("wal", 1)


async def test_the_comparison_sees_a_difference(fresh: AsyncEngine) -> None:
    """A control: the check above would fail if models and migration parted."""
    await migrate(fresh)
    changed = MetaData(naming_convention=NAMING_CONVENTION)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    records = changed.tables["call_records"]
    records.append_column(Column("extra", Integer, nullable=True))
    Index("ix_call_records_agent_id", records.c.agent_id)
    changed.tables["outbox"].c.next_attempt_at.type = String()

    def diffs(connection: Connection) -> list[str]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return sorted(str(d[0] if isinstance(d, tuple) else d[0][0]) for d in
                      compare_metadata(context, changed))  # fmt: skip

    async with fresh.connect() as conn:
        assert await conn.run_sync(diffs) == ["add_column", "add_index", "modify_type"]


async def test_0007_keeps_the_first_of_duplicate_message_ids(tmp_path: Path) -> None:
    """A database from before the unique index, holding one message id twice, upgrades: the
    first message stays, the repeat goes."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await migrate(engine, "0006")
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'T', 0)")
            )
            for message_id in ("msg_a", "msg_a", "msg_b"):
                await conn.execute(
                    text(
                        "INSERT INTO outbox (tenant_id, kind, url, method, headers, body,"
                        " message_id, status, attempts, next_attempt_at, created_at)"
                        " VALUES ('t1', 'webhook', 'http://x', 'POST', '{}', '', :m,"
                        " 'pending', 0, 0, 0)"
                    ),
                    {"m": message_id},
                )
        await migrate(engine)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, message_id FROM outbox"))).all()
        assert [(i, m) for i, m in rows] == [(1, "msg_a"), (3, "msg_b")]
    finally:
        await engine.dispose()
