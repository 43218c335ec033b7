"""Smoke test of bench/bench_sip.py: a real `helpline serve` process and Sippy B2BUA, sipp
as the carrier and as the agents' phone, one tiny step each. Nothing may fail; no timing is
asserted."""

from __future__ import annotations

import pytest

from bench_modules import import_bench


def test_the_sip_benchmark_runs_a_step_through_both_b2buas_with_no_failed_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = import_bench("bench_sip")
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "Helpline: 5 agents registered" in out
    assert "Sippy B2BUA" in out
    helpline, sippy = [line.split() for line in out.splitlines() if line.strip().startswith("3.0")]
    # offered, achieved, calls, failed, retransmissions, CPU share, CPU ms/call, answered, drain
    offered, _, calls, failed, _, _, _, answered, _ = helpline
    assert (offered, calls, failed, answered) == ("3.0", "6", "0", "6")
    offered, _, calls, failed, _, _, _, answered, _ = sippy
    assert (offered, calls, failed, answered) == ("3.0", "6", "0", "-")
    assert "Helpline: highest rate with zero failed calls: 3 calls/s" in out
    assert "Sippy B2BUA: highest rate with zero failed calls: 3 calls/s" in out
    assert "Helpline / Sippy B2BUA: 1.00" in out
