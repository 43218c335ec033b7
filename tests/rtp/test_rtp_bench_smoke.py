"""bench/bench_rtp.py at a tiny size, on uvloop (no timing is asserted: benches print figures,
but every packet the generator sent must come back through the relay and the echo)."""

from __future__ import annotations

import re

from bench_modules import run_bench


def test_bench_rtp_runs_and_loses_nothing_at_20_legs() -> None:
    stdout = run_bench("bench_rtp", "--legs", "20", "--seconds", "0.5", timeout=60)
    row = r"^(echo|relay)\s+20\s+[\d,]+\s+([\d,]+)\s+\d+%\s+([\d.]+)%"
    rows = re.findall(row, stdout, re.M)
    assert [mode for mode, _, _ in rows] == ["echo", "relay"], stdout
    for _, pps, loss in rows:
        assert int(pps.replace(",", "")) > 0 and float(loss) == 0.0, stdout
