"""bench/bench_rtp.py at a tiny size, on uvloop (no timing is asserted: benches print figures,
but every packet the generator sent must come back through the relay and the echo)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_rtp.py"


def test_bench_rtp_runs_and_loses_nothing_at_20_legs() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--legs", "20", "--seconds", "0.5"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    row = r"^(echo|relay)\s+20\s+[\d,]+\s+([\d,]+)\s+\d+%\s+([\d.]+)%"
    rows = re.findall(row, done.stdout, re.M)
    assert [mode for mode, _, _ in rows] == ["echo", "relay"], done.stdout
    for _, pps, loss in rows:
        assert int(pps.replace(",", "")) > 0 and float(loss) == 0.0, done.stdout
