"""A real SQLite outage for tests: a second connection holds the write lock.

The lock is taken in a worker thread, never on the event loop. A write the server has
in flight through aiosqlite (a webhook delivery's update, say) holds the database's
write lock across awaits; taking `BEGIN EXCLUSIVE` on the loop's thread blocked the
loop, so that write could never commit and the lock was never ours ("database is
locked" after the whole timeout: the deadlock CI met once).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path


@contextlib.asynccontextmanager
async def database_locked(path: Path) -> AsyncIterator[sqlite3.Connection]:
    """Another connection holds the database's write lock until the block ends."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        await asyncio.to_thread(conn.execute, "BEGIN EXCLUSIVE")
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")  # releasing never waits
        conn.close()
