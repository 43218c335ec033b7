"""The runner's side lines (events of the current instant, timers started in it) keep the
engine's events in exactly the order a single (time, serial) heap gives them."""

from __future__ import annotations

import heapq
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpline.config import load_center, parse_center
from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.model import Center
from helpline.core.plain import plain
from helpline.sim import runner
from helpline.sim.runner import Replication
from helpline.sim.simulate import parse_traffic

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class HeapOnly(Replication):
    """Every event through the heap, as the runner scheduled before the side lines."""

    def _push(self, at: float, kind: int, a: Any = None, b: Any = None) -> None:
        heapq.heappush(self.heap, (at, self._serial(), kind, a, b))

    def _start_timer(self, command: cmd.StartTimer) -> None:
        self._push(command.at, runner._TIMER, command.timer)


def engine_log(replication: Replication) -> list[tuple[str, Any, float, list[Any]]]:
    """Run it, keeping every event the engine is given, when, and the commands it gives."""
    log: list[tuple[str, Any, float, list[Any]]] = []

    def logged(event: ev.Event, now: float, out: list[cmd.Command]) -> None:
        log.append((type(event).__name__, plain(event), now, [plain(c) for c in out]))

    replication.observer = logged
    replication.run()
    return log


def demo_traffic(answer_delay: str, no_answer: float) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / "traffic.yaml").read_text())
    doc["duration"] = "2h"
    doc["agents"] = {"answer_delay": answer_delay, "no_answer_probability": no_answer}
    return doc


def mmc_traffic(patience: float | None) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "to": "q",
        "arrivals": {"poisson_per_hour": 6000},
        "handle_time": {"exponential_mean": 27.0},
    }
    if patience is not None:
        stream["patience"] = {"exponential_mean": patience}
    return {"seed": 3, "calls": 3000, "staffing": {"g": 50}, "streams": [stream]}


def one_queue() -> Center:
    return parse_center({"queues": [{"id": "q", "groups": ["g"]}], "groups": [{"id": "g"}]})


@pytest.mark.parametrize(
    ("center", "doc"),
    [
        (one_queue, mmc_traffic(None)),
        (one_queue, mmc_traffic(120.0)),
        # IVR keys, overflow, wrap-up with a time limit, a full queue, no-answer and retries,
        # with and without an answer delay (no delay: answers run in the instant of the offer)
        (lambda: load_center(EXAMPLES / "center.yaml"), demo_traffic("0s", 0.3)),
        (lambda: load_center(EXAMPLES / "center.yaml"), demo_traffic("3s", 0.05)),
    ],
    ids=["mmc", "mmc_patience", "demo_no_delay", "demo_delay"],
)
def test_side_lines_give_the_engine_the_heaps_order(center: Any, doc: dict[str, Any]) -> None:
    traffic = parse_traffic(doc)
    fast = Replication(center(), traffic, seed=5, base=EXAMPLES)
    reference = HeapOnly(center(), traffic, seed=5, base=EXAMPLES)
    got, expected = engine_log(fast), engine_log(reference)
    assert len(got) > 1000
    assert got == expected
    assert fast.pending == 0 and reference.pending == 0


def test_ties_at_one_instant_keep_the_heaps_order(tmp_path: Path) -> None:
    # arrivals on whole seconds, several at once, and constant talk: hang-ups, arrivals and
    # the answers they lead to fall on the same instants, where earlier-scheduled heap events
    # must run before the instant's own (an agent freed at 5 s answers after the 5 s arrivals)
    times = [t for t in range(0, 600, 5) for _ in range(1 + t % 3)]
    (tmp_path / "arrivals.csv").write_text("\n".join(str(t) for t in times) + "\n")
    doc = {
        "seed": 2,
        "duration": "15m",
        "staffing": {"g": 2},
        "streams": [
            {
                "to": "q",
                "arrivals": {"csv": "arrivals.csv"},
                "handle_time": {"constant": "5s"},
                "patience": {"exponential_mean": "20s"},
            }
        ],
    }
    traffic = parse_traffic(doc)
    fast = Replication(one_queue(), traffic, seed=2, base=tmp_path)
    reference = HeapOnly(one_queue(), traffic, seed=2, base=tmp_path)
    got, expected = engine_log(fast), engine_log(reference)
    assert len(got) > 500
    assert got == expected


def test_a_timer_cancelled_in_its_instant_never_reaches_the_heap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # no answer delay: every offer timer is cancelled in the instant it started
    replication = Replication(one_queue(), parse_traffic(mmc_traffic(None)), seed=5, base=Path("."))
    timers_pushed = 0
    real_push = heapq.heappush

    def counting_push(heap: list[Any], entry: Any) -> None:
        nonlocal timers_pushed
        if len(entry) == 5 and entry[2] == runner._TIMER:  # the runner's (time, serial, kind, ...)
            timers_pushed += 1
        real_push(heap, entry)

    monkeypatch.setattr(heapq, "heappush", counting_push)
    replication.run()
    assert replication.arrived == 3000
    assert timers_pushed == 0
    # with an answer delay the offer timers are still live when the clock moves: they queue
    delayed = mmc_traffic(None) | {"agents": {"answer_delay": "2s"}}
    replication = Replication(one_queue(), parse_traffic(delayed), seed=5, base=Path("."))
    replication.run()
    assert timers_pushed == 3000


def test_a_csv_replayed_to_its_end_before_the_horizon_ends_the_run(tmp_path: Path) -> None:
    # the queue samples once went on for ever: arrivals stayed open until one came after the
    # horizon, and a replayed CSV has none; a SIGINT after 30 s makes such a hang a failure
    (tmp_path / "arrivals.csv").write_text("\n".join(str(t) for t in range(0, 300, 7)) + "\n")
    doc = {
        "seed": 1,
        "duration": "1h",
        "staffing": {"g": 2},
        "streams": [
            {"to": "q", "arrivals": {"csv": "arrivals.csv"}, "handle_time": {"constant": "5s"}}
        ],
    }
    replication = Replication(one_queue(), parse_traffic(doc), seed=1, base=tmp_path)
    previous = signal.signal(signal.SIGALRM, lambda *_: signal.raise_signal(signal.SIGINT))
    signal.alarm(30)
    try:
        collector = replication.run()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert not replication.interrupted
    assert replication.arrived == 43
    assert collector.queue("q").answered == 43
    assert replication.pending == 0
