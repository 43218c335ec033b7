"""The tenant runtime's writer: store and outbox writes, in order, retried through outages.

The engine never waits for the database (`runtime/tenant.py`); what it decides to store goes
here, and one task carries the writes out in the order they were queued. "No lost call
record" (the project's rule) means a write that fails because the database is briefly away
(a lock held by another connection, a PostgreSQL failover, a dropped connection) is tried
again, with a growing pause, and every later write waits behind it, so the order holds. A
write that fails for a reason that another try cannot cure (a constraint, a bug) is logged
with what it was and skipped: retrying it would block the tenant's writes forever.

Retried writes must be idempotent: the commit of a try may have happened although its
acknowledgement was lost (`RecordSink.store_calls` upserts live rows and inserts records with
ON CONFLICT DO NOTHING; `amend_record` is a plain UPDATE).

A write may return more writes (`Write` instances in a list): they run next, before the rest
of the queue. A record's follow-ups (its webhook, the compatibility hooks, its `hangup_url`)
are written this way, each retried alone, so a retry never repeats the ones already done.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger("helpline.runtime")

Action = Callable[[], Awaitable[object]]

FIRST_DELAY_S = 0.05
MAX_DELAY_S = 2.0  # a failover takes seconds: retry often enough to notice its end soon
REPORT_EVERY_S = 10.0
STOP_DRAIN_S = 5.0  # how long `stop` keeps trying before it gives up (see `Writer.stop`)

# SQLSTATE classes and codes that another try can cure (PostgreSQL Appendix A): connection
# exceptions, serialization failure and deadlock, too many connections, admin shutdown,
# crash shutdown, cannot connect now (a server starting or being promoted in a failover)
_TRANSIENT_SQLSTATE_CLASSES = ("08",)
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "53300", "57P01", "57P02", "57P03"})
# SQLite's SQLITE_BUSY / SQLITE_LOCKED, which Python's sqlite3 reports as OperationalError
_SQLITE_BUSY_TEXTS = ("database is locked", "database table is locked", "database is busy")


@dataclass(frozen=True, slots=True)
class Write:
    """One store or outbox write.

    `what` names it in logs. `on_abandon` runs if the write is given up (the writer stops
    before it is done, or it failed for good), so a waiting request is answered, or a record
    is logged whole rather than lost silently.
    `retry_action`, if given, replaces `action` on every try after the first (see
    `outbox_write`).
    """

    action: Action
    what: str
    on_abandon: Callable[[], None] | None = None
    retry_action: Action | None = None


# A message id is unique without a system call per message (uuid4 reads the kernel's random
# source each time, a few per call): 64 random bits per process, then a counter.
_MESSAGE_PREFIX = secrets.token_hex(8)
_message_serial = itertools.count()


def new_message_id() -> str:
    """A webhook-id (Standard Webhooks), `msg_` and 32 hex digits, unique across processes
    and restarts (the random prefix) and within one (the counter)."""
    return f"msg_{_MESSAGE_PREFIX}{next(_message_serial):016x}"


def outbox_write(
    what: str, queue: Callable[..., Awaitable[object]], *args: Any, **kw: Any
) -> Write:
    """A write through the `Outbox` port (`queue(*args, **kw)`) under a message id of its own;
    its retries pass `retry=True`, so a first try that committed unseen is not queued twice."""
    message_id = new_message_id()
    return Write(
        partial(queue, *args, message_id=message_id, **kw),
        what,
        retry_action=partial(queue, *args, message_id=message_id, retry=True, **kw),
    )


def is_transient(error: BaseException) -> bool:
    """Whether another try of the write could succeed (the database was away, not wrong)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _one_is_transient(current):
            return True
        # the explicit cause only (`raise ... from`, as SQLAlchemy wraps the driver's error):
        # what merely happened while handling something else says nothing about this error
        current = current.__cause__
    return False


def _one_is_transient(error: BaseException) -> bool:
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, InterfaceError):  # the connection is closed or unusable
            return True
        if isinstance(error, OperationalError):
            if isinstance(error.orig, sqlite3.Error) or "sqlite" in type(error.orig).__module__:
                return _sqlite_busy(str(error.orig))
            return True  # PostgreSQL: connection lost, server shutting down, and the like
        return _transient_sqlstate(getattr(error.orig, "sqlstate", None))
    if isinstance(error, sqlite3.OperationalError):
        return _sqlite_busy(str(error))
    if type(error).__module__.startswith("asyncpg"):
        # asyncpg's own: ConnectionDoesNotExistError, PostgresConnectionError, ...
        name = type(error).__name__
        if "Connection" in name or name in ("InterfaceError", "InternalClientError"):
            return True
        return _transient_sqlstate(getattr(error, "sqlstate", None))
    # no answer at all: refused, reset, timed out (connecting during a failover)
    return isinstance(error, ConnectionError | TimeoutError)


def _sqlite_busy(message: str) -> bool:
    lowered = message.lower()
    return any(text in lowered for text in _SQLITE_BUSY_TEXTS)


def _transient_sqlstate(sqlstate: object) -> bool:
    if not isinstance(sqlstate, str):
        return False
    return sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES)


def backoff_delay(
    failures: int, first_s: float = FIRST_DELAY_S, max_s: float = MAX_DELAY_S
) -> float:
    """The pause after the `failures`-th failed try in a row: doubling, capped."""
    return min(max_s, first_s * 2.0 ** max(0, failures - 1))


class Writer:
    """One task that carries out `Write`s in order, retrying transient failures."""

    def __init__(
        self,
        name: str,
        *,
        first_delay_s: float = FIRST_DELAY_S,
        max_delay_s: float = MAX_DELAY_S,
        report_every_s: float = REPORT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.report_every_s = report_every_s
        self.clock = clock
        self._queue: collections.deque[Write] = collections.deque()
        self._current: Write | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.retries = 0  # failed tries that were retried, since start
        self.skipped = 0  # writes dropped as permanent failures
        self.failing_since: float | None = None  # `clock` time of the first failure in a row

    @property
    def backlog(self) -> int:
        """Writes not yet done, counting the one being tried."""
        return len(self._queue) + (1 if self._current is not None else 0)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"{self.name}-writes")

    def put(self, write: Write) -> None:
        """Queue a write (never waits)."""
        self._queue.append(write)
        self._idle.clear()
        self._wake.set()

    async def join(self) -> None:
        """Wait until every write queued so far is done (or skipped)."""
        await self._idle.wait()

    async def stop(self, drain_s: float = STOP_DRAIN_S) -> list[Write]:
        """Keep writing for up to `drain_s`, then stop; returns the writes left undone.

        Each one left is logged (at ERROR, with what it was) and its `on_abandon` runs. A
        call whose record is among them keeps its live row, if that was stored: the next
        start closes it as `system_restart` (`store.records.close_live_calls`).
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.join(), drain_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        left = ([self._current] if self._current is not None else []) + list(self._queue)
        self._current = None
        self._queue.clear()
        self._idle.set()
        for write in left:
            log.error("%s: stopped before this was stored: %s", self.name, write.what)
            if write.on_abandon is not None:
                write.on_abandon()
        return left

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            write = self._queue.popleft()
            self._current = write
            follow_ups = await self._carry_out(write)
            self._queue.extendleft(reversed(follow_ups))
            self._current = None

    async def _carry_out(self, write: Write) -> list[Write]:
        """Try `write` until it is done or fails for good; returns the writes it asks for."""
        failures = 0
        last_report = self.clock()
        while True:
            try:
                action = write.retry_action if failures and write.retry_action else write.action
                result = await action()
            except Exception as error:
                if not is_transient(error):
                    self.skipped += 1
                    self.failing_since = None
                    log.exception(
                        "%s: %s failed and will not be retried; skipped", self.name, write.what
                    )
                    if write.on_abandon is not None:
                        write.on_abandon()
                    return []
                failures += 1
                self.retries += 1
                now = self.clock()
                if self.failing_since is None:
                    self.failing_since = now
                if failures == 1:
                    log.warning(
                        "%s: %s failed (%s); retrying, %d writes waiting",
                        self.name,
                        write.what,
                        _short(error),
                        self.backlog,
                    )
                elif now - last_report >= self.report_every_s:
                    last_report = now
                    log.warning(
                        "%s: the store has been failing for %.0f s; %d writes waiting (%s)",
                        self.name,
                        now - self.failing_since,
                        self.backlog,
                        _short(error),
                    )
                await asyncio.sleep(backoff_delay(failures, self.first_delay_s, self.max_delay_s))
                continue
            if failures:
                since = self.failing_since or self.clock()
                log.warning(
                    "%s: %s stored after %d retries (%.1f s); %d writes waiting",
                    self.name,
                    write.what,
                    failures,
                    self.clock() - since,
                    self.backlog,
                )
            self.failing_since = None
            if isinstance(result, list):
                return [item for item in result if isinstance(item, Write)]
            return []


def _short(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text[:200]}"
