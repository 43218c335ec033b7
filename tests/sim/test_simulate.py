"""The simulator against queueing theory, and the traffic document's features.

Every run has a fixed seed, so each test is deterministic; the statistical assertions are
the ones a correct simulator passes with high probability (theory inside the 95% confidence
interval of several replications, counts within a few standard deviations).
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from helpline.config import load_center, parse_center
from helpline.core.errors import ConfigError
from helpline.core.model import Center
from helpline.sim.erlang import agents_for_service_level, erlang_a_metrics, erlang_c_metrics
from helpline.sim.runner import Replication
from helpline.sim.simulate import find_staffing, parse_target, parse_traffic, simulate
from helpline.sim.traffic import TrafficDoc

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# The Erlang C example: 100 calls per 30 minutes, AHT 180 s, 14 agents, 20 s threshold.
C_PER_HOUR, C_AHT, C_AGENTS, THRESHOLD = 200.0, 180.0, 14, 20.0

# An Erlang A case with noticeable abandonment: 20 calls a minute, AHT 60 s (20 Erlangs
# offered) on 18 agents, exponential patience of mean 60 s.
A_PER_HOUR, A_AHT, A_AGENTS, A_PATIENCE = 1200.0, 60.0, 18, 60.0


# -- helpers -----------------------------------------------------------------------------------


def one_queue_center() -> Center:
    """One queue `q` served by one group `g`, whose agents the traffic's staffing generates."""
    return parse_center({"queues": [{"id": "q", "groups": ["g"]}], "groups": [{"id": "g"}]})


def demo_center() -> Center:
    return load_center(EXAMPLES / "center.yaml")


def stream(
    to: str = "q",
    *,
    per_hour: float | None = None,
    arrivals: dict[str, Any] | None = None,
    handle: dict[str, Any] | None = None,
    patience: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "to": to,
        "arrivals": arrivals if arrivals is not None else {"poisson_per_hour": per_hour},
        "handle_time": handle if handle is not None else {"exponential_mean": 60},
    }
    if patience is not None:
        found["patience"] = {"exponential_mean": patience}
    found.update(extra)
    return found


def traffic(*streams: dict[str, Any], **fields: Any) -> TrafficDoc:
    document: dict[str, Any] = {"seed": 1, "warmup": 0, "interval": "1h", "replications": 1}
    document.update(fields)
    document["streams"] = list(streams)
    return parse_traffic(document)


def inside_ci(entry: dict[str, Any], name: str, theory: float) -> bool:
    mean, half = entry[name], entry["ci95"][name]
    return mean - half <= theory <= mean + half


def describe(entry: dict[str, Any], theory: dict[str, float]) -> str:
    return "; ".join(
        f"{name}: sim {entry[name]:.4f} ± {entry['ci95'][name]:.4f}, theory {value:.4f}"
        for name, value in theory.items()
    )


def within_sds(observed: float, expected: float, sd: float, k: float = 4.0) -> bool:
    return abs(observed - expected) <= k * sd


# -- shared runs -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def erlang_c_run() -> dict[str, Any]:
    """M/M/14: 6 replications of 60 h after a 1 h warm-up (about 72,000 callers)."""
    doc = traffic(
        stream(per_hour=C_PER_HOUR, handle={"exponential_mean": C_AHT}),
        seed=11,
        duration="61h",
        warmup="1h",
        replications=6,
        service_level_threshold=THRESHOLD,
        staffing={"g": C_AGENTS},
    )
    return simulate(one_queue_center(), doc)


@pytest.fixture(scope="module")
def erlang_a_run() -> dict[str, Any]:
    """M/M/18+M: 6 replications of 8 h after a 1 h warm-up (about 58,000 callers)."""
    doc = traffic(
        stream(per_hour=A_PER_HOUR, handle={"exponential_mean": A_AHT}, patience=A_PATIENCE),
        seed=1,
        duration="9h",
        warmup="1h",
        replications=6,
        service_level_threshold=THRESHOLD,
        staffing={"g": A_AGENTS},
    )
    return simulate(one_queue_center(), doc)


# -- 1. Erlang C -------------------------------------------------------------------------------


@pytest.mark.slow
def test_erlang_c_figures_lie_inside_the_confidence_intervals(erlang_c_run: dict[str, Any]) -> None:
    entry = erlang_c_run["queues"]["q"]
    theory = erlang_c_metrics(C_PER_HOUR / 3600, C_AHT, C_AGENTS, THRESHOLD)
    expected = {
        "p_wait": theory.p_wait,
        "service_level": theory.service_level,
        "asa_s": theory.asa_s,
        "avg_wait_s": theory.avg_wait_s,
    }
    for name, value in expected.items():
        assert inside_ci(entry, name, value), describe(entry, expected)
    # the intervals are tight enough for the comparison to mean something
    assert entry["ci95"]["p_wait"] < 0.04
    assert entry["ci95"]["service_level"] < 0.035
    assert entry["ci95"]["asa_s"] < 2.5
    assert entry["abandoned"] == 0
    assert entry["answered"] == entry["offered"]
    # about 200 calls an hour for 60 h in each replication
    assert within_sds(entry["offered"], 12_000, math.sqrt(12_000 / 6))


def test_erlang_c_prediction_is_in_the_json(erlang_c_run: dict[str, Any]) -> None:
    erlang = erlang_c_run["queues"]["q"]["erlang"]
    assert erlang["model"] == "Erlang C (M/M/n)"
    assert round(erlang["p_wait"], 4) == 0.1741
    assert round(erlang["service_level"], 4) == 0.8884
    assert round(erlang["asa_s"], 2) == 7.84
    assert erlang["abandon_rate"] == 0.0
    assert erlang["occupancy"] == pytest.approx(10 / 14)


def test_erlang_c_occupancy_is_load_over_agents(erlang_c_run: dict[str, Any]) -> None:
    group = erlang_c_run["groups"]["g"]
    assert group["agents"] == C_AGENTS
    half = group["ci95"]["occupancy"]
    assert 0 < half < 0.03
    assert group["occupancy"] - half <= 10 / 14 <= group["occupancy"] + half, group


# -- 2. Erlang A -------------------------------------------------------------------------------


@pytest.mark.slow
def test_erlang_a_figures_lie_inside_the_confidence_intervals(erlang_a_run: dict[str, Any]) -> None:
    entry = erlang_a_run["queues"]["q"]
    theory = erlang_a_metrics(A_PER_HOUR / 3600, A_AHT, A_AGENTS, THRESHOLD, A_PATIENCE)
    assert theory.p_abandon > 0.1  # a case where patience matters
    expected = {
        "p_wait": theory.p_wait,
        "abandon_rate": theory.p_abandon,
        "service_level": theory.service_level,  # answered within 20 s, over all arrivals
        "asa_s": theory.asa_s,
        "avg_wait_s": theory.avg_wait_s,
    }
    for name, value in expected.items():
        assert inside_ci(entry, name, value), describe(entry, expected)
    assert entry["ci95"]["abandon_rate"] < 0.02
    assert entry["ci95"]["service_level"] < 0.03
    assert entry["ci95"]["asa_s"] < 1.0
    # every caller either got an agent or hung up while waiting
    assert entry["answered"] + entry["abandoned"] == pytest.approx(entry["offered"])
    erlang = entry["erlang"]
    assert erlang["model"] == "Erlang A (M/M/n+M)"
    assert erlang["abandon_rate"] == pytest.approx(theory.p_abandon)
    assert erlang["service_level"] == pytest.approx(theory.service_level)
    group = erlang_a_run["groups"]["g"]
    occupancy, half = group["occupancy"], group["ci95"]["occupancy"]
    assert occupancy - half <= theory.occupancy <= occupancy + half, group


# -- 3. the JSON shape -------------------------------------------------------------------------


def test_result_shape(erlang_c_run: dict[str, Any]) -> None:
    result = erlang_c_run
    assert result["replications"] == 6
    assert result["interrupted"] is False
    assert result["service_level_threshold_s"] == THRESHOLD
    assert result["window_s"] == [3600.0, 61 * 3600.0]
    assert "callers" not in result
    entry = result["queues"]["q"]
    for name in (
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
    ):
        assert isinstance(entry[name], float | int), name
        assert not math.isnan(entry[name]), name
        assert name in entry["ci95"], name
        assert entry["ci95"][name] >= 0, name
    assert entry["p90_wait_s"] <= entry["max_wait_s"]
    assert 0 < entry["service_level"] <= 1
    assert set(entry["ewt_rase"]) >= {"ql", "hol", "les"}
    assert all(isinstance(entry["ewt_rase"][k], float) for k in ("ql", "hol", "les"))
    assert entry["ewt_samples"] > 0
    assert entry["erlang"]["model"] == "Erlang C (M/M/n)"
    intervals = entry["intervals"]
    assert [i["start_s"] for i in intervals] == [3600.0 * h for h in range(1, 61)]
    for slot in intervals:
        assert {"start_s", "offered", "service_level", "avg_queue_length"} <= set(slot)
        assert slot["offered"] > 0
        assert 0 <= slot["service_level"] <= 1
        assert slot["avg_queue_length"] >= 0
    assert any(slot["avg_queue_length"] > 0 for slot in intervals)
    histogram = entry["wait_histogram"]
    assert histogram["bin_s"] > 0 and sum(histogram["counts"]) > 0
    group = result["groups"]["g"]
    assert {"agents", "occupancy", "intervals", "ci95"} <= set(group)
    assert len(group["intervals"]) == 60
    assert all(0 <= slot["occupancy"] <= 1 for slot in group["intervals"])


def test_a_single_replication_has_no_confidence_intervals() -> None:
    doc = traffic(stream(per_hour=120), duration="2h", staffing={"g": 3})
    result = simulate(one_queue_center(), doc)
    entry = result["queues"]["q"]
    assert result["replications"] == 1
    assert "ci95" not in entry
    assert "ci95" not in result["groups"]["g"]
    assert sum(slot["offered"] for slot in entry["intervals"]) == entry["offered"]


# -- 4. arrivals and durations -----------------------------------------------------------------


def test_rates_per_hour_shape_the_offered_counts_per_interval() -> None:
    doc = traffic(
        stream(arrivals={"rates_per_hour": [300, 1200]}, handle={"constant": 10}),
        seed=4,
        duration="2h",
        interval="1h",
        staffing={"g": 10},
    )
    entry = simulate(one_queue_center(), doc)["queues"]["q"]
    first, second = (slot["offered"] for slot in entry["intervals"])
    assert within_sds(first, 300, math.sqrt(300))
    assert within_sds(second, 1200, math.sqrt(1200))
    assert 3.0 <= second / first <= 5.3
    assert first + second == entry["offered"]


def test_csv_arrivals_are_replayed_exactly(tmp_path: Path) -> None:
    times = [1.5, 30.0, 30.0, 599.9, 600.0, 601.25, 1800.0, 2500.5, 3599.0, 3600.0, 4000.0]
    shuffled = times[::2] + times[1::2]  # not in order: the replay sorts them
    (tmp_path / "arrivals.csv").write_text(
        "time\n" + "".join(f"{t}\n" for t in shuffled), encoding="utf-8"
    )
    doc = traffic(
        stream(arrivals={"csv": "arrivals.csv"}, handle={"constant": 5}),
        duration="1h",
        warmup="10m",
        keep_callers=True,
        staffing={"g": 2},
    )
    result = simulate(one_queue_center(), doc, base=tmp_path)
    measured = [t for t in times if 600.0 <= t < 3600.0]
    assert result["queues"]["q"]["offered"] == len(measured) == 5
    assert sorted(c["arrived_at"] for c in result["callers"]) == measured


def test_empirical_handle_time_draws_from_the_csv(tmp_path: Path) -> None:
    (tmp_path / "aht.csv").write_text("handle_time\n30\n90\n", encoding="utf-8")
    doc = traffic(
        stream(per_hour=600, handle={"empirical": "aht.csv"}),
        seed=2,
        calls=2000,
        keep_callers=True,
        staffing={"g": 30},
    )
    callers = simulate(one_queue_center(), doc, base=tmp_path)["callers"]
    talks = [c["talk_s"] for c in callers if c["result"] == "answered"]
    assert len(talks) == 2000
    assert {round(t, 6) for t in talks} == {30.0, 90.0}
    share = sum(1 for t in talks if t < 60) / len(talks)
    assert within_sds(share, 0.5, math.sqrt(0.25 / len(talks)))


def test_lognormal_handle_time_has_the_given_mean_and_sd() -> None:
    doc = traffic(
        stream(per_hour=600, handle={"lognormal": {"mean": "240s", "sd": "120s"}}),
        seed=3,
        calls=3000,
        keep_callers=True,
        staffing={"g": 60},
    )
    result = simulate(one_queue_center(), doc)
    talks = [c["talk_s"] for c in result["callers"] if c["result"] == "answered"]
    assert len(talks) == 3000
    assert within_sds(statistics.fmean(talks), 240.0, 120.0 / math.sqrt(len(talks)))
    assert 100.0 <= statistics.stdev(talks) <= 140.0
    assert min(talks) > 0


def test_constant_handle_time_is_constant_and_sets_occupancy() -> None:
    doc = traffic(
        stream(per_hour=360, handle={"constant": "30s"}),
        seed=5,
        duration="10h",
        warmup="30m",
        keep_callers=True,
        staffing={"g": 5},
    )
    result = simulate(one_queue_center(), doc)
    talks = [c["talk_s"] for c in result["callers"]]
    assert talks and all(t == pytest.approx(30.0) for t in talks)
    # 360 an hour x 30 s = 3 Erlangs on 5 agents: occupancy about 0.6
    occupancy = result["groups"]["g"]["occupancy"]
    offered = result["queues"]["q"]["offered"]
    assert occupancy == pytest.approx(offered * 30.0 / (5 * 9.5 * 3600), abs=0.01)
    assert within_sds(occupancy, 0.6, 0.6 / math.sqrt(360 * 9.5))


# -- 5. IVR streams ----------------------------------------------------------------------------


def test_ivr_keys_split_callers_between_queues_in_proportion() -> None:
    n = 3000
    doc = traffic(
        stream(
            "+18005550100",
            per_hour=600,
            handle={"constant": "30s"},
            keys={
                "language": {"1": 0.7, "2": 0.3},
                "menu_en": {"1": 0.4, "2": 0.6},
                "menu_es": {"1": 0.5, "2": 0.5},
            },
        ),
        seed=6,
        calls=n,
        staffing={"group1": 10, "group2": 10, "group3": 10},
    )
    queues = simulate(demo_center(), doc)["queues"]
    offered = {q: queues[q]["offered"] for q in queues}
    assert sum(offered.values()) == n
    expected = {
        "sales_en": 0.7 * 0.4,
        "support": 0.7 * 0.6 + 0.3 * 0.5,
        "sales_es": 0.3 * 0.5,
    }
    for queue_id, p in expected.items():
        sd = math.sqrt(n * p * (1 - p))
        assert within_sds(offered[queue_id], n * p, sd), (queue_id, offered)
    # callers through the IVR are no Erlang case
    assert all(queues[q]["erlang"]["model"] is None for q in queues)


# -- 6. calls: N -------------------------------------------------------------------------------


def test_calls_stops_after_n_arrivals() -> None:
    doc = traffic(stream(per_hour=600, handle={"constant": 20}), calls=1234, staffing={"g": 6})
    result = simulate(one_queue_center(), doc)
    assert result["queues"]["q"]["offered"] == 1234
    assert result["callers_simulated"] == 1234
    replication = Replication(one_queue_center(), doc, seed=1, base=Path("."))
    replication.run()
    assert replication.arrived == 1234


def test_calls_with_two_streams_counts_arrivals_across_streams() -> None:
    center = parse_center(
        {
            "queues": [{"id": "a", "groups": ["g"]}, {"id": "b", "groups": ["g"]}],
            "groups": [{"id": "g"}],
        }
    )
    doc = traffic(
        stream("a", per_hour=300, handle={"constant": 10}),
        stream("b", per_hour=100, handle={"constant": 10}),
        seed=8,
        calls=2000,
        staffing={"g": 5},
    )
    queues = simulate(center, doc)["queues"]
    assert queues["a"]["offered"] + queues["b"]["offered"] == 2000
    assert within_sds(queues["a"]["offered"], 1500, math.sqrt(2000 * 0.75 * 0.25))


# -- 7. staffing -------------------------------------------------------------------------------


def test_staffing_generates_agents_in_the_group() -> None:
    doc = traffic(
        stream(per_hour=60, handle={"exponential_mean": "180s"}),
        seed=9,
        duration="20h",
        replications=3,
        staffing={"g": 5},
    )
    staffed = Replication(one_queue_center(), doc, seed=1, base=Path(".")).center
    members = staffed.groups["g"].agents
    assert len(members) == 5 == len(set(members))
    assert all(agent in staffed.agents for agent in members)
    group = simulate(one_queue_center(), doc)["groups"]["g"]
    assert group["agents"] == 5
    # 60 an hour x 180 s = 3 Erlangs on 5 agents
    half = group["ci95"]["occupancy"]
    assert group["occupancy"] - half <= 0.6 <= group["occupancy"] + half, group
    assert half < 0.05


def test_staffing_an_unknown_group_is_an_error_naming_it() -> None:
    doc = traffic(stream(per_hour=60), duration="1h", staffing={"nope": 2})
    with pytest.raises(ConfigError) as raised:
        simulate(one_queue_center(), doc)
    assert "staffing.nope" in str(raised.value)


# -- 8. find_staffing --------------------------------------------------------------------------


@pytest.mark.slow
def test_find_staffing_returns_the_smallest_staffing_meeting_the_target() -> None:
    doc = traffic(
        stream(per_hour=C_PER_HOUR, handle={"exponential_mean": C_AHT}),
        seed=5,
        duration="30h",
        warmup="1h",
        replications=2,
        service_level_threshold=THRESHOLD,
        staffing={"g": 1},
    )
    target = parse_target("service_level>=0.8")
    found = find_staffing(one_queue_center(), doc, target)
    tried = {int(k): v for k, v in found["tried"].items()}
    agents = found["agents"]
    assert found["group"] == "g" and found["queue"] == "q"
    assert target.met(tried[agents]) and found["figure"] == tried[agents]
    assert agents - 1 in tried  # the search looked one below its answer, and it fell short
    assert not target.met(tried[agents - 1])
    assert found["erlang_agents"] == agents_for_service_level(C_PER_HOUR / 3600, C_AHT, 20, 0.8)
    assert found["erlang_agents"] == 14  # Erlang C: 13 agents give 0.7956, 14 give 0.8884
    assert abs(agents - found["erlang_agents"]) <= 1


def test_parse_target() -> None:
    target = parse_target("support.asa_s<=30")
    assert (target.queue, target.metric, target.op, target.value) == ("support", "asa_s", "<=", 30)
    assert target.met(30) and not target.met(30.1) and not target.met(math.nan)
    with pytest.raises(ConfigError):
        parse_target("happiness>=1")


# -- 9. Ctrl-C ---------------------------------------------------------------------------------


def test_ctrl_c_returns_what_ran() -> None:
    doc = traffic(
        stream(per_hour=600, handle={"exponential_mean": "24s"}),
        seed=3,
        duration="20h",
        replications=2,
        staffing={"g": 5},
    )
    seen: list[float] = []

    def progress(fraction: float) -> None:
        seen.append(fraction)
        if fraction >= 0.25 and not any(f >= 0.25 for f in seen[:-1]):
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of the run

    result = simulate(one_queue_center(), doc, progress=progress)
    assert result["interrupted"] is True
    assert result["replications"] == 1  # the second replication never started
    entry = result["queues"]["q"]
    assert entry["offered"] > 0 and entry["answered"] > 0
    start, end = result["window_s"]
    assert start == 0.0
    # the window ends where the run stopped: at the arrival that last reported progress,
    # half-way or more into the first of two replications
    stopped_at = seen[-2]  # the last call is the final progress(1.0)
    assert seen[-1] == 1.0 and 0.25 <= stopped_at < 0.5
    assert end == pytest.approx(2 * stopped_at * 20 * 3600)
    # the figures cover the time that ran: 600 an hour x 24 s = 4 Erlangs on 5 agents
    assert within_sds(entry["offered"], 600 * end / 3600, math.sqrt(600 * end / 3600))
    assert result["groups"]["g"]["occupancy"] == pytest.approx(0.8, abs=0.05)


# -- 10. memory --------------------------------------------------------------------------------


def test_callers_are_streamed_not_kept() -> None:
    doc = traffic(
        stream(per_hour=600, handle={"exponential_mean": "24s"}, patience=60),
        seed=4,
        duration="5h",
        staffing={"g": 4},
    )
    replication = Replication(one_queue_center(), doc, seed=4, base=Path("."))
    collector = replication.run()
    assert replication.arrived > 2500
    # every caller's state is dropped once its record is folded into the statistics
    assert replication.callers == {}
    assert replication.pending == 0
    assert not replication.engine.calls
    assert collector.callers is None
    assert "callers" not in simulate(one_queue_center(), doc)


def test_keep_callers_keeps_every_caller() -> None:
    doc = traffic(
        stream(per_hour=600, handle={"exponential_mean": "24s"}),
        seed=4,
        duration="1h",
        keep_callers=True,
        staffing={"g": 6},
    )
    result = simulate(one_queue_center(), doc)
    callers = result["callers"]
    assert len(callers) == result["queues"]["q"]["offered"]
    assert {"call_id", "queue", "arrived_at", "wait_s", "talk_s", "result"} <= set(callers[0])
