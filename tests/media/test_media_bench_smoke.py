"""bench/bench_media.py runs at a tiny size (no timing is asserted: benches print figures)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_media.py"


def test_bench_media_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [str(BENCH), "--seconds", "3", "--repeat", "1"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(BENCH), run_name="__main__")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "DTMF detection" in out and "G.711" in out and "browser leg" in out
