"""helpline simulate against SimPy and Ciw on the same M/M/c and M/M/c+M models (issue 3).

    python bench/bench_simulate.py                 # 200,000 callers per model and tool
    python bench/bench_simulate.py --callers 50000 # quicker
    python bench/bench_simulate.py --memory        # also: peak memory of a 1,000,000-caller run
    python bench/bench_simulate.py --repeat 3      # best of 3 runs per tool, run in turn

The model: 100 calls per minute, exponential handle time with mean 27 s, 50 agents; the +M
variant adds exponential patience with mean 2 minutes. Helpline runs its full routing engine
(queue, pools, offers, timers, call records) for every caller; SimPy and Ciw run the bare
queueing model. Figures are callers per second of wall time, measured in this one run, and
the ratios Helpline / SimPy and Helpline / Ciw. P(wait) is each tool's fraction of callers
who found no free agent, beside Erlang C (Erlang A for +M): one seed's run of 100,000 callers
strays from it by about 0.02 (its standard deviation over seeds), each tool drawing its own
sample path, so the three differ by that much at the same load. SimPy and Ciw come from PyPI
(`pip install simpy ciw`). Helpline runs the build installed (`helpline --version`): when
that is the compiled engine (`pip install` compiles it with mypyc), a column beside it runs the
same sources as pure Python (HELPLINE_PURE_PYTHON=1, in a fresh process). On a shared
machine the load changes under a run; `--repeat N` runs the tools in turn N times and keeps
each one's best (fastest) run, as `timeit` does, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ciw
import simpy
from rich.console import Console
from rich.table import Table

import helpline
from helpline.config import parse_center
from helpline.sim.erlang import erlang_a_metrics, erlang_c_metrics
from helpline.sim.runner import Replication
from helpline.sim.simulate import parse_traffic

ARRIVALS_PER_S = 100 / 60
AHT_S = 27.0
AGENTS = 50
PATIENCE_S = 120.0


def helpline_run(callers: int, patience: float | None, seed: int = 1) -> tuple[float, float]:
    """Callers per second and the simulated P(wait)."""
    center = parse_center({"queues": [{"id": "q", "groups": ["g"]}], "groups": [{"id": "g"}]})
    stream: dict[str, object] = {
        "to": "q",
        "arrivals": {"poisson_per_hour": ARRIVALS_PER_S * 3600},
        "handle_time": {"exponential_mean": AHT_S},
    }
    if patience is not None:
        stream["patience"] = {"exponential_mean": patience}
    traffic = parse_traffic(
        {"seed": seed, "calls": callers, "staffing": {"g": AGENTS}, "streams": [stream]}
    )
    replication = Replication(center, traffic, seed=seed, base=Path("."))
    start = time.perf_counter()
    collector = replication.run()
    elapsed = time.perf_counter() - start
    stats = collector.queue("q")
    return replication.arrived / elapsed, stats.waited / max(stats.offered, 1)


def simpy_run(callers: int, patience: float | None, seed: int = 1) -> tuple[float, float]:
    rng = random.Random(seed)
    env = simpy.Environment()
    agents = simpy.Resource(env, capacity=AGENTS)
    waited = [0]

    def caller(env: simpy.Environment) -> object:
        arrived = env.now
        with agents.request() as request:
            if patience is None:
                yield request
            else:
                outcome = yield request | env.timeout(rng.expovariate(1 / patience))
                if request not in outcome:
                    waited[0] += 1
                    return
            if env.now > arrived:
                waited[0] += 1
            yield env.timeout(rng.expovariate(1 / AHT_S))

    def source(env: simpy.Environment) -> object:
        for _ in range(callers):
            yield env.timeout(rng.expovariate(ARRIVALS_PER_S))
            env.process(caller(env))

    env.process(source(env))
    start = time.perf_counter()
    env.run()
    return callers / (time.perf_counter() - start), waited[0] / callers


def ciw_run(callers: int, patience: float | None, seed: int = 1) -> tuple[float, float]:
    options: dict[str, object] = {
        "arrival_distributions": [ciw.dists.Exponential(rate=ARRIVALS_PER_S)],
        "service_distributions": [ciw.dists.Exponential(rate=1 / AHT_S)],
        "number_of_servers": [AGENTS],
    }
    if patience is not None:
        options["reneging_time_distributions"] = [ciw.dists.Exponential(rate=1 / patience)]
    network = ciw.create_network(**options)
    ciw.seed(seed)
    simulation = ciw.Simulation(network)
    start = time.perf_counter()
    simulation.simulate_until_max_customers(callers, method="Arrive")
    elapsed = time.perf_counter() - start
    records = simulation.get_all_records()
    waited = sum(1 for r in records if r.waiting_time > 0)
    return callers / elapsed, waited / max(len(records), 1)


def theory_p_wait(patience: float | None) -> float:
    """P(wait) of the model: Erlang C, or Erlang A with exponential patience."""
    if patience is None:
        return erlang_c_metrics(ARRIVALS_PER_S, AHT_S, AGENTS, 20.0).p_wait
    return erlang_a_metrics(ARRIVALS_PER_S, AHT_S, AGENTS, 20.0, patience).p_wait


def in_fresh_process(statements: str, env: dict[str, str] | None = None) -> str:
    """Run `statements` in a new Python process with this module imported as `b`; the last
    line it printed. For what a process decides once: its peak memory, the engine's build."""
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        f"import bench_simulate as b; {statements}"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return done.stdout.strip().splitlines()[-1]


def peak_memory_mb(callers: int) -> float:
    """Peak resident memory of a fresh process simulating `callers` M/M/c callers."""
    statements = (
        f"b.helpline_run({callers}, None); import resource; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    return int(in_fresh_process(statements)) / 1024


def helpline_pure_run(callers: int, patience: float | None, seed: int = 1) -> tuple[float, float]:
    """`helpline_run` on the pure-Python sources of a compiled install, in a fresh process
    (the build is chosen once per process, when `helpline` is first imported)."""
    statements = f"print(*b.helpline_run({callers}, {patience!r}, {seed}))"
    rate, p_wait = in_fresh_process(statements, {"HELPLINE_PURE_PYTHON": "1"}).split()
    return float(rate), float(p_wait)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, default=200_000)
    parser.add_argument("--memory", action="store_true", help="measure a 1,000,000-caller run")
    parser.add_argument("--repeat", type=int, default=1, help="keep the best of N runs per tool")
    args = parser.parse_args()
    console = Console()
    table = Table(
        title=f"Callers per second of wall time ({args.callers:,} callers each)",
        caption=f"Helpline: the full engine, {helpline.BUILD.description}. "
        "÷: Helpline's rate over the tool's.",
    )
    tools: list[tuple[str, Callable[[int, float | None], tuple[float, float]]]] = [
        ("helpline", helpline_run),
        ("simpy", simpy_run),
        ("ciw", ciw_run),
    ]
    columns = ["model", "Helpline", "SimPy", "Ciw", "÷ SimPy", "÷ Ciw"]
    if helpline.BUILD.compiled:  # the same engine as Python, for the compiler's share
        tools.insert(1, ("pure", helpline_pure_run))
        columns.insert(2, "Helpline as Python")
    for column in columns:
        table.add_column(column, justify="left" if column == "model" else "right")
    check = Table(title="P(wait): each tool's own sample path, and the theory")
    for column in ("model", "Helpline", "SimPy", "Ciw", "Erlang C (A with patience)"):
        check.add_column(column, justify="left" if column == "model" else "right")
    for label, patience in (("M/M/c", None), ("M/M/c+M", PATIENCE_S)):
        rates: dict[str, float] = {}
        waits: dict[str, float] = {}
        for attempt in range(max(1, args.repeat)):
            for name, run in tools:
                with console.status(f"{label}: {name} (run {attempt + 1})"):
                    rate, waits[name] = run(args.callers, patience)  # same seed: same P(wait)
                rates[name] = max(rates.get(name, 0.0), rate)
        pure = [f"{rates['pure']:,.0f}"] if "pure" in rates else []
        table.add_row(
            label,
            f"{rates['helpline']:,.0f}",
            *pure,
            f"{rates['simpy']:,.0f}",
            f"{rates['ciw']:,.0f}",
            f"{rates['helpline'] / rates['simpy']:.2f}",
            f"{rates['helpline'] / rates['ciw']:.2f}",
        )
        check.add_row(
            label,
            *(f"{waits[name]:.3f}" for name in ("helpline", "simpy", "ciw")),
            f"{theory_p_wait(patience):.3f}",
        )
    console.print(table)
    console.print(check)
    console.print("Goal: Helpline/SimPy >= 1.00 while running the full engine.")
    if args.memory:
        with console.status("1,000,000 callers: measuring peak memory"):
            peak = peak_memory_mb(1_000_000)
        console.print(f"Peak memory of a 1,000,000-caller run: {peak:,.0f} MB (goal: < 500 MB)")


if __name__ == "__main__":
    main()
