"""Smoke test of bench/bench_wallboard.py at a tiny size, on SQLite and (when a server is
reachable) PostgreSQL: both ways of counting agree and both figures are printed. No timing
assertions."""

from __future__ import annotations

import asyncio

import pytest

from bench_modules import import_bench
from pg_backend import PG_URL, pg_reachable

bench = import_bench("bench_wallboard")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_bench_counts_the_same_both_ways_and_prints_both_times(
    backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if backend == "postgresql":
        reason = asyncio.run(pg_reachable(PG_URL))
        if reason is not None:
            pytest.skip(reason)
    # a mismatch between the two ways of counting exits (SystemExit) instead of printing
    assert bench.main(["--records", "500", "--repeat", "1", "--backends", backend]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith(backend))
    before, now, ratio = (float(cell) for cell in line.split()[1:4])
    assert before > 0 and now > 0 and ratio > 0
    assert "answered" in line and "not reachable" not in line
