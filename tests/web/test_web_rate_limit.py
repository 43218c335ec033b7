"""The web caller's per-source token bucket, with time as an input (helpline.api.rate_limit)."""

from __future__ import annotations

import pytest

from helpline.api.rate_limit import RateLimit


def test_a_burst_of_the_allowance_then_one_call_per_refill_interval() -> None:
    limit = RateLimit(6)  # one token every 10 s
    assert [limit.take("a", 0.0) for _ in range(6)] == [None] * 6
    wait = limit.take("a", 0.0)
    assert wait == pytest.approx(10.0)
    assert limit.take("a", 5.0) == pytest.approx(5.0)  # half a token back: 5 s more
    assert limit.take("a", 10.0) is None
    assert limit.take("a", 10.0) is not None
    assert limit.take("b", 10.0) is None  # each source its own bucket


def test_a_quiet_source_refills_to_the_allowance_not_beyond() -> None:
    limit = RateLimit(2)
    assert limit.take("a", 0.0) is None
    assert limit.take("a", 0.0) is None
    assert limit.take("a", 3600.0) is None
    assert limit.take("a", 3600.0) is None
    assert limit.take("a", 3600.0) is not None


def test_zero_means_no_limit() -> None:
    limit = RateLimit(0)
    assert all(limit.take("a", 0.0) is None for _ in range(1000))


def test_memory_is_bounded_by_forgetting_full_buckets_first() -> None:
    limit = RateLimit(1, max_sources=3)
    assert limit.take("busy", 0.0) is None
    for source in ("x", "y"):
        assert limit.take(source, 0.0) is None
    # at t=30 s no bucket is full again: the oldest is dropped to make room (fail open)
    assert limit.take("z", 30.0) is None
    assert len(limit._buckets) <= 3
    # at t=120 s every earlier bucket is full again: they are forgotten, not kept
    assert limit.take("w", 120.0) is None
    assert set(limit._buckets) == {"w"}
