"""Cost of one routing decision against the number of agents (issue 2, "Performance").

A routing decision must not scan all agents: the cost per decision at 10,000 agents is at
most twice the cost at 100. The center has one queue with required skills; the agents carry
a mix of skills and proficiencies, so the queue's pool is the agents who have the skill at
the required level (about 60 % of them). Every agent is online and AVAILABLE.

One measured decision is one cycle of three events, all on the engine's public API:

    CallArrived (to the queue's direct number) -> the engine picks an agent (OfferCall)
    OfferAnswered                              -> Bridge
    CallHungUp (customer)                      -> the agent is idle again (no wrap-up)

so every cycle routes one call to one agent, and the pool is back where it was. Each
configuration runs `decisions` cycles `repeat` times on its own engine (after a warm-up that
also checks the workload does what it claims) and reports the median time per cycle, with the
garbage collector off while timing (as `timeit` does); the runs of all configurations are
interleaved in slices so that load from elsewhere does not skew one ratio. Configurations:

- `EngineOptions(publish_states=False, trace=False)`: the decision alone, as the simulator runs;
- the defaults (live state changes published, a decision trace kept on every assignment);
- a busy center: 90 % of the pool on (unended) calls while the decisions happen, to show the
  cost does not depend on how many agents are idle.

Run: `python bench/bench_routing.py` (`--quick` for a short run, `--check` to exit 1 when a
10,000/100 ratio is over 2, `--profile` to print where the time of one configuration goes).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import math
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from helpline.core import commands as cmd
from helpline.core import events as ev
from helpline.core.engine import Engine, EngineOptions
from helpline.core.model import Agent, Center, Number, Queue, Strategy
from helpline.core.records import Result

QUEUE_ID = "billing"
NUMBER = "1800"
SKILL = "billing"
REQUIRED_LEVEL = 2
SIZES = (100, 1_000, 10_000)
GOAL_RATIO = 2.0
QUICK_OPTIONS = EngineOptions(publish_states=False, trace=False)
DEFAULT_OPTIONS = EngineOptions()


def agent_skills(index: int) -> dict[str, int]:
    """A deterministic mix: a quarter lack the skill, a fifth of the rest have it too low."""
    if index % 4 == 3:
        return {"sales": 1 + index % 3}
    skills = {SKILL: 1 + index % 5}
    if index % 3 == 0:
        skills["sales"] = 2
    return skills


def build_center(agents: int, strategy: Strategy = Strategy.LONGEST_IDLE) -> Center:
    """One skills-only queue on a direct number, and `agents` agents with mixed skills."""
    return Center(
        numbers={NUMBER: Number(number=NUMBER, queue=QUEUE_ID)},
        queues={
            QUEUE_ID: Queue(id=QUEUE_ID, strategy=strategy, required_skills={SKILL: REQUIRED_LEVEL})
        },
        agents={f"a{i:05d}": Agent(id=f"a{i:05d}", skills=agent_skills(i)) for i in range(agents)},
    )


def _offered_agent(out: list[cmd.Command]) -> str:
    for command in out:
        if type(command) is cmd.OfferCall:
            return command.agent_id
    raise RuntimeError("the call was not offered: the workload no longer measures a decision")


class Bench:
    """An engine with every agent online, and the decision cycle that drives it."""

    def __init__(
        self,
        agents: int,
        *,
        options: EngineOptions,
        busy_fraction: float = 0.0,
        strategy: Strategy = Strategy.LONGEST_IDLE,
        seed: int = 1,
    ) -> None:
        self.engine = Engine(
            build_center(agents, strategy), rng=random.Random(seed), now=0.0, options=options
        )
        self.agents = agents
        self.trace = options.trace
        self.now = 0.0
        self.serial = 0
        for agent_id in self.engine.agents:
            self.engine.handle(ev.AgentPresenceChanged(agent_id=agent_id, online=True), self.now)
        self.pool = len(self.engine.queues[QUEUE_ID].tiers[0].members)
        for _ in range(round(self.pool * busy_fraction)):
            self._start_call()  # answered and never hung up: the agent stays busy
        self.idle = len(self.engine.queues[QUEUE_ID].tiers[0])

    def _start_call(self) -> tuple[str, str]:
        self.serial += 1
        call_id = f"c{self.serial}"
        now = self.now
        out = self.engine.handle(
            ev.CallArrived(call_id=call_id, from_number="+15550100", to_number=NUMBER), now
        )
        agent_id = _offered_agent(out)
        self.engine.handle(ev.OfferAnswered(call_id=call_id, agent_id=agent_id), now + 1.0)
        self.now = now + 2.0
        return call_id, agent_id

    def cycle(self) -> None:
        """One decision: a call arrives, is offered, answered and hung up."""
        self.serial += 1
        call_id = f"c{self.serial}"
        now = self.now
        handle = self.engine.handle
        out = handle(
            ev.CallArrived(call_id=call_id, from_number="+15550100", to_number=NUMBER), now
        )
        agent_id = _offered_agent(out)
        handle(ev.OfferAnswered(call_id=call_id, agent_id=agent_id), now + 1.0)
        handle(ev.CallHungUp(call_id=call_id, party=ev.Party.CUSTOMER), now + 2.0)
        self.now = now + 3.0

    def checked_cycle(self) -> None:
        """`cycle`, checking that the call was answered by a pool agent and traced as asked."""
        call_id, agent_id = self._start_call()
        if agent_id not in self.engine.queues[QUEUE_ID].tiers[0].members:
            raise RuntimeError(f"{agent_id} is not in the queue's pool")
        out = self.engine.handle(ev.CallHungUp(call_id=call_id, party=ev.Party.CUSTOMER), self.now)
        self.now += 1.0
        records = [c.record for c in out if isinstance(c, cmd.WriteCallRecord)]
        if len(records) != 1 or records[0].result is not Result.ANSWERED:
            raise RuntimeError(f"call {call_id} did not end answered with one record")
        if bool(records[0].decisions) != self.trace:
            raise RuntimeError(f"call {call_id}: a decision trace was expected={self.trace}")
        if call_id in self.engine.calls or self.engine.agents[agent_id].call_id is not None:
            raise RuntimeError(f"call {call_id} outlived its cycle")


SLICE = 500  # decisions per timed slice; a run is the sum of its slices


def _timed(step: Callable[[], None], calls: int) -> float:
    """Seconds taken by `calls` calls of `step()`."""
    start = time.perf_counter()
    for _ in range(calls):
        step()
    return time.perf_counter() - start


@dataclass(frozen=True, slots=True)
class Measurement:
    agents: int
    pool: int
    idle: int  # eligible agents of the pool while decisions happen
    us_per_decision: float  # the median over the runs


def _ready_bench(
    agents: int,
    options: EngineOptions,
    busy_fraction: float,
    strategy: Strategy,
    warmup: int,
) -> Bench:
    bench = Bench(agents, options=options, busy_fraction=busy_fraction, strategy=strategy)
    for _ in range(warmup):
        bench.checked_cycle()
    return bench


def _measure_all(
    benches: Sequence[Bench],
    decisions: int,
    repeat: int,
    progress: Callable[[str], None] | None = None,
) -> list[Measurement]:
    """Median µs per decision of each bench over `repeat` runs of `decisions` cycles.

    The runs of all benches are interleaved slice by slice (`SLICE` cycles of each bench in
    turn), so load from elsewhere on the machine spreads evenly over every configuration
    instead of skewing one ratio. The garbage collector is off during a run, as in `timeit`.
    """
    samples: list[list[float]] = [[] for _ in benches]
    slices = [SLICE] * (decisions // SLICE) + ([decisions % SLICE] if decisions % SLICE else [])
    enabled = gc.isenabled()
    for round_ in range(repeat):
        if progress is not None:
            progress(f"run {round_ + 1} of {repeat}")
        elapsed = [0.0] * len(benches)
        gc.collect()
        gc.disable()
        try:
            for calls in slices:
                for i, bench in enumerate(benches):
                    elapsed[i] += _timed(bench.cycle, calls)
        finally:
            if enabled:
                gc.enable()
        for mine, seconds in zip(samples, elapsed, strict=True):
            mine.append(seconds / decisions)
    return [
        Measurement(bench.agents, bench.pool, bench.idle, statistics.median(mine) * 1e6)
        for bench, mine in zip(benches, samples, strict=True)
    ]


def measure(
    agents: int,
    *,
    options: EngineOptions,
    busy_fraction: float = 0.0,
    decisions: int = 20_000,
    repeat: int = 5,
    warmup: int | None = None,
    strategy: Strategy = Strategy.LONGEST_IDLE,
) -> Measurement:
    """Median microseconds per decision cycle of one configuration over `repeat` runs."""
    count = min(decisions, 200) if warmup is None else warmup
    bench = _ready_bench(agents, options, busy_fraction, strategy, count)
    return _measure_all([bench], decisions, repeat)[0]


@dataclass(frozen=True, slots=True)
class Row:
    scenario: str
    agents: int
    pool: int
    idle: int
    us_quick: float  # publish_states=False, trace=False
    us_default: float  # the defaults: trace on
    ratio_quick: float  # against the smallest size of the same scenario
    ratio_default: float


SCENARIOS = (("all idle", 0.0), ("90% busy", 0.9))


def run(
    sizes: Sequence[int] = SIZES,
    *,
    decisions: int = 20_000,
    repeat: int = 5,
    strategy: Strategy = Strategy.LONGEST_IDLE,
    scenarios: Sequence[tuple[str, float]] = SCENARIOS,
    progress: Callable[[str], None] | None = None,
) -> list[Row]:
    """Measure every scenario at every size (smallest first), with and without the trace."""
    configs = [
        (scenario, busy, agents, options)
        for scenario, busy in scenarios
        for agents in sizes
        for options in (QUICK_OPTIONS, DEFAULT_OPTIONS)
    ]
    benches: list[Bench] = []
    for scenario, busy, agents, options in configs:
        if progress is not None:
            progress(f"setting up {scenario}, {agents:,} agents")
        benches.append(_ready_bench(agents, options, busy, strategy, min(decisions, 200)))
    results = _measure_all(benches, decisions, repeat, progress)
    rows: list[Row] = []
    base: dict[str, tuple[float, float]] = {}
    for i in range(0, len(configs), 2):
        scenario = configs[i][0]
        quick, default = results[i], results[i + 1]
        first = base.setdefault(scenario, (quick.us_per_decision, default.us_per_decision))
        rows.append(
            Row(
                scenario=scenario,
                agents=quick.agents,
                pool=quick.pool,
                idle=quick.idle,
                us_quick=quick.us_per_decision,
                us_default=default.us_per_decision,
                ratio_quick=quick.us_per_decision / first[0],
                ratio_default=default.us_per_decision / first[1],
            )
        )
    return rows


def worst_ratio(rows: Sequence[Row]) -> float:
    """The largest ratio at the largest size against the smallest, over scenarios and options."""
    largest = max(row.agents for row in rows)
    return max(max(r.ratio_quick, r.ratio_default) for r in rows if r.agents == largest)


def render(rows: Sequence[Row], console: Console, title: str) -> None:
    first = f"{rows[0].agents:,}" if rows else "first"
    table = Table(title=title)
    table.add_column("scenario", no_wrap=True)
    for header in (
        "agents",
        "pool",
        "idle\nin pool",
        "µs/decision\n(no trace)",
        "µs/decision\n(trace)",
        f"ratio vs {first}\n(no trace)",
        f"ratio vs {first}\n(trace)",
    ):
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            row.scenario,
            f"{row.agents:,}",
            f"{row.pool:,}",
            f"{row.idle:,}",
            f"{row.us_quick:.1f}",
            f"{row.us_default:.1f}",
            f"{row.ratio_quick:.2f}",
            f"{row.ratio_default:.2f}",
        )
    console.print(table)


def profile(agents: int, decisions: int, options: EngineOptions, busy_fraction: float) -> None:
    """Where the time of one configuration goes: the top functions by own time."""
    bench = Bench(agents, options=options, busy_fraction=busy_fraction)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(decisions):
        bench.cycle()
    profiler.disable()
    print(f"\n== profile: {agents} agents, {decisions} decisions, {options}, busy {busy_fraction}")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="2,000 decisions, 3 repeats")
    parser.add_argument("--decisions", type=int, help="decisions per run (default 20,000)")
    parser.add_argument("--repeat", type=int, help="runs per configuration (default 5)")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(SIZES), help="agent counts, smallest first"
    )
    parser.add_argument(
        "--strategy",
        choices=[s.value for s in Strategy if s is not Strategy.RING_ALL],
        default=Strategy.LONGEST_IDLE.value,
        help="the queue's strategy (ring all rings the whole pool by design)",
    )
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 if a ratio is over {GOAL_RATIO:g}"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile the largest size (cProfile)"
    )
    args = parser.parse_args(argv)
    decisions = args.decisions if args.decisions is not None else 2_000 if args.quick else 20_000
    repeat = args.repeat if args.repeat is not None else 3 if args.quick else 5
    sizes = sorted(args.sizes)
    if decisions < 1 or repeat < 1 or sizes[0] < 1:
        parser.error("--decisions, --repeat and --sizes must be at least 1")
    strategy = Strategy(args.strategy)
    console = Console(width=None if sys.stdout.isatty() else 110)
    with console.status("measuring") as status:
        rows = run(
            sizes,
            decisions=decisions,
            repeat=repeat,
            strategy=strategy,
            progress=lambda text: status.update(f"measuring: {text}"),
        )
    render(
        rows,
        console,
        f"Routing decision cost, strategy {strategy.value}: median of {repeat} runs of "
        f"{decisions:,} decisions (arrive, offer, answer, hang up)",
    )
    worst = worst_ratio(rows)
    verdict = "OK" if worst <= GOAL_RATIO else "OVER THE GOAL"
    console.print(
        f"largest ratio {sizes[-1]:,}/{sizes[0]:,} agents: {worst:.2f} "
        f"(goal: at most {GOAL_RATIO:g}) {verdict}"
    )
    if args.profile:
        for options in (QUICK_OPTIONS, DEFAULT_OPTIONS):
            profile(sizes[-1], decisions, options, 0.9)
    if args.check and not (math.isfinite(worst) and worst <= GOAL_RATIO):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
