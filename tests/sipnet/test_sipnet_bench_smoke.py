"""Smoke test of bench/bench_sip.py: a real `helpline serve` process and Sippy B2BUA, sipp
as the carrier and as the agents' phone, one tiny step each. Nothing may fail; no timing is
asserted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def _load_bench() -> ModuleType:
    sys.path.insert(0, str(BENCH_DIR))  # as `python bench/bench_sip.py` has it: its helpers
    spec = importlib.util.spec_from_file_location("bench_sip", BENCH_DIR / "bench_sip.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_sip"] = module
    spec.loader.exec_module(module)
    return module


def test_the_sip_benchmark_runs_a_step_through_both_b2buas_with_no_failed_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _load_bench()
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "Helpline: 5 agents registered" in out
    assert "Sippy B2BUA" in out
    helpline, sippy = [line.split() for line in out.splitlines() if line.strip().startswith("3.0")]
    offered, _, calls, failed, _, _, answered, _ = helpline
    assert (offered, calls, failed, answered) == ("3.0", "6", "0", "6")
    offered, _, calls, failed, _, _, answered, _ = sippy
    assert (offered, calls, failed, answered) == ("3.0", "6", "0", "-")
    assert "Helpline: highest rate with zero failed calls: 3 calls/s" in out
    assert "Sippy B2BUA: highest rate with zero failed calls: 3 calls/s" in out
    assert "Helpline / Sippy B2BUA: 1.00" in out
