"""Smoke test of bench/bench_webrtc.py with media workers: one bridged call for two seconds
through a server whose media run in two worker processes, CPU summed over all three."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
# the bench's server and anchor run in spawned children, which import the bench by module
# name, and spawn hands them the parent's sys.path
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import bench_webrtc  # noqa: E402


async def test_a_call_through_media_workers_is_measured_over_every_process() -> None:
    rows = await bench_webrtc.measure([1], seconds=2.0, with_anchor=False, media_workers=2)

    [(step, anchor)] = rows
    assert anchor is None
    assert step.workers == 2 and step.legs == 2
    assert step.processes >= 3  # the server and its two workers were measured
    assert math.isfinite(step.per_leg_pct) and step.per_leg_pct > 0
    # both receiving clients got the other's tone through the workers' relay
    assert step.received > 0.5 * step.expected
    assert 0.0 <= step.loss < 0.5
    assert bench_webrtc.table(rows).row_count == 1


def test_the_cpu_of_a_process_tree_counts_its_children() -> None:
    here = bench_webrtc._processes(1)  # pid 1 and everything under it: this test too
    assert 1 in here and os.getpid() in here
