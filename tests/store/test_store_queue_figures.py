"""The wallboard's day figures as one aggregate query (`records.queue_figures`), on SQLite and
PostgreSQL: the counts equal what is worked out by hand from a set of records with every edge
the definitions have (yesterday, the IVR, no queue, the threshold itself, other tenants)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from helpline.core.records import CallRecord, Result
from helpline.store import Store
from helpline.store.records import QueueFigures

pytestmark = pytest.mark.asyncio

DAY_START = 1_700_000_000.0  # the client's midnight
THRESHOLD_S = 20.0
Make = Callable[..., CallRecord]


def _call(record: Make, call_id: str, ended_at: float, **changes: Any) -> CallRecord:
    return record(call_id, ended_at, **changes)


async def _write(store: Store, tenant_id: str, *records: CallRecord) -> None:
    async with store.transaction() as tx:
        for one in records:
            await tx.records.write_record(tenant_id, one)


async def test_today_per_queue_equals_the_hand_count(
    store: Store, tenants: tuple[str, str], record: Make
) -> None:
    t1, t2 = tenants
    today = DAY_START + 3600
    answered, abandoned = Result.ANSWERED, Result.ABANDONED_IN_QUEUE
    await _write(
        store,
        t1,
        # q1: answered in 5 s, at exactly 20 s (within: <=), in 20.5 s (not), abandoned once
        _call(record, "q1-fast", today, queue_id="q1", result=answered, wait_s=5.0),
        _call(record, "q1-edge", today + 1, queue_id="q1", result=answered, wait_s=20.0),
        _call(record, "q1-slow", today + 2, queue_id="q1", result=answered, wait_s=20.5),
        _call(record, "q1-gone", today + 3, queue_id="q1", result=abandoned, wait_s=50.0),
        # q2: only abandoned in the queue: offered 1, answered 0
        _call(record, "q2-gone", today + 4, queue_id="q2", result=abandoned, wait_s=7.0),
        # q1 at the day's first instant counts; one just before it (yesterday) does not
        _call(record, "q1-midnight", DAY_START, queue_id="q1", result=answered, wait_s=1.0),
        _call(record, "q1-yesterday", DAY_START - 0.001, queue_id="q1", result=answered),
        # never counted: hung up in the IVR, no queue at all, queued but with other results
        _call(record, "ivr", today, queue_id=None, result=Result.ABANDONED_IN_IVR, wait_s=0.0),
        _call(record, "no-queue", today, queue_id=None, result=answered, wait_s=3.0),
        _call(record, "vm", today, queue_id="q1", result=Result.VOICEMAIL, wait_s=90.0),
        _call(record, "no-agent", today, queue_id="q2", result=Result.NO_AGENT, wait_s=9.0),
        _call(record, "failed", today, queue_id="q2", result=Result.FAILED, wait_s=4.0),
    )
    # another tenant's calls of a queue with the same id are its own
    await _write(store, t2, _call(record, "other", today, queue_id="q1", result=answered))

    found = await store.records.queue_figures(t1, start=DAY_START, threshold_s=THRESHOLD_S)

    assert found == [
        QueueFigures(
            queue_id="q1",
            answered=4,  # fast, edge, slow, midnight
            abandoned=1,
            answered_in_threshold=3,  # fast (5), edge (20), midnight (1)
            wait_s_total=5.0 + 20.0 + 20.5 + 1.0,
        ),
        QueueFigures(
            queue_id="q2", answered=0, abandoned=1, answered_in_threshold=0, wait_s_total=0.0
        ),
    ]
    assert [q.offered for q in found] == [5, 1]

    # [start, end): a call ending at `end` belongs to the next span
    bounded = await store.records.queue_figures(
        t1, start=DAY_START, end=today + 2, threshold_s=THRESHOLD_S
    )
    assert [(q.queue_id, q.answered, q.abandoned) for q in bounded] == [("q1", 3, 0)]


async def test_a_queue_threshold_overrides_the_default_and_an_empty_day_is_empty(
    store: Store, tenants: tuple[str, str], record: Make
) -> None:
    t1, _ = tenants
    at = DAY_START + 60
    await _write(
        store,
        t1,
        _call(record, "a", at, queue_id="q1", result=Result.ANSWERED, wait_s=25.0),
        _call(record, "b", at, queue_id="q2", result=Result.ANSWERED, wait_s=25.0),
        _call(record, "c", at, queue_id="q2", result=Result.ANSWERED, wait_s=35.0),
    )
    found = await store.records.queue_figures(
        t1, start=DAY_START, threshold_s=THRESHOLD_S, queue_thresholds={"q2": 30.0}
    )
    assert [(q.queue_id, q.answered_in_threshold) for q in found] == [("q1", 0), ("q2", 1)]

    assert await store.records.queue_figures(t1, start=at + 1, threshold_s=THRESHOLD_S) == []
