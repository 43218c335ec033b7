"""Garbage collection on a clock, for a server (`helpline serve` turns it on).

CPython starts a young collection when container allocations outnumber deallocations by a
threshold. A SIP server keeps each call's transactions and dialogs 32 s after it ends, for
retransmissions (RFC 3261 17.2.2, Timers J and L), so in a steady state it frees old objects
about as fast as it makes new ones: that count stalls, the young generation grows for
seconds, and the collection that finally comes walks all of it. At 400 SIP calls/s one took
395 ms, and a caller hung up before the agent's phone was bridged (bench/README.md,
`bench_sip.py`). Collecting on a clock bounds what each collection walks: the young
generation every 100 ms, the middle one (a second of survivors) every tenth time.

The oldest generation holds the kept calls, a million objects at 400 calls/s, and a full
collection of it pauses the loop for half a second. It is what frees cycles that lived long
(the call paths leave none: they break theirs on close), so it runs as CPython decides (when
a quarter more objects have reached it than it held after the last one, gcmodule.c), but at
most every `full_every_s`. The startup heap is frozen out of it (`cli.freeze_startup_heap`).

`CollectionPacer` decides, with time as an input; `pace_collections` runs it.
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass

YOUNG_EVERY_S = 0.1
MIDDLE_EVERY = 10  # young collections per middle one: a second of survivors
FULL_EVERY_S = 300.0
# Automatic collection stays on as a safety net for a burst between ticks (a large API
# answer), set far enough out that the clock makes nearly every collection; never a full
# one: each middle collection counts toward the oldest generation's threshold (gcmodule.c),
# so any threshold a running server reaches would let a burst start the long pause anytime.
SAFETY_THRESHOLDS = (200_000, 10, 1_000_000_000)


@dataclass
class CollectionPacer:
    """Which generation to collect at each tick, CPython's policy on a clock."""

    started_at: float
    middle_every: int = MIDDLE_EVERY
    full_every_s: float = FULL_EVERY_S
    ticks: int = 0
    pending: int = 0  # objects that reached the oldest generation since the last full one
    long_lived: int = 0  # the oldest generation's size after the last full collection
    last_full_at: float | None = None

    def generation(self, now: float) -> int:
        """The generation to collect now (0, 1 or 2: a collection takes the younger too)."""
        self.ticks += 1
        if self.ticks % self.middle_every:
            return 0
        since = now - (self.started_at if self.last_full_at is None else self.last_full_at)
        if self.pending > self.long_lived // 4 and since >= self.full_every_s:
            return 2
        return 1

    def promoted(self, objects: int) -> None:
        """A middle collection moved about `objects` into the oldest generation."""
        self.pending += objects

    def full_collected(self, now: float, long_lived: int) -> None:
        self.pending, self.long_lived, self.last_full_at = 0, long_lived, now


async def pace_collections(pacer: CollectionPacer, *, every_s: float = YOUNG_EVERY_S) -> None:
    """Run `pacer` until cancelled; automatic collection is a safety net meanwhile, and back
    to its thresholds after."""
    loop = asyncio.get_running_loop()
    thresholds = gc.get_threshold()
    gc.set_threshold(*SAFETY_THRESHOLDS)
    try:
        while True:
            await asyncio.sleep(every_s)
            generation = pacer.generation(loop.time())
            if generation == 1:
                # what the middle collection will move on, less what it frees: a few
                # thousand references listed, against the collection's walk of them
                before = len(gc.get_objects(0)) + len(gc.get_objects(1))
                freed = gc.collect(1)
                pacer.promoted(max(0, before - freed))
            elif generation == 2:
                gc.collect(2)
                pacer.full_collected(loop.time(), len(gc.get_objects(2)))
            else:
                gc.collect(0)
    finally:
        gc.set_threshold(*thresholds)
