"""`helpline simulate`: the center's configuration and a traffic forecast run through the
real routing engine on a virtual clock (docs/simulate.md); its options, its progress bar and
its JSON output."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

from helpline.config import load_center
from helpline.sim.render import print_results, print_staffing
from helpline.sim.report import render_report
from helpline.sim.simulate import find_staffing, load_traffic, parse_target, simulate

_SIMULATE_HELP = """\
Run the center's own configuration, with a traffic forecast, through the real routing engine on a
virtual clock, and print what callers and agents would get: service level, average speed of
answer, waits, abandonment, occupancy, and Erlang C/A beside the simulated figures where they
apply.

examples:
  helpline simulate examples/center.yaml examples/traffic.yaml
  helpline simulate center.yaml traffic.yaml --json > result.json
  helpline simulate center.yaml traffic.yaml --report report.html
  helpline simulate center.yaml traffic.yaml --find-staffing "service_level>=0.8"
  helpline simulate center.yaml traffic.yaml --find-staffing "support.asa_s<=30" --group tier1

The traffic file (YAML or JSON) has: seed, duration (8h) or calls (200000), warmup, replications,
service_level_threshold, interval, staffing ({group: agents}), streams (to, arrivals, handle_time,
patience, keys), agents (answer_delay, no_answer_probability). See docs/simulate.md.
"""


def _json_default(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else str(value)


def _clean(value: Any) -> Any:
    """NaN is not JSON: figures that do not exist become null."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


class _DelayedProgress:
    """A progress bar that appears only once the work has run for a couple of seconds."""

    def __init__(self, label: str, console: Console, delay: float = 2.0) -> None:
        self.label = label
        self.console = console
        self.started = time.monotonic()
        self.delay = delay
        self.bar: Progress | None = None
        self.task: Any = None

    def __call__(self, fraction: float) -> None:
        if self.bar is None:
            if time.monotonic() - self.started < self.delay or fraction >= 1.0:
                return
            self.bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=1.0)
        self.bar.update(self.task, completed=fraction)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _simulate(args: argparse.Namespace) -> int:
    center = load_center(args.center)
    traffic = load_traffic(args.traffic)
    updates: dict[str, Any] = {}
    if args.replications is not None:
        updates["replications"] = args.replications
    if args.seed is not None:
        updates["seed"] = args.seed
    if updates:
        traffic = traffic.model_copy(update=updates)
    err = Console(stderr=True)
    out = Console()
    progress = _DelayedProgress("simulating", err) if not args.quiet else None
    base = Path(args.traffic).resolve().parent
    try:
        if args.find_staffing:
            found = find_staffing(
                center,
                traffic,
                parse_target(args.find_staffing),
                group=args.group,
                base=base,
                progress=progress,
            )
            if progress is not None:
                progress.close()
            if args.json:
                print(json.dumps(_clean(found), indent=2, default=_json_default))
            else:
                print_staffing(found, out)
            return 0
        result = simulate(center, traffic, base=base, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    if args.report:
        Path(args.report).write_text(render_report(result), encoding="utf-8")
        err.print(f"report written to {args.report}")
    if args.json:
        print(json.dumps(_clean(result), indent=2, default=_json_default))
    else:
        print_results(result, out)
    return 130 if result.get("interrupted") else 0


def add_simulate_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """`helpline simulate`, added to the top-level `commands` (argparse's subparsers)."""
    sim = commands.add_parser(
        "simulate",
        help="what-if: run the center against a traffic forecast on a virtual clock",
        description=_SIMULATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sim.add_argument("center", help="the center document (YAML or JSON)")
    sim.add_argument("traffic", help="the traffic document (YAML or JSON)")
    sim.add_argument("--json", action="store_true", help="print the results as JSON")
    sim.add_argument("--report", metavar="FILE", help="write a self-contained HTML report")
    sim.add_argument(
        "--find-staffing",
        metavar="TARGET",
        help="search the fewest agents meeting TARGET, e.g. 'service_level>=0.8'",
    )
    sim.add_argument("--group", help="the staffing group to search over (--find-staffing)")
    sim.add_argument("--replications", type=int, help="override the traffic's replications")
    sim.add_argument("--seed", type=int, help="override the traffic's seed")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.set_defaults(run=_simulate)
