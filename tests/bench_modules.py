"""The benchmarks under bench/ as modules, for their smoke tests (tests/bench, tests/sipnet).
`pyproject.toml` puts `tests/` on the import path."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


def import_bench(name: str) -> ModuleType:
    """bench/<name>.py, imported by name with bench/ on `sys.path`, as `python bench/<name>.py`
    has it: its helpers (sip_load, bench_webrtc) import by name, and its dataclasses look their
    module up in `sys.modules` while the class is built."""
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    return importlib.import_module(name)


def run_bench(name: str, *args: str, timeout: float = 120.0) -> str:
    """`python bench/<name>.py *args` in a process of its own (a bench that runs its own event
    loop, or a child process, is run as a user runs it); its output, once it exits 0."""
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return done.stdout
