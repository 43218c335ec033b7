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


def test_a_rate_held_for_several_steps_passes_only_if_every_one_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--steps-per-rate`: a server that copes with a fresh step at a rate and not with the
    second (past calls' state builds up for 32 s) does not sustain that rate."""
    sip_load = import_bench("sip_load")
    ran: list[float] = []

    def run(rate: float) -> object:
        ran.append(rate)
        failed = 1 if rate == 20.0 and ran.count(20.0) == 2 else 0  # the second step fails
        return sip_load.Step(rate, 100, 100 - failed, failed, 0, 1.0, 0.5)

    best, steps = sip_load.ramp("held", run, 10.0, 2.0, 80.0, steps_per_rate=3)
    assert best == 10.0
    assert ran == [10.0, 10.0, 10.0, 20.0, 20.0]  # stopped at the first failure
    assert len(steps) == 5
    one_each, _ = sip_load.ramp("fresh", run, 20.0, 2.0, 20.0)
    assert one_each == 20.0  # a single (third) step at 20 passes
    capsys.readouterr()
