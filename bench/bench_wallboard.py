"""The wallboard's day figures: paging every record (before) against one aggregate query (now).

    python bench/bench_wallboard.py                     # 100,000 records, SQLite and PostgreSQL
    python bench/bench_wallboard.py --records 20000 --backends sqlite
    python bench/bench_wallboard.py --repeat 9

A fresh store per backend (a new SQLite file; a new PostgreSQL schema, dropped afterwards)
gets `--records` call records of one tenant, ending over the last 30 hours: three queues, a
mix of answered, abandoned in the queue and in the IVR, voicemail and calls with no queue,
each with a leg and a traced decision like a real record. "Today" starts 24 hours ago, so
about a fifth of the records are before it.

- *before*: what `api/wallboard.py` did until the aggregate: page through
  `records.list_records(start=today)` 100 rows at a time and count in Python;
- *now*: `records.queue_figures(start=today)`, one GROUP BY query.

Both must give the same figures (checked before timing; a mismatch exits 1). Each is timed
`--repeat` times, interleaved, and the median printed with the ratio before/now. Nothing is
asserted about time: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from helpline.core.records import CallRecord, Decision, Direction, Leg, Result
from helpline.store import Store, create_database, create_engine
from helpline.store.models import CallRecordRow
from helpline.store.serialize import record_values

TENANT = "bench"
NOW = 1_800_000_000.0
DAY_S = 24 * 3600.0
SPAN_S = 30 * 3600.0
THRESHOLD_S = 20.0
QUEUES = ("sales", "support", "billing")
INSERT_BATCH = 2000
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Totals:
    """Answered, abandoned in queue, answered within the threshold and summed wait."""

    answered: int
    abandoned: int
    in_threshold: int
    waited: float

    def same_as(self, other: Totals) -> bool:
        return (self.answered, self.abandoned, self.in_threshold) == (
            other.answered,
            other.abandoned,
            other.in_threshold,
        ) and abs(self.waited - other.waited) < 1e-6 * max(1.0, self.waited)


def make_record(serial: int, rng: random.Random) -> CallRecord:
    ended = NOW - rng.uniform(0, SPAN_S)
    roll = rng.random()
    queue = rng.choice(QUEUES) if roll > 0.08 else None  # 8 %: no queue (IVR, voicemail)
    if queue is None:
        result = rng.choice([Result.ABANDONED_IN_IVR, Result.ENDED_IN_IVR, Result.VOICEMAIL])
    elif roll < 0.80:
        result = Result.ANSWERED
    elif roll < 0.95:
        result = Result.ABANDONED_IN_QUEUE
    else:
        result = Result.NO_AGENT
    wait = rng.expovariate(1 / 25.0) if queue is not None else 0.0
    answered = result is Result.ANSWERED
    created = ended - wait - 120.0
    legs = (
        (
            Leg(
                agent_id=f"a{serial % 50}",
                queue_id=queue,
                offered_at=created + wait,
                answered_at=created + wait,
                ended_at=ended,
                talk_s=120.0,
                hold_s=0.0,
            ),
        )
        if answered
        else ()
    )
    decisions = (
        (Decision(at=created, queue_id=queue, rule="longest_idle", chosen=(f"a{serial % 50}",)),)
        if queue is not None
        else ()
    )
    return CallRecord(
        call_id=f"c{serial:07d}",
        direction=Direction.INBOUND,
        from_number="+15550001",
        to_number="+18005550000",
        result=result,
        disconnected_by="customer",
        end_reason="hangup",
        created_at=created,
        queued_at=created if queue is not None else None,
        offered_at=created + wait if answered else None,
        answered_at=created + wait if answered else None,
        ended_at=ended,
        wait_s=wait,
        talk_s=120.0 if answered else 0.0,
        hold_s=0.0,
        wrap_up_s=None,
        queue_id=queue,
        agent_id=f"a{serial % 50}" if answered else None,
        ivr_tree="main",
        ivr_path=("root",),
        keys="1",
        priority=0,
        legs=legs,
        decisions=decisions,
    )


async def fill(store: Store, count: int) -> None:
    await store.tenants.create_tenant("Bench", tenant_id=TENANT)
    rng = random.Random(6)
    for first in range(0, count, INSERT_BATCH):
        rows = [
            record_values(TENANT, make_record(serial, rng))
            for serial in range(first, min(count, first + INSERT_BATCH))
        ]
        async with store.transaction() as tx:
            await tx.session.execute(insert(CallRecordRow), rows)


async def before(store: Store, start: float) -> Totals:
    """The wallboard's figures as they were computed until the aggregate: every row paged."""
    answered = abandoned = in_threshold = 0
    waited = 0.0
    cursor: str | None = None
    while True:
        page = await store.records.list_records(TENANT, start=start, cursor=cursor)
        for row in page.items:
            if row.queue_id is None:
                continue
            if row.result == Result.ANSWERED.value:
                answered += 1
                waited += row.wait_s
                in_threshold += row.wait_s <= THRESHOLD_S
            elif row.result == Result.ABANDONED_IN_QUEUE.value:
                abandoned += 1
        cursor = page.next_cursor
        if cursor is None:
            return Totals(answered, abandoned, in_threshold, waited)


async def now(store: Store, start: float) -> Totals:
    found = await store.records.queue_figures(TENANT, start=start, threshold_s=THRESHOLD_S)
    return Totals(
        sum(q.answered for q in found),
        sum(q.abandoned for q in found),
        sum(q.answered_in_threshold for q in found),
        sum(q.wait_s_total for q in found),
    )


async def measure(store: Store, repeat: int) -> tuple[float, float, Totals]:
    start = NOW - DAY_S
    old, new = await before(store, start), await now(store, start)
    if not old.same_as(new):
        raise SystemExit(f"the figures differ: before {old}, now {new}")
    times: dict[str, list[float]] = {"before": [], "now": []}
    for _ in range(repeat):
        for name, run in (("before", before), ("now", now)):
            began = time.perf_counter()
            await run(store, start)
            times[name].append(time.perf_counter() - began)
    return statistics.median(times["before"]), statistics.median(times["now"]), new


async def on_sqlite(records: int, repeat: int) -> tuple[float, float, Totals]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        store = Store(await create_database(url))
        try:
            await fill(store, records)
            return await measure(store, repeat)
        finally:
            await store.close()


async def on_postgresql(records: int, repeat: int, url: str) -> tuple[float, float, Totals]:
    schema = f"bench_wallboard_{int(time.time())}"
    admin = create_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    args: dict[str, Any] = {"server_settings": {"search_path": schema}}
    try:
        store = Store(await create_database(url, connect_args=args))
        try:
            await fill(store, records)
            # as autovacuum would: statistics, and the visibility map an index-only scan needs
            vacuum = store.engine.execution_options(isolation_level="AUTOCOMMIT")
            async with vacuum.connect() as conn:
                await conn.execute(text("VACUUM ANALYZE call_records"))
            return await measure(store, repeat)
        finally:
            await store.close()
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


async def run(records: int, repeat: int, backends: list[str], pg_url: str) -> int:
    print(f"{records:,} records over 30 h, today = the last 24 h, median of {repeat} runs")
    print(f"{'backend':<12}{'before (ms)':>14}{'now (ms)':>12}{'before/now':>12}  today's calls")
    for backend in backends:
        try:
            if backend == "sqlite":
                old, new, totals = await on_sqlite(records, repeat)
            else:
                old, new, totals = await on_postgresql(records, repeat, pg_url)
        except OSError as error:  # PostgreSQL not running: say so, measure the rest
            print(f"{backend:<12}not reachable: {error}")
            continue
        counted = f"{totals.answered} answered, {totals.abandoned} abandoned"
        print(f"{backend:<12}{old * 1e3:>14.1f}{new * 1e3:>12.2f}{old / new:>12.1f}  {counted}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args(argv)
    return asyncio.run(run(args.records, args.repeat, args.backends, args.pg_url))


if __name__ == "__main__":
    sys.exit(main())
