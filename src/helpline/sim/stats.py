"""Streaming statistics of a simulation run: constant memory, whatever the number of callers.

Figures are taken over callers who arrive inside the measured window (after the warm-up).
Waits go into a fine histogram (0.1 s bins up to an hour, exact beyond) for percentiles;
occupancy is agents' busy time (talk, hold, wrap-up) clipped to the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from helpline.core.records import CallRecord, Result

BIN_S: Final = 0.1
_ANSWERED, _ABANDONED = Result.ANSWERED, Result.ABANDONED_IN_QUEUE
BINS: Final = 36_000  # 0.1 s bins up to one hour


@dataclass(slots=True)
class WaitHistogram:
    counts: list[int] = field(default_factory=lambda: [0] * BINS)
    beyond: list[float] = field(default_factory=list)  # waits over an hour, kept exactly
    n: int = 0

    def add(self, wait: float) -> None:
        self.n += 1
        index = int(wait / BIN_S)
        if index < BINS:
            self.counts[index] += 1
        else:
            self.beyond.append(wait)

    def quantile(self, q: float) -> float:
        if self.n == 0:
            return 0.0
        rank = q * self.n
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank and count:
                return (index + 1) * BIN_S  # upper edge: never understates a wait
        ordered = sorted(self.beyond)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(rank - seen) - 1))]

    def coarse(self, width_s: float, limit_s: float) -> list[int]:
        """Counts in bins of `width_s` up to `limit_s` (the last bin takes the rest)."""
        step = max(1, round(width_s / BIN_S))
        top = max(1, round(limit_s / width_s))
        out = [0] * (top + 1)
        for index, count in enumerate(self.counts):
            if count:
                out[min(top, index // step)] += count
        out[top] += len(self.beyond)
        return out


@dataclass(slots=True)
class Interval:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    within: int = 0
    wait_sum: float = 0.0
    queue_sum: float = 0.0  # sum of sampled queue lengths (samples are evenly spaced)
    queue_samples: int = 0
    queue_max: int = 0


@dataclass(slots=True)
class EwtErrors:
    """Squared errors of wait predictions against the waits callers then had."""

    n: int = 0
    wait_sum: float = 0.0
    sq: dict[str, float] = field(default_factory=lambda: {"ql": 0.0, "hol": 0.0, "les": 0.0})

    def add(self, actual: float, predicted: dict[str, float]) -> None:
        self.n += 1
        self.wait_sum += actual
        for name, value in predicted.items():
            self.sq[name] += (actual - value) ** 2

    def rase(self) -> dict[str, float | None]:
        """Mean squared error over squared mean wait (Ibrahim & Whitt's RASE measure)."""
        if self.n == 0 or self.wait_sum == 0:
            return dict.fromkeys(self.sq)
        mean = self.wait_sum / self.n
        return {name: (total / self.n) / (mean * mean) for name, total in self.sq.items()}


@dataclass(slots=True)
class QueueStats:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    other: int = 0  # ended otherwise: fallbacks, failures
    within: int = 0  # answered within the service level threshold
    waited: int = 0  # found no free agent on joining the queue
    wait_answered_sum: float = 0.0
    wait_all_sum: float = 0.0
    max_wait: float = 0.0
    talk_sum: float = 0.0
    waits: WaitHistogram = field(default_factory=WaitHistogram)
    intervals: dict[int, Interval] = field(default_factory=dict)
    ewt: EwtErrors = field(default_factory=EwtErrors)

    def interval(self, index: int) -> Interval:
        found = self.intervals.get(index)
        if found is None:
            found = self.intervals[index] = Interval()
        return found


class Collector:
    """Folds call records and samples into per-queue and per-group figures."""

    def __init__(self, *, warmup: float, interval: float, threshold: float) -> None:
        self.warmup = warmup
        self.interval_s = interval
        self.threshold = threshold
        self.queues: dict[str, QueueStats] = {}
        self.group_busy: dict[str, float] = {}
        self.group_busy_by_interval: dict[str, dict[int, float]] = {}
        self.agent_groups: dict[str, tuple[str, ...]] = {}
        self.callers: list[dict[str, object]] | None = None
        self.horizon: float | None = None  # end of the measured window, set when arrivals stop

    def queue(self, queue_id: str) -> QueueStats:
        found = self.queues.get(queue_id)
        if found is None:
            found = self.queues[queue_id] = QueueStats()
        return found

    def measured(self, arrived_at: float) -> bool:
        return arrived_at >= self.warmup and (self.horizon is None or arrived_at < self.horizon)

    def record(self, record: CallRecord) -> None:
        # `measured`, `queue` and `interval` inlined: this runs once per simulated caller
        queue_id = record.queue_id
        created = record.created_at
        horizon = self.horizon
        if (
            queue_id is None
            or created < self.warmup
            or (horizon is not None and created >= horizon)
        ):
            if record.agent_id is not None:
                self._busy_legs(record)
            return
        stats = self.queues.get(queue_id)
        if stats is None:
            stats = self.queue(queue_id)
        index = int(created // self.interval_s)
        slot = stats.intervals.get(index)
        if slot is None:
            slot = stats.interval(index)
        stats.offered += 1
        slot.offered += 1
        wait = record.wait_s
        stats.wait_all_sum += wait
        stats.max_wait = max(stats.max_wait, wait)
        result = record.result
        if result is _ANSWERED:
            stats.answered += 1
            slot.answered += 1
            stats.wait_answered_sum += wait
            slot.wait_sum += wait
            stats.talk_sum += record.talk_s
            waits = stats.waits  # `waits.add(wait)`, inlined
            waits.n += 1
            bin_index = int(wait / BIN_S)
            if bin_index < BINS:
                waits.counts[bin_index] += 1
            else:
                waits.beyond.append(wait)
            if wait <= self.threshold:
                stats.within += 1
                slot.within += 1
        elif result is _ABANDONED:
            stats.abandoned += 1
            slot.abandoned += 1
            stats.waits.add(wait)
        else:
            stats.other += 1
        # P(wait): no agent was free when the caller joined (ring time alone is not a wait)
        joined = record.queued_at
        if joined is None:
            joined = created
        offered = record.offered_at
        if offered is None or offered - joined > 1e-9:
            stats.waited += 1
        if record.agent_id is not None:
            for leg in record.legs:  # `_busy_legs`, inlined
                if leg.agent_id is not None and leg.answered_at is not None and leg.ended_at:
                    self.busy(leg.agent_id, leg.answered_at, leg.ended_at)
        if self.callers is not None:
            self.callers.append(
                {
                    "call_id": record.call_id,
                    "queue": record.queue_id,
                    "arrived_at": record.created_at,
                    "wait_s": wait,
                    "talk_s": record.talk_s,
                    "result": record.result.value,
                    "agent": record.agent_id,
                }
            )

    def _busy_legs(self, record: CallRecord) -> None:
        for leg in record.legs:
            if leg.agent_id is not None and leg.answered_at is not None and leg.ended_at:
                self.busy(leg.agent_id, leg.answered_at, leg.ended_at)

    def busy(self, agent_id: str, start: float, end: float) -> None:
        """An agent was busy from `start` to `end`: count the part inside the window."""
        low = start if start > self.warmup else self.warmup
        horizon = self.horizon
        high = end if horizon is None or end < horizon else horizon
        if high <= low:
            return
        width = self.interval_s
        group_busy = self.group_busy
        for group in self.agent_groups.get(agent_id, ()):
            group_busy[group] = group_busy.get(group, 0.0) + (high - low)
            by_interval = self.group_busy_by_interval.get(group)
            if by_interval is None:
                by_interval = self.group_busy_by_interval[group] = {}
            t = low
            while t < high:
                index = int(t // width)
                edge = min(high, (index + 1) * width)
                by_interval[index] = by_interval.get(index, 0.0) + (edge - t)
                t = edge

    def sample_queue(self, queue_id: str, at: float, length: int) -> None:
        if at < self.warmup or (self.horizon is not None and at >= self.horizon):
            return
        slot = self.queue(queue_id).interval(int(at // self.interval_s))
        slot.queue_sum += length
        slot.queue_samples += 1
        slot.queue_max = max(slot.queue_max, length)
