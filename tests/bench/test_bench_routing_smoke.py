"""Smoke test of bench/bench_routing.py: it still runs, at a tiny size. No timing assertions."""

from __future__ import annotations

import math

import pytest

from bench_modules import import_bench
from helpline.core.engine import EngineOptions

bench = import_bench("bench_routing")


def _positive_finite(value: float) -> bool:
    return math.isfinite(value) and value > 0


@pytest.mark.parametrize(
    ("options", "busy_fraction"),
    [
        (EngineOptions(publish_states=False, trace=False), 0.0),
        (EngineOptions(), 0.0),
        (EngineOptions(publish_states=False, trace=False), 0.9),
        (EngineOptions(), 0.9),
    ],
    ids=["no-trace-idle", "trace-idle", "no-trace-busy", "trace-busy"],
)
def test_measure_routes_every_call_at_a_positive_finite_cost(
    options: EngineOptions, busy_fraction: float
) -> None:
    # the warm-up cycles check each call is offered to a pool agent, answered, recorded once,
    # and traced exactly when the options ask for it; they raise otherwise
    result = bench.measure(
        50, options=options, busy_fraction=busy_fraction, decisions=30, repeat=2, warmup=10
    )
    assert _positive_finite(result.us_per_decision)
    assert result.agents == 50
    assert 0 < result.pool < 50  # the queue's skills leave some agents out of its pool
    assert result.idle == result.pool - round(result.pool * busy_fraction)


def test_run_gives_one_row_per_scenario_and_size() -> None:
    rows = bench.run((20, 50), decisions=10, repeat=1)

    assert [(row.scenario, row.agents) for row in rows] == [
        ("all idle", 20),
        ("all idle", 50),
        ("90% busy", 20),
        ("90% busy", 50),
    ]
    for row in rows:
        for value in (row.us_quick, row.us_default, row.ratio_quick, row.ratio_default):
            assert _positive_finite(value)
    assert [(row.ratio_quick, row.ratio_default) for row in rows if row.agents == 20] == [
        (1.0, 1.0),
        (1.0, 1.0),
    ]
    assert _positive_finite(bench.worst_ratio(rows))


def test_main_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    status = bench.main(["--sizes", "30", "20", "--decisions", "10", "--repeat", "1"])

    out = capsys.readouterr().out
    assert status == 0
    assert "µs/decision" in out
    assert "ratio vs 20" in out  # sizes are sorted: the smallest is the reference
    assert "largest ratio 30/20 agents" in out
