"""Smoke test of bench/bench_bridge.py: one SIP <-> browser call for two seconds, and its
browser <-> browser anchor, on a real server process.

No timing assertions: the bench still runs end to end (SIP caller from the trunk, softphone,
answer, media both ways) and what it reports is made of real measurements.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
# a plain import: the bench's spawned children import it by name, with the parent's sys.path
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import bench_bridge  # noqa: E402


async def test_one_bridged_sip_call_is_measured_with_its_anchor() -> None:
    rows = await bench_bridge.measure([1], seconds=2.0)

    assert len(rows) == 1
    for measured in rows[0]:
        assert measured.calls == 1
        assert measured.seconds >= 2.0
        assert math.isfinite(measured.per_call_pct) and measured.per_call_pct > 0
        # both receiving sides got sound: a call with none is a broken bridge, not noise
        assert 0.0 <= measured.loss < 0.5
    assert bench_bridge.table(rows).row_count == 1
