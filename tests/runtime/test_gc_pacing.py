"""Garbage collection on a clock (runtime/gc_pacing.py): which generation each tick collects,
and the pacer running on a loop."""

from __future__ import annotations

import asyncio
import gc
import weakref

from helpline.runtime.gc_pacing import SAFETY_THRESHOLDS, CollectionPacer, pace_collections


def test_young_every_tick_middle_every_tenth() -> None:
    pacer = CollectionPacer(started_at=0.0)
    generations = [pacer.generation(now=tick * 0.1) for tick in range(1, 31)]
    assert [tick for tick, g in enumerate(generations, 1) if g == 1] == [10, 20, 30]
    assert set(generations) == {0, 1}  # nothing reached the oldest generation: no full one


def test_full_collection_waits_for_the_interval_and_a_quarter_more() -> None:
    pacer = CollectionPacer(started_at=0.0, middle_every=1, full_every_s=300.0)
    pacer.full_collected(now=0.0, long_lived=1_000_000)
    pacer.promoted(300_000)  # more than a quarter of what the last full one left
    assert pacer.generation(now=299.0) == 1  # but not five minutes on
    assert pacer.generation(now=300.0) == 2
    pacer.full_collected(now=300.0, long_lived=1_100_000)
    pacer.promoted(200_000)  # less than a quarter of 1.1 million
    assert pacer.generation(now=900.0) == 1
    pacer.promoted(100_000)
    assert pacer.generation(now=900.1) == 2


def test_first_full_collection_counts_from_the_start() -> None:
    pacer = CollectionPacer(started_at=50.0, middle_every=1, full_every_s=300.0)
    pacer.promoted(1)
    assert pacer.generation(now=349.0) == 1
    assert pacer.generation(now=350.0) == 2


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


async def test_the_running_pacer_frees_cycles_and_restores_thresholds() -> None:
    before = gc.get_threshold()
    pacer = CollectionPacer(
        started_at=asyncio.get_running_loop().time(), middle_every=2, full_every_s=0.0
    )
    task = asyncio.create_task(pace_collections(pacer, every_s=0.01))
    await asyncio.sleep(0)
    assert gc.get_threshold() == SAFETY_THRESHOLDS
    node = _Node()
    gone = weakref.ref(node)
    del node
    for _ in range(200):  # the young collection at the next tick frees it
        if gone() is None:
            break
        await asyncio.sleep(0.01)
    assert gone() is None
    for _ in range(200):  # promoted objects are counted, then a full collection runs
        if pacer.last_full_at is not None:
            break
        await asyncio.sleep(0.01)
    assert pacer.last_full_at is not None and pacer.long_lived > 0 and pacer.pending == 0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert gc.get_threshold() == before
