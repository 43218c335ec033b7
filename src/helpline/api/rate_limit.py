"""A per-source rate limit for what anyone may open without credentials (the web caller).

A token bucket per source address: `per_minute` tokens, refilled evenly (one every
60/per_minute seconds), so a source may place a burst of `per_minute` calls and then one per
refill interval. Time is an input (`now`), so the arithmetic is tested without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_SOURCES = 10_000  # beyond this, sources whose buckets are full again are forgotten


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimit:
    def __init__(self, per_minute: int, *, max_sources: int = MAX_SOURCES) -> None:
        self.per_minute = per_minute  # 0: no limit
        self.max_sources = max_sources
        self._buckets: dict[str, _Bucket] = {}

    def take(self, source: str, now: float) -> float | None:
        """Spend one of `source`'s tokens: None if it had one, else seconds until it has."""
        if self.per_minute <= 0:
            return None
        rate = self.per_minute / 60.0  # tokens per second
        bucket = self._buckets.get(source)
        if bucket is None:
            self._forget_idle(now)
            bucket = self._buckets[source] = _Bucket(float(self.per_minute), now)
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / rate

    def _forget_idle(self, now: float) -> None:
        """Bound the memory a flood of distinct addresses can take: a full bucket is no state."""
        if len(self._buckets) < self.max_sources:
            return
        rate = self.per_minute / 60.0
        full = [
            source
            for source, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.at) * rate >= self.per_minute
        ]
        for source in full:
            del self._buckets[source]
        if len(self._buckets) >= self.max_sources:  # all busy: drop the oldest (fail open)
            oldest = min(self._buckets, key=lambda source: self._buckets[source].at)
            del self._buckets[oldest]
