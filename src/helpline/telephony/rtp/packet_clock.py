"""One timer for the packets of every RTP endpoint with the same ptime, as a PBX's timing
source does (Asterisk's timing interface, FreeSWITCH's shared soft timer).

A leg terminated here sends a packet every ptime (20 ms) for as long as it is ours: a queued
caller hears music, a caller in the IVR a prompt or silence. Most of a contact center's
calls at a peak are such legs. With a task per leg each packet cost a task wake-up (a
future, a timer handle, a task step) on top of its own work; here one timer callback per
ptime ticks every leg in turn, so a packet costs its own work only (bench/bench_hold.py).

The schedule is absolute (start + n * ptime), so it does not drift. After a stall longer
than `MAX_CATCH_UP_S` the clock skips the lost ticks, and each leg's RTP timestamps move on
by that time (the gap is real: RFC 3550 5.1), rather than bursting out the packets it owes.
A leg that joins sends its first packet on the next tick, at most one ptime later.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger("helpline.rtp")

MAX_CATCH_UP_S = 0.2  # a longer stall is skipped, not caught up


class Ticking(Protocol):
    def tick(self) -> None:
        """Send this interval's packet (or, on hold, move the stream's clock on)."""

    def skip(self, ticks: int) -> None:
        """The clock stalled: move the stream on by `ticks` intervals without sending."""


# (id of the event loop, ptime in ms) -> its clock; a clock leaves this table when its last
# leg leaves, so a finished loop leaves nothing behind
_CLOCKS: dict[tuple[int, int], PacketClock] = {}


class PacketClock:
    """Ticks its members every `ptime_ms`, in the order they joined."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ptime_ms: int) -> None:
        self.loop = loop
        self.ptime_ms = ptime_ms
        self.interval = ptime_ms / 1000
        self.members: dict[Ticking, None] = {}  # a dict: ordered, O(1) removal
        self.ticks = 0
        self._due = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._ticking = False  # in `_run`: a leg joining now is ticked from the next one

    @classmethod
    def of(cls, ptime_ms: int) -> PacketClock:
        """The running loop's clock for `ptime_ms` packets."""
        loop = asyncio.get_running_loop()
        key = (id(loop), ptime_ms)
        clock = _CLOCKS.get(key)
        if clock is None or clock.loop is not loop:  # an id reused by a later loop
            clock = _CLOCKS[key] = cls(loop, ptime_ms)
        return clock

    def join(self, member: Ticking) -> None:
        self.members[member] = None
        if self._timer is None and not self._ticking:  # idle until now: the schedule starts
            self._due = self.loop.time()
            self._timer = self.loop.call_at(self._due, self._run)

    def leave(self, member: Ticking) -> None:
        self.members.pop(member, None)
        if self.members:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        key = (id(self.loop), self.ptime_ms)
        if _CLOCKS.get(key) is self:
            del _CLOCKS[key]

    def _run(self) -> None:
        self._timer = None
        self.ticks += 1
        members = self.members
        self._ticking = True
        try:
            for member in tuple(members):
                if member not in members:
                    continue  # left during this tick
                try:
                    member.tick()
                except Exception:  # one bad frame must not silence the other legs
                    log.exception("rtp: sending a packet for %r failed", member)
        finally:
            self._ticking = False
        if not members:
            return
        self._due += self.interval
        late = self.loop.time() - self._due
        if late > MAX_CATCH_UP_S:  # stalled: skip the lost time, keep timestamps real
            skipped = int(late / self.interval)
            for member in tuple(members):
                member.skip(skipped)
            self._due += skipped * self.interval
        self._timer = self.loop.call_at(self._due, self._run)
