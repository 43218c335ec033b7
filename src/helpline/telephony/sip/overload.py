"""Shedding new calls while the server is behind (issue 7: "no stuck calls").

Past its capacity a B2BUA that takes every INVITE falls further behind with each one: its
answers come late, callers and phones retransmit, the retransmissions cost more work, and
the calls it had taken fail with the new ones. bench/bench_sip.py showed it: at 410 calls/s
every call went through; at 443 the server answered 1,032 of 3,546 calls, with 12,281
retransmissions, a congestion collapse. A carrier handles a 503 by sending the call to its
next route (RFC 3261 21.5.4; RFC 7339 makes a protocol of the same idea), so refusing what
cannot be served keeps the calls already taken, and the ones that fit, working.

The gauge is the event loop's lateness: a timer due every `period_s` fires late by as much
as the loop is behind on everything else (datagrams, the engine's events, the writer),
averaged over about `window_s` (an exponential moving average), so that one pause (a
garbage collection, a large commit) sheds nothing: a first version that shed on one late
tick refused a second of calls at 230 calls/s, far below capacity. Once the average passes
`max_lag_s`, new calls (initial INVITEs from trunks) are refused with 503 and a Retry-After
for `hold_s`; calls in progress, their re-INVITEs, BYEs and ACKs, go on. The decision is
`shed_until`, a function of the averaged lateness and the time; `LoadGauge` keeps the timer
and the average.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

log = logging.getLogger("helpline.sip")


@dataclass(frozen=True, slots=True)
class OverloadPolicy:
    max_lag_s: float = 0.2  # 0: never shed
    period_s: float = 0.02
    hold_s: float = 1.0  # how long new calls are refused once the average is too late
    window_s: float = 0.5  # the lateness is averaged over about this long

    @property
    def weight(self) -> float:
        """Each tick's share of the average (a window of `window_s` at one tick a period)."""
        return min(1.0, self.period_s / self.window_s)

    @property
    def retry_after_s(self) -> int:
        """The Retry-After of the 503: whole seconds, at least one (RFC 3261 20.33)."""
        return max(1, round(self.hold_s))


def shed_until(policy: OverloadPolicy, late_s: float, now: float, until: float) -> float:
    """Until when new calls are refused, the average lateness being `late_s` at `now`."""
    if policy.max_lag_s > 0 and late_s > policy.max_lag_s:
        return max(until, now + policy.hold_s)
    return until


class LoadGauge:
    """The loop's lateness, sampled every `period_s`; `shedding` says whether to refuse."""

    def __init__(self, policy: OverloadPolicy) -> None:
        self.policy = policy
        self.until = 0.0  # loop time until which new calls are refused
        self.max_late_s = 0.0  # the latest tick seen (for logs and tests)
        self.average_s = 0.0  # the lateness, averaged over about `window_s`
        self.refused = 0  # calls refused so far
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        if self.policy.max_lag_s <= 0 or self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        self._due = loop.time() + self.policy.period_s
        self._handle = loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        late = now - self._due
        self.max_late_s = max(self.max_late_s, late)
        self.average_s += (late - self.average_s) * self.policy.weight
        was = self.until
        self.until = shed_until(self.policy, self.average_s, now, self.until)
        if self.until > was and was <= now:
            behind = self.average_s * 1000
            log.warning("SIP: %.0f ms behind: refusing new calls (503) for now", behind)
        self._due = now + self.policy.period_s
        self._handle = loop.call_at(self._due, self._tick)

    def shedding(self) -> bool:
        """Whether a new call is to be refused now (503)."""
        if self.until == 0.0:
            return False
        return asyncio.get_running_loop().time() < self.until
