"""`Store`: every repository, on one engine, one transaction per call or a unit of work."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from helpline.core.errors import HelplineError
from helpline.store import compat as _compat  # noqa: F401  (registers the compat tables)
from helpline.store.base import Clock, SessionScope
from helpline.store.center import CenterConfigRepository
from helpline.store.compat.callfire import CallfireRepository
from helpline.store.compat.ccai import CcaiRepository
from helpline.store.compat.stringee import StringeeRepository
from helpline.store.database import create_database, create_engine
from helpline.store.history import EventLogRepository, RecordingsRepository
from helpline.store.outbox import OutboxRepository
from helpline.store.records import RecordsRepository
from helpline.store.sessions import AgentSessionsRepository
from helpline.store.tenants import TenantsRepository
from helpline.store.webhooks import WebhooksRepository


class Repositories:
    """The repositories, all on one `SessionScope`."""

    def __init__(self, scope: SessionScope, clock: Clock) -> None:
        self.tenants = TenantsRepository(scope, clock)
        self.sessions = AgentSessionsRepository(scope, clock)
        self.configs = CenterConfigRepository(scope, clock)
        self.records = RecordsRepository(scope, clock)
        self.webhooks = WebhooksRepository(scope, clock)
        self.outbox = OutboxRepository(scope, clock)
        self.recordings = RecordingsRepository(scope, clock)
        self.events = EventLogRepository(scope, clock)
        self.callfire = CallfireRepository(scope, clock)
        self.ccai = CcaiRepository(scope, clock)
        self.stringee = StringeeRepository(scope, clock)


class UnitOfWork(Repositories):
    """The repositories on one session: everything done through it commits (or not) at once."""

    def __init__(self, scope: SessionScope, clock: Clock, session: AsyncSession) -> None:
        super().__init__(scope, clock)
        self.session = session


class Store(Repositories):
    """The persistence layer of the server.

    `store.records.write_record(...)` runs in a transaction of its own. To make several
    changes atomic (a record, the deletion of its live call and the webhooks it causes):

        async with store.transaction() as tx:
            await tx.records.write_record(tenant_id, record)
            await tx.outbox.enqueue(tenant_id, kind="webhook", url=..., body=...)

    `clock` stamps `created_at` and the like (time is an input; tests pass their own).
    """

    def __init__(self, engine: AsyncEngine, *, clock: Clock = time.time) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.clock = clock
        self._maker = async_sessionmaker(engine, expire_on_commit=False)
        super().__init__(SessionScope(self._maker, self.dialect), clock)

    @classmethod
    async def open(
        cls,
        url: str | None = None,
        *,
        clock: Clock = time.time,
        migrate: bool = True,
        connect_args: Mapping[str, Any] | None = None,
    ) -> Store:
        """A store on `url` (see `database.database_url`), migrated unless `migrate=False`."""
        if migrate:
            engine = await create_database(url, connect_args=connect_args)
        else:
            engine = create_engine(url, connect_args=connect_args)
        return cls(engine, clock=clock)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """One transaction for everything done through the yielded unit of work.

        Commits when the block ends, rolls back if it raises.
        """
        try:
            async with self._maker() as session, session.begin():
                scope = SessionScope(self._maker, self.dialect, session)
                yield UnitOfWork(scope, self.clock, session)
        except StatementError as exc:  # as in `SessionScope.begin`: our errors unwrapped
            if isinstance(exc.orig, HelplineError):
                raise exc.orig from None
            raise

    async def close(self) -> None:
        await self.engine.dispose()
