"""Smoke test of bench/bench_api.py: a real `helpline serve` under a tiny load, on SQLite and
(when a server is reachable) PostgreSQL. Every figure must be there and positive, nothing may
fail; no timing assertions."""

from __future__ import annotations

import asyncio
import math

import pytest
from rich.console import Console

from bench_modules import import_bench

bench = import_bench("bench_api")

# 6 agents for 10 calls/s of 0.3 s: at most ~3 calls at once, so every call is offered at once
TINY = bench.Options(
    agents=6,
    answer_delay=0.05,
    connections=2,
    api_seconds=0.5,
    rate=10.0,
    duration=0.5,
    talk=0.3,
)
MEASURES = [
    "GET /v1/call-records/{id}, 2 conn.",
    "POST /v1/sandbox/calls, 2 conn.",
    "offer, event `at` (10/s)",
    "offer, received on ws (10/s)",
    "POST /v1/sandbox/calls (10/s)",
    "POST …/calls/{id}/hangup (10/s)",
]


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgresql" and not asyncio.run(bench.postgres_reachable(bench.POSTGRES_URL)):
        pytest.skip(f"PostgreSQL not reachable at {bench.POSTGRES_URL}")
    return name


def test_a_tiny_run_measures_every_figure(backend: str) -> None:
    console = Console(record=True, width=200)
    results = bench.run([backend], TINY, console)

    assert len(results) == 1
    result = results[0]
    assert result.errors == []
    assert bench.exit_status(results) == 0
    assert [r.measure for r in result.rows] == MEASURES
    for r in result.rows:
        assert r.backend == backend
        assert r.count > 0, r
        assert r.bad == 0, r
        for value in (r.rate, r.p50_ms, r.p99_ms, r.max_ms, r.load_cpu):
            assert _positive(value), r
        assert r.p50_ms <= r.p99_ms <= r.max_ms, r
        assert r.server_cpu is not None and _positive(r.server_cpu), r
    offers = [r for r in result.rows if r.measure.startswith(("offer", "POST /v1/sandbox/calls ("))]
    calls = round(TINY.rate * TINY.duration)
    assert [r.count for r in offers] == [calls, calls, calls]  # each call placed and offered once
    assert f"{calls} calls placed, {calls} offered, {calls} answered" in result.notes[0]

    bench.print_table(results, TINY, console)
    table = console.export_text()
    assert "goal: p99 under 50 ms" in table
    for measure in MEASURES:
        assert measure in table


def test_failed_requests_are_counted_by_status_and_make_the_run_fail() -> None:
    sample = bench.Sample()
    for status in (200, 201, 404, 409, 409):
        sample.add(status, 0.01)
    sample.failures = 1

    assert sample.bad == 4
    assert sample.describe_bad() == "4 bad; non-2xx 404: 1, 409: 2; 1 failed (no answer)"
    failed = bench.BackendResult("sqlite", errors=[f"sqlite: GET: {sample.describe_bad()}"])
    assert bench.exit_status([bench.BackendResult("sqlite"), failed]) == 1


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 .. 1, unsorted on purpose
    assert bench.percentile(values, 50) == 50.0
    assert bench.percentile(values, 99) == 99.0
    assert bench.percentile(values, 100) == 100.0
    assert bench.percentile([7.0], 99) == 7.0
    assert math.isnan(bench.percentile([], 50))
