"""Smoke test of bench/bench_simulate.py: the three tools run the same model at a tiny size and
agree with queueing theory on P(wait). No timing assertions."""

from __future__ import annotations

import math

import pytest

from bench_modules import import_bench

bench = import_bench("bench_simulate")

CALLERS = 20_000


@pytest.mark.parametrize("patience", [None, bench.PATIENCE_S], ids=["M/M/c", "M/M/c+M"])
def test_each_tool_runs_the_model_and_its_p_wait_is_the_theorys(patience: float | None) -> None:
    theory = bench.theory_p_wait(patience)
    assert 0.25 < theory < 0.4  # 45 Erlangs on 50 agents: a good third of callers wait
    # the pure-Python run is the same engine, in a process that runs its sources
    for run in (bench.helpline_run, bench.helpline_pure_run, bench.simpy_run, bench.ciw_run):
        # three seeds: one run's P(wait) strays by about 0.05 at this size (its standard
        # deviation over seeds); the mean of three, by about 0.03
        rates, waits = zip(*(run(CALLERS, patience, seed) for seed in (1, 2, 3)), strict=True)
        assert all(math.isfinite(rate) and rate > 0 for rate in rates)
        assert sum(waits) / 3 == pytest.approx(theory, abs=0.08), run.__name__
