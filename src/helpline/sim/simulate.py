"""Run a center against a traffic document: replications, progress, staffing search.

`simulate` runs the replications one after another (seeds `seed`, `seed+1`, ...) and folds
them into one result. `find_staffing` searches the smallest number of agents in a group that
meets a target such as `service_level>=0.8`, by simulation, with the Erlang answer beside it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from helpline.config.center import load_document, validation_errors
from helpline.core.errors import ConfigError
from helpline.core.model import Center
from helpline.sim.erlang import agents_for_service_level, agents_for_service_level_erlang_a
from helpline.sim.results import summarize
from helpline.sim.runner import Replication
from helpline.sim.stats import Collector
from helpline.sim.traffic import StaffingDoc, TrafficDoc, staffed_center

Progress = Callable[[float], None]  # fraction done, 0..1


def load_traffic(path: str | Path) -> TrafficDoc:
    return parse_traffic(load_document(path))


def parse_traffic(document: Any) -> TrafficDoc:
    try:
        return TrafficDoc.model_validate(document)
    except ValidationError as error:
        errors = validation_errors(error)
        raised = ConfigError(errors[0]["path"], errors[0]["message"])
        raised.details["errors"] = errors
        raise raised from None


def simulate(
    center: Center,
    traffic: TrafficDoc,
    *,
    base: Path = Path("."),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run every replication; Ctrl-C stops cleanly with what was gathered."""
    runs: list[Collector] = []
    interrupted = False
    total = traffic.replications
    staffed = staffed_center(center, traffic)
    for index in range(total):
        replication = Replication(center, traffic, seed=traffic.seed + index, base=base)

        def report(at: float, arrived: int, index: int = index) -> None:
            if progress is None:
                return
            if traffic.duration is not None:
                done = min(1.0, at / traffic.duration)
            else:
                done = min(1.0, arrived / (traffic.calls or 1))
            progress((index + done) / total)

        runs.append(replication.run(report))
        if replication.interrupted:
            interrupted = True
            break
    if progress is not None:
        progress(1.0)
    result = summarize(runs, staffed, traffic, interrupted=interrupted)
    result["callers_simulated"] = sum(sum(q.offered for q in run.queues.values()) for run in runs)
    if traffic.keep_callers and runs and runs[0].callers is not None:
        result["callers"] = runs[0].callers
    return result


_TARGET = re.compile(
    r"^\s*(?:(?P<queue>[\w.-]+)\.)?(?P<metric>service_level|asa_s|avg_wait_s|abandon_rate|"
    r"p_wait|p90_wait_s)\s*(?P<op><=|>=|<|>)\s*(?P<value>[0-9.]+)\s*$"
)


@dataclass(frozen=True, slots=True)
class Target:
    queue: str | None
    metric: str
    op: str
    value: float

    def met(self, figure: float) -> bool:
        if math.isnan(figure):
            return False
        return {
            ">=": figure >= self.value,
            ">": figure > self.value,
            "<=": figure <= self.value,
            "<": figure < self.value,
        }[self.op]


def parse_target(text: str) -> Target:
    match = _TARGET.match(text)
    if match is None:
        raise ConfigError(
            "--find-staffing",
            f"{text!r}: write e.g. 'service_level>=0.8' or 'support.asa_s<=30' (metrics: "
            "service_level, asa_s, avg_wait_s, abandon_rate, p_wait, p90_wait_s)",
        )
    return Target(match["queue"], match["metric"], match["op"], float(match["value"]))


def find_staffing(
    center: Center,
    traffic: TrafficDoc,
    target: Target,
    *,
    group: str | None = None,
    base: Path = Path("."),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The smallest staffing of `group` meeting `target`, by simulation (and by Erlang)."""
    counts = traffic.staffing_counts()
    if group is None:
        if len(counts) != 1:
            raise ConfigError("staffing", "name exactly one group in staffing to search over")
        group = next(iter(counts))
    skills = counts[group].skills if group in counts else {}
    queue_id = target.queue
    if queue_id is None:
        if len(center.queues) != 1:
            streams = {s.to for s in traffic.streams if s.to in center.queues}
            if len(streams) != 1:
                raise ConfigError("--find-staffing", "name the queue: e.g. support.service_level")
            queue_id = streams.pop()
        else:
            queue_id = next(iter(center.queues))
    tried: dict[int, float] = {}

    def figure(agents: int) -> float:
        if agents not in tried:
            staffing: dict[str, StaffingDoc | int] = dict(traffic.staffing)
            staffing[group] = StaffingDoc(count=agents, skills=skills)
            trial = traffic.model_copy(update={"staffing": staffing})
            result = simulate(center, trial, base=base)
            tried[agents] = float(result["queues"].get(queue_id, {}).get(target.metric, math.nan))
            if progress is not None:
                progress(min(0.99, len(tried) / 12))
        return tried[agents]

    erlang = _erlang_staffing(traffic, queue_id, center, target)
    low, high = 1, max(2, erlang or 1)
    while not target.met(figure(high)):  # grow until met
        low, high = high, high * 2
        if high > 100_000:
            raise ConfigError("--find-staffing", "no staffing up to 100,000 agents meets it")
    while low < high:  # smallest that meets it (figures improve with agents)
        middle = (low + high) // 2
        if target.met(figure(middle)):
            high = middle
        else:
            low = middle + 1
    if progress is not None:
        progress(1.0)
    return {
        "group": group,
        "queue": queue_id,
        "target": f"{target.metric}{target.op}{target.value:g}",
        "agents": high,
        "figure": tried[high],
        "erlang_agents": erlang,
        "tried": {str(k): v for k, v in sorted(tried.items())},
    }


def _erlang_staffing(
    traffic: TrafficDoc, queue_id: str, center: Center, target: Target
) -> int | None:
    if target.metric != "service_level" or target.op not in (">=", ">"):
        return None
    streams = [s for s in traffic.streams if s.to in (queue_id,)]
    if len(streams) != 1 or streams[0].arrivals.poisson_per_hour is None:
        return None
    stream = streams[0]
    arrival = stream.arrivals.poisson_per_hour / 3600.0 if stream.arrivals.poisson_per_hour else 0
    service = stream.handle_time.exponential_mean
    if service is None:
        return None
    if stream.patience is not None and stream.patience.exponential_mean is not None:
        return agents_for_service_level_erlang_a(
            arrival,
            service,
            traffic.service_level_threshold,
            stream.patience.exponential_mean,
            target.value,
        )
    return agents_for_service_level(arrival, service, traffic.service_level_threshold, target.value)
