"""`helpline serve` freezes its startup heap (cli.freeze_startup_heap): what importing and
building the app made is out of the collector's reach, so a full collection walks only what
calls made. Run in a child process: frozen objects are never freed, which a test process
running hundreds of other tests must not inherit."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import gc, json
from helpline.api.app import create_app
from helpline.cli import freeze_startup_heap
from helpline.settings import Settings

app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
gc.collect()
before = len(gc.get_objects())
freeze_startup_heap()
after = len(gc.get_objects())
garbage = [[]]
garbage[0].append(garbage)  # a cycle made after the freeze
del garbage
print(json.dumps({"before": before, "after": after, "frozen": gc.get_freeze_count(),
                  "collected": gc.collect()}))
"""


def test_freezing_takes_the_startup_heap_out_of_full_collections() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=True
    )
    counts = json.loads(done.stdout.splitlines()[-1])
    # the app's objects are frozen: a full collection no longer walks them
    assert counts["frozen"] >= counts["before"] * 0.9
    assert counts["after"] < counts["before"] * 0.05
    # and the collector still frees what is made afterwards (the two lists of the cycle)
    assert counts["collected"] >= 2
