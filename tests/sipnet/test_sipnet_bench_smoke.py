"""Smoke test of bench/bench_sip.py: a real `helpline serve` process, sipp as the carrier and
as the agents' phone, one tiny step. Nothing may fail; no timing is asserted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH_PATH = Path(__file__).resolve().parents[2] / "bench" / "bench_sip.py"


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_sip", BENCH_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_sip"] = module
    spec.loader.exec_module(module)
    return module


def test_the_sip_benchmark_runs_a_step_with_no_failed_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _load_bench()
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "5 agents registered" in out
    (row,) = [line.split() for line in out.splitlines() if line.strip().startswith("3.0")]
    offered, _, calls, failed, answered, records, _ = row
    assert (offered, calls, failed, answered, records) == ("3.0", "6", "0", "6", "6")
    assert "highest rate with zero failed calls: 3 calls/s" in out
