"""The traffic document: what `helpline simulate` runs the center against.

    seed: 1
    duration: 8h                # or calls: 200000
    warmup: 30m
    replications: 1
    service_level_threshold: 20s
    interval: 30m               # the width of the per-interval series
    staffing: {tier1: 55}       # generate this many agents in a group for the run
    streams:
      - to: support             # a queue id, or a number (then the IVR runs)
        arrivals: {poisson_per_hour: 720}
        handle_time: {exponential_mean: 240s}
        patience: {exponential_mean: 120s}
    agents: {answer_delay: 0s, no_answer_probability: 0}

Arrivals: `poisson_per_hour`, `rates_per_hour` (a list, one rate per `interval`: a
time-varying Poisson process), or `csv` (a file of arrival times in seconds, one a line or in
a `time` column). Durations (handle time, patience, wrap-up): `exponential_mean`,
`lognormal: {mean, sd}`, `constant`, or `empirical` (a CSV of samples in seconds).
"""

from __future__ import annotations

import csv
import math
import random
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from helpline.config.schema import Duration, PositiveDuration
from helpline.core.errors import ConfigError
from helpline.core.model import Agent, Center, Number


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LognormalDoc(_Doc):
    mean: PositiveDuration
    sd: Duration


class DistributionDoc(_Doc):
    """A distribution of durations, in seconds."""

    exponential_mean: PositiveDuration | None = None
    lognormal: LognormalDoc | None = None
    constant: Duration | None = None
    empirical: str | None = None  # a CSV file of samples

    @model_validator(mode="after")
    def _one(self) -> DistributionDoc:
        given = [
            name
            for name in ("exponential_mean", "lognormal", "constant", "empirical")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of exponential_mean, lognormal, constant, empirical")
        return self

    def mean(self) -> float:
        if self.exponential_mean is not None:
            return self.exponential_mean
        if self.lognormal is not None:
            return self.lognormal.mean
        if self.constant is not None:
            return self.constant
        return math.nan  # empirical: known once loaded


class ArrivalsDoc(_Doc):
    poisson_per_hour: Annotated[float, Field(gt=0)] | None = None
    rates_per_hour: list[Annotated[float, Field(ge=0)]] | None = None
    csv: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ArrivalsDoc:
        given = [n for n in ("poisson_per_hour", "rates_per_hour", "csv") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("give exactly one of poisson_per_hour, rates_per_hour, csv")
        return self


class StreamDoc(_Doc):
    to: str
    arrivals: ArrivalsDoc
    handle_time: DistributionDoc
    patience: DistributionDoc | None = None  # omitted: callers never abandon
    wrap_up: DistributionDoc | None = None  # when the agent ends wrap-up before the limit
    keys: dict[str, dict[str, Annotated[float, Field(ge=0)]]] = {}  # node -> key -> probability
    key_delay: Duration = 2.0
    priority: int = 0


class StaffingDoc(_Doc):
    count: Annotated[int, Field(ge=0)]
    skills: dict[str, int] = {}


class AgentsBehaviourDoc(_Doc):
    answer_delay: Duration = 0.0
    no_answer_probability: Annotated[float, Field(ge=0, le=1)] = 0.0


class TrafficDoc(_Doc):
    seed: int = 1
    duration: PositiveDuration | None = None
    calls: Annotated[int, Field(gt=0)] | None = None
    warmup: Duration = 0.0
    replications: Annotated[int, Field(ge=1)] = 1
    service_level_threshold: Duration = 20.0
    interval: PositiveDuration = 1800.0
    staffing: dict[str, Annotated[StaffingDoc, Field()] | int] = {}
    streams: list[StreamDoc] = Field(min_length=1)
    agents: AgentsBehaviourDoc = AgentsBehaviourDoc()
    keep_callers: bool = False  # keep every caller's figures (memory grows with the run)
    start: Literal["empty"] = "empty"

    @model_validator(mode="after")
    def _horizon(self) -> TrafficDoc:
        if self.duration is None and self.calls is None:
            raise ValueError("give duration (e.g. 8h) or calls (e.g. 200000)")
        return self

    def staffing_counts(self) -> dict[str, StaffingDoc]:
        return {
            group: value if isinstance(value, StaffingDoc) else StaffingDoc(count=value)
            for group, value in self.staffing.items()
        }


# -- samplers ----------------------------------------------------------------------------------


def _read_column(path: str, base: Path) -> list[float]:
    """Numbers from a CSV: the `time`/`seconds`/`value` column, or the first column."""
    source = Path(path) if Path(path).is_absolute() else base / path
    values: list[float] = []
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return values
    column = 0
    header = [cell.strip().lower() for cell in rows[0]]
    start = 0
    for name in ("time", "seconds", "value", "handle_time", "duration"):
        if name in header:
            column, start = header.index(name), 1
            break
    else:
        try:
            float(rows[0][0])
        except ValueError:
            start = 1
    for row in rows[start:]:
        if row and row[column].strip():
            values.append(float(row[column]))
    return values


class Sampler:
    """Draws durations from a `DistributionDoc` with the run's generator."""

    __slots__ = ("_draw", "mean")

    def __init__(self, doc: DistributionDoc, rng: random.Random, base: Path) -> None:
        if doc.exponential_mean is not None:
            rate = 1.0 / doc.exponential_mean
            uniform = rng.random
            log = math.log
            # `rng.expovariate(rate)`'s own formula, without its extra call: the same draws
            self._draw: Any = lambda: -log(1.0 - uniform()) / rate
            self.mean = doc.exponential_mean
        elif doc.lognormal is not None:
            mean, sd = doc.lognormal.mean, doc.lognormal.sd
            sigma2 = math.log(1 + (sd / mean) ** 2)
            mu, sigma = math.log(mean) - sigma2 / 2, math.sqrt(sigma2)
            self._draw = lambda: rng.lognormvariate(mu, sigma)
            self.mean = mean
        elif doc.constant is not None:
            value = doc.constant
            self._draw = lambda: value
            self.mean = value
        else:
            assert doc.empirical is not None
            samples = _read_column(doc.empirical, base)
            if not samples:
                raise ValueError(f"{doc.empirical}: no samples")
            self._draw = lambda: samples[rng.randrange(len(samples))]
            self.mean = sum(samples) / len(samples)

    def __call__(self) -> float:
        value: float = self._draw()
        return value

    @property
    def draw(self) -> Callable[[], float]:
        """The drawing function itself, for callers that draw in a loop."""
        draw: Callable[[], float] = self._draw
        return draw


class ArrivalProcess:
    """Next arrival times: homogeneous or piecewise-constant Poisson, or replayed from a CSV."""

    __slots__ = ("_bounds", "_index", "_rates", "_rng", "_times", "mean_rate")

    def __init__(self, doc: ArrivalsDoc, rng: random.Random, interval: float, base: Path) -> None:
        self._rng = rng
        self._times: list[float] | None = None
        self._index = 0
        if doc.csv is not None:
            self._times = sorted(_read_column(doc.csv, base))
            span = (self._times[-1] - self._times[0]) if len(self._times) > 1 else 1.0
            self.mean_rate = len(self._times) / span if span > 0 else 0.0
            self._rates: list[float] = []
            self._bounds: list[float] = []
        elif doc.rates_per_hour is not None:
            self._rates = [r / 3600.0 for r in doc.rates_per_hour]
            self._bounds = [i * interval for i in range(len(self._rates))]
            self.mean_rate = sum(self._rates) / len(self._rates)
        else:
            assert doc.poisson_per_hour is not None
            self._rates = [doc.poisson_per_hour / 3600.0]
            self._bounds = [0.0]
            self.mean_rate = self._rates[0]

    @property
    def stationary(self) -> bool:
        return self._times is None and len(set(self._rates)) == 1

    def next_after(self, now: float) -> float | None:
        """The first arrival after `now`, or None when the process has no more."""
        if self._times is not None:
            if self._index >= len(self._times):
                return None
            self._index += 1
            return self._times[self._index - 1]
        rates, bounds = self._rates, self._bounds
        if len(rates) == 1:  # `expovariate(rates[0])`'s own formula, without its extra call
            return now + (-math.log(1.0 - self._rng.random()) / rates[0])
        # piecewise-constant rate: spend an Exp(1) amount of integrated rate, piece by piece
        need = self._rng.expovariate(1.0)
        t = now
        piece = max(0, bisect_right(bounds, t) - 1)
        while piece < len(rates):
            end = bounds[piece + 1] if piece + 1 < len(rates) else math.inf
            rate = rates[piece]
            if rate > 0:
                if t + need / rate <= end:
                    return t + need / rate
                need -= (end - t) * rate
            if math.isinf(end):
                return None
            t = end
            piece += 1
        return None


def staffed_center(center: Center, traffic: TrafficDoc) -> Center:
    """The center with generated agents for `staffing`, and a number for each queue stream."""
    agents = dict(center.agents)
    groups = dict(center.groups)
    for group_id, staffing in traffic.staffing_counts().items():
        if group_id not in groups:
            raise ConfigError(f"staffing.{group_id}", "unknown group")
        members = tuple(f"{group_id}-{i + 1:04d}" for i in range(staffing.count))
        for agent_id in members:
            agents[agent_id] = Agent(id=agent_id, skills=dict(staffing.skills))
        groups[group_id] = replace(groups[group_id], agents=members)
    numbers = dict(center.numbers)
    for index, stream in enumerate(traffic.streams):
        if stream.to in numbers:
            continue
        if stream.to not in center.queues:
            raise ConfigError(
                f"streams[{index}].to", f"{stream.to!r} is neither a queue nor a number"
            )
        numbers[f"sim:{stream.to}"] = Number(number=f"sim:{stream.to}", queue=stream.to)
    return replace(center, agents=agents, groups=groups, numbers=numbers).validate()
