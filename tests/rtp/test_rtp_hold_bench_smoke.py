"""bench/bench_hold.py at a tiny size (no timing is asserted: benches print figures), but the
endpoints and the anchor must each send every packet that fell due, 50 per leg per second."""

from __future__ import annotations

import re

from bench_modules import run_bench


def test_bench_hold_runs_and_every_leg_sends_its_packets() -> None:
    stdout = run_bench("bench_hold", "--legs", "20", "--seconds", "1", timeout=120)
    rows = re.findall(r"^\W*20\W+(sendto|endpoint)\W+([\d,]+)\W+([\d,]+)\W", stdout, re.M)
    assert [sender for sender, _, _ in rows] == ["sendto", "endpoint"], stdout
    for _, sent, due in rows:
        assert int(due.replace(",", "")) == 1000
        assert int(sent.replace(",", "")) >= 900, stdout  # within a tick or two of due
    assert re.search(r"ratio\W+x\d+\.\d\d", stdout), stdout
