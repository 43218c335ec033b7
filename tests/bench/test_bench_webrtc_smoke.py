"""Smoke test of bench/bench_webrtc.py: one bridged call for two seconds, and the anchor.

No timing assertions: it checks the bench still runs end to end (server child, signalling,
answer, media both ways) and that what it reports is made of real measurements.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
# a plain import (not a file loader): the bench's child processes are spawned and import it by
# name, and spawn hands them the parent's sys.path
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import bench_webrtc  # noqa: E402


async def test_one_bridged_call_is_measured_with_its_anchor() -> None:
    rows = await bench_webrtc.measure([1], seconds=2.0)

    assert len(rows) == 1
    step, anchor = rows[0]
    for measured in (step, anchor):
        assert measured.calls == 1
        assert measured.legs == 2
        assert measured.seconds >= 2.0
        assert math.isfinite(measured.per_leg_pct)
        assert measured.per_leg_pct > 0  # a leg that costs nothing was not measured
        # each of the two receiving clients got audio: some loss is tolerated on a busy
        # machine, none at all is not required, but a call with no sound is a broken bench
        assert measured.received > 0.5 * measured.expected
        assert 0.0 <= measured.loss < 0.5
    table = bench_webrtc.table(rows)
    assert table.row_count == 1
