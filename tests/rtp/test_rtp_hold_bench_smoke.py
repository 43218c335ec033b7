"""bench/bench_hold.py at a tiny size (no timing is asserted: benches print figures), but the
endpoints and the anchor must each send every packet that fell due, 50 per leg per second."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_hold.py"


def test_bench_hold_runs_and_every_leg_sends_its_packets() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--legs", "20", "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = re.findall(r"^\W*20\W+(sendto|endpoint)\W+([\d,]+)\W+([\d,]+)\W", done.stdout, re.M)
    assert [sender for sender, _, _ in rows] == ["sendto", "endpoint"], done.stdout
    for _, sent, due in rows:
        assert int(due.replace(",", "")) == 1000
        assert int(sent.replace(",", "")) >= 900, done.stdout  # within a tick or two of due
    assert re.search(r"ratio\W+x\d+\.\d\d", done.stdout), done.stdout
