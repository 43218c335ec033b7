"""From gathered statistics to the figures a planner reads (and `--json` prints).

Per queue: offered, answered, abandoned, service level (answered within the threshold over
offered), ASA, average and 90th-percentile wait, P(wait), and the accuracy of the engine's
wait estimates (RASE of QL, HOL, LES). Per group: occupancy. With replications, each figure
is the mean with a 95% confidence interval (Student's t). For a queue fed by one stationary
Poisson stream whose agents serve nothing else, the Erlang C prediction (Erlang A when
callers have exponential patience) is set beside the simulated figures.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from helpline.core.model import Center
from helpline.sim.erlang import QueueMetrics, erlang_a_metrics, erlang_c_metrics
from helpline.sim.stats import Collector, QueueStats
from helpline.sim.traffic import TrafficDoc

# two-sided 95% Student t quantiles for 1..30 degrees of freedom; 1.96 beyond
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip

QUEUE_FIGURES = (
    "offered",
    "answered",
    "abandoned",
    "service_level",
    "p_wait",
    "abandon_rate",
    "asa_s",
    "avg_wait_s",
    "p90_wait_s",
    "max_wait_s",
)


def t95(n: int) -> float:
    return _T95[n - 2] if 2 <= n <= len(_T95) + 1 else 1.96


def queue_figures(stats: QueueStats) -> dict[str, float]:
    offered = stats.offered
    return {
        "offered": offered,
        "answered": stats.answered,
        "abandoned": stats.abandoned,
        "service_level": stats.within / offered if offered else math.nan,
        "p_wait": stats.waited / offered if offered else math.nan,
        "abandon_rate": stats.abandoned / offered if offered else math.nan,
        "asa_s": stats.wait_answered_sum / stats.answered if stats.answered else math.nan,
        "avg_wait_s": stats.wait_all_sum / offered if offered else math.nan,
        "p90_wait_s": stats.waits.quantile(0.9),
        "max_wait_s": stats.max_wait,
    }


def interval_series(stats: QueueStats, interval: float) -> list[dict[str, float]]:
    series = []
    for index in sorted(stats.intervals):
        slot = stats.intervals[index]
        series.append(
            {
                "start_s": index * interval,
                "offered": slot.offered,
                "answered": slot.answered,
                "abandoned": slot.abandoned,
                "service_level": slot.within / slot.offered if slot.offered else math.nan,
                "asa_s": slot.wait_sum / slot.answered if slot.answered else math.nan,
                "avg_queue_length": (
                    slot.queue_sum / slot.queue_samples if slot.queue_samples else 0.0
                ),
                "max_queue_length": slot.queue_max,
            }
        )
    return series


def _mean_ci(values: list[float]) -> dict[str, float]:
    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return {"mean": math.nan, "ci95": math.nan}
    mean = statistics.fmean(clean)
    if len(clean) < 2:
        return {"mean": mean, "ci95": math.nan}
    half = t95(len(clean)) * statistics.stdev(clean) / math.sqrt(len(clean))
    return {"mean": mean, "ci95": half}


def erlang_prediction(
    center: Center, traffic: TrafficDoc, queue_id: str
) -> tuple[QueueMetrics | None, str]:
    """The Erlang C/A figures for this queue, or None and why they do not apply."""
    streams = [s for s in traffic.streams if _stream_queue(center, s.to) == queue_id]
    if not streams and any(_stream_queue(center, s.to) is None for s in traffic.streams):
        return None, "fed through the IVR: not a Poisson stream of its own"
    if len(streams) != 1:
        return None, "needs exactly one stream into the queue"
    stream = streams[0]
    rate = stream.arrivals.poisson_per_hour
    if rate is None or (stream.to in center.numbers and center.numbers[stream.to].enable_ivr):
        return None, "needs a stationary Poisson stream straight into the queue"
    if stream.handle_time.exponential_mean is None:
        return None, "needs exponential handle times"
    queue = center.queues[queue_id]
    members = {a for tier in queue.groups for a in center.groups[tier.group].agents}
    for other in center.queues.values():
        if other.id != queue_id and any(
            a in members for t in other.groups for a in center.groups[t.group].agents
        ):
            return None, "its agents also serve another queue"
    if not members or any(t.after_wait_s for t in queue.groups):
        return None, "needs agents available from the start (no overflow delay)"
    arrival = rate / 3600.0
    service = stream.handle_time.exponential_mean
    threshold = traffic.service_level_threshold
    if stream.patience is not None:
        if stream.patience.exponential_mean is None:
            return None, "Erlang A needs exponential patience"
        return (
            erlang_a_metrics(
                arrival, service, len(members), threshold, stream.patience.exponential_mean
            ),
            "Erlang A (M/M/n+M)",
        )
    if arrival * service >= len(members):
        return None, "unstable: offered load >= agents (the queue grows without bound)"
    return erlang_c_metrics(arrival, service, len(members), threshold), "Erlang C (M/M/n)"


def _stream_queue(center: Center, target: str) -> str | None:
    if target in center.queues:
        return target
    number = center.numbers.get(target)
    if number is not None and not number.enable_ivr:
        return number.queue
    return None


def summarize(
    runs: list[Collector], center: Center, traffic: TrafficDoc, *, interrupted: bool = False
) -> dict[str, Any]:
    """The run's results as plain data (what `--json` prints)."""
    queue_ids = sorted({q for run in runs for q in run.queues})
    queues: dict[str, Any] = {}
    for queue_id in queue_ids:
        per_run = [queue_figures(run.queue(queue_id)) for run in runs]
        entry: dict[str, Any] = (
            dict(per_run[0])
            if len(runs) == 1
            else {name: _mean_ci([r[name] for r in per_run])["mean"] for name in QUEUE_FIGURES}
        )
        if len(runs) > 1:
            entry["ci95"] = {
                name: _mean_ci([r[name] for r in per_run])["ci95"] for name in QUEUE_FIGURES
            }
        rase = [run.queue(queue_id).ewt.rase() for run in runs]
        entry["ewt_rase"] = {
            name: _mean_ci([v for r in rase if (v := r[name]) is not None])["mean"]
            for name in ("ql", "hol", "les")
        }
        entry["ewt_samples"] = sum(run.queue(queue_id).ewt.n for run in runs)
        prediction, model = erlang_prediction(center, traffic, queue_id)
        if prediction is not None:
            entry["erlang"] = {
                "model": model,
                "p_wait": prediction.p_wait,
                "service_level": prediction.service_level,
                "asa_s": prediction.asa_s,
                "avg_wait_s": prediction.avg_wait_s,
                "abandon_rate": prediction.p_abandon,
                "occupancy": prediction.occupancy,
            }
        else:
            entry["erlang"] = {"model": None, "why_not": model}
        entry["intervals"] = interval_series(runs[0].queue(queue_id), traffic.interval)
        entry["wait_histogram"] = {
            "bin_s": 5.0,
            "counts": runs[0].queue(queue_id).waits.coarse(5.0, 300.0),
        }
        queues[queue_id] = entry
    groups: dict[str, Any] = {}
    for group_id, group in center.groups.items():
        size = len(group.agents)
        if not size:
            continue
        occupancies = []
        for run in runs:
            window = (run.horizon or 0.0) - run.warmup
            busy = run.group_busy.get(group_id, 0.0)
            occupancies.append(busy / (size * window) if window > 0 else math.nan)
        groups[group_id] = {
            "agents": size,
            "occupancy": _mean_ci(occupancies)["mean"],
            "intervals": [
                {"start_s": index * traffic.interval, "occupancy": busy / (size * traffic.interval)}
                for index, busy in sorted(runs[0].group_busy_by_interval.get(group_id, {}).items())
            ],
        }
        if len(runs) > 1:
            groups[group_id]["ci95"] = {"occupancy": _mean_ci(occupancies)["ci95"]}
    return {
        "replications": len(runs),
        "interrupted": interrupted,
        "service_level_threshold_s": traffic.service_level_threshold,
        "window_s": [runs[0].warmup, runs[0].horizon],
        "queues": queues,
        "groups": groups,
    }
