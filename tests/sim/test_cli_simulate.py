"""`helpline simulate` and `helpline config check` from the command line (`cli.main`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpline.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CENTER = str(EXAMPLES / "center.yaml")
TRAFFIC = str(EXAMPLES / "traffic.yaml")
QUEUES = ("sales_en", "support", "sales_es")

# -- helpers -----------------------------------------------------------------------------------


def example_traffic() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((EXAMPLES / "traffic.yaml").read_text("utf-8"))
    return document


def write_yaml(path: Path, document: Any) -> str:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return str(path)


def one_queue_files(tmp_path: Path) -> tuple[str, str]:
    """A one-queue center and a short Erlang C traffic for it."""
    center = write_yaml(
        tmp_path / "center.yaml",
        {"queues": [{"id": "help", "groups": ["desk"]}], "groups": [{"id": "desk"}]},
    )
    traffic = write_yaml(
        tmp_path / "traffic.yaml",
        {
            "seed": 7,
            "duration": "4h",
            "interval": "30m",
            "staffing": {"desk": 4},
            "streams": [
                {
                    "to": "help",
                    "arrivals": {"poisson_per_hour": 60},
                    "handle_time": {"exponential_mean": "3m"},
                }
            ],
        },
    )
    return center, traffic


# -- simulate ----------------------------------------------------------------------------------


def test_json_output_is_valid_json(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["simulate", CENTER, TRAFFIC, "--json", "--quiet", "--replications", "1"])
    out = capsys.readouterr().out
    assert status == 0
    result = json.loads(out)  # NaN would not parse as strict JSON either way
    assert "NaN" not in out
    assert result["replications"] == 1
    assert result["interrupted"] is False
    assert set(result["queues"]) == set(QUEUES)
    assert set(result["groups"]) == {"group1", "group2", "group3"}
    assert result["groups"]["group2"]["agents"] == 6  # staffing: {group2: 6, group3: 4}
    assert result["groups"]["group3"]["agents"] == 4
    for entry in result["queues"].values():
        assert entry["offered"] > 0
        assert 0 <= entry["service_level"] <= 1
        assert entry["intervals"]
    assert result["callers_simulated"] == sum(e["offered"] for e in result["queues"].values())


def test_json_is_the_same_for_the_same_seed(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", CENTER, TRAFFIC, "--json", "--quiet", "--replications", "1"]
    main([*args, "--seed", "3"])
    first = json.loads(capsys.readouterr().out)
    main([*args, "--seed", "3"])
    again = json.loads(capsys.readouterr().out)
    main([*args, "--seed", "4"])
    other = json.loads(capsys.readouterr().out)
    assert first == again
    assert first["queues"] != other["queues"]


def test_erlang_figures_in_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    center, traffic = one_queue_files(tmp_path)
    assert main(["simulate", center, traffic, "--json", "--quiet"]) == 0
    entry = json.loads(capsys.readouterr().out)["queues"]["help"]
    assert entry["erlang"]["model"] == "Erlang C (M/M/n)"
    assert entry["erlang"]["abandon_rate"] == 0.0
    assert entry["erlang"]["occupancy"] == pytest.approx(0.75)


def test_report_is_one_self_contained_html_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    center, traffic = one_queue_files(tmp_path)
    report = tmp_path / "report.html"
    status = main(["simulate", center, traffic, "--quiet", "--report", str(report)])
    assert status == 0
    assert "report written" in capsys.readouterr().err
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and text.rstrip().endswith("</html>")
    # one queue: its wait-time distribution, queue length and service level; occupancy per group
    assert text.count("<svg") == 4
    for title in (
        "help: wait-time distribution",
        "help: queue length over time",
        "help: service level per interval",
        "Occupancy per group",
    ):
        assert re.search(rf"<figcaption>{re.escape(title)}[^<]*</figcaption><svg", text), title
    # self-contained: nothing fetched from elsewhere, no scripts
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.IGNORECASE)
    assert "<script" not in text.lower()
    assert "<link" not in text.lower()
    assert "Erlang C (M/M/n)" in text  # the simulated vs theory table


def test_report_of_the_example_has_charts_for_every_queue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "example.html"
    args = ["simulate", CENTER, TRAFFIC, "--quiet", "--replications", "1", "--report", str(report)]
    assert main(args) == 0
    capsys.readouterr()
    text = report.read_text(encoding="utf-8")
    assert text.count("<svg") == 3 * len(QUEUES) + 1
    for queue_id in QUEUES:
        assert f"{queue_id}: wait-time distribution" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.IGNORECASE)


def test_readable_output_names_each_queue_and_group(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # a narrow terminal (and what rich uses for a pipe)
    status = main(["simulate", CENTER, TRAFFIC, "--quiet", "--replications", "2"])
    out = capsys.readouterr().out
    assert status == 0
    queues_table, rest = out.split("Simulated vs queueing theory")
    assert "95% confidence intervals" in queues_table
    for name in QUEUES:  # in full in the queues table, even 80 columns wide
        assert re.search(rf"\b{name}\b", queues_table), queues_table
    for name in ("group1", "group2", "group3"):
        assert re.search(rf"\b{name}\b", rest), name


def test_find_staffing_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    center, traffic = one_queue_files(tmp_path)
    args = ["simulate", center, traffic, "--quiet", "--json"]
    assert main([*args, "--find-staffing", "service_level>=0.7", "--replications", "2"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["group"] == "desk" and found["queue"] == "help"
    assert found["target"] == "service_level>=0.7"
    tried = {int(k): v for k, v in found["tried"].items()}
    assert tried[found["agents"]] >= 0.7
    assert found["agents"] - 1 in tried and tried[found["agents"] - 1] < 0.7
    assert isinstance(found["erlang_agents"], int)


def test_a_bad_target_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    center, traffic = one_queue_files(tmp_path)
    assert main(["simulate", center, traffic, "--quiet", "--find-staffing", "joy>=1"]) == 2
    assert "--find-staffing" in capsys.readouterr().err


def test_a_bad_traffic_field_exits_2_naming_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = example_traffic()
    document["streams"][0]["handle_time"] = {"exponential_mean": -3}
    traffic = write_yaml(tmp_path / "traffic.yaml", document)
    assert main(["simulate", CENTER, traffic, "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "streams[0].handle_time.exponential_mean" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_an_unknown_field_in_traffic_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = example_traffic()
    document["streams"][1]["patinece"] = {"exponential_mean": "4m"}
    traffic = write_yaml(tmp_path / "traffic.yaml", document)
    assert main(["simulate", CENTER, traffic, "--quiet"]) == 2
    assert "streams[1].patinece" in capsys.readouterr().err


def test_an_unknown_queue_in_to_exits_2_naming_the_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = example_traffic()
    document["streams"][1]["to"] = "no_such_queue"
    traffic = write_yaml(tmp_path / "traffic.yaml", document)
    assert main(["simulate", CENTER, traffic, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "streams[1].to" in err
    assert "no_such_queue" in err


def test_a_missing_traffic_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", CENTER, str(tmp_path / "absent.yaml"), "--quiet"]) == 2
    assert "absent.yaml" in capsys.readouterr().err


def test_simulate_help_shows_find_staffing_and_examples(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "--find-staffing" in out
    assert "examples:" in out
    assert "helpline simulate examples/center.yaml examples/traffic.yaml" in out


# -- config check ------------------------------------------------------------------------------


def test_config_check_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", CENTER]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "3 queues" in out and "3 groups" in out


def test_config_check_names_an_unknown_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    center = write_yaml(
        tmp_path / "center.yaml",
        {"queues": [{"id": "q", "groups": ["ghost"]}], "groups": [{"id": "g"}]},
    )
    assert main(["config", "check", center]) == 2
    err = capsys.readouterr().err
    assert re.search(r"queues(\[0\]|\.q)\.groups\[0\]\.group", err), err
    assert "unknown group" in err


def test_config_check_names_a_bad_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    center = write_yaml(
        tmp_path / "center.yaml",
        {"queues": [{"id": "q", "groups": ["g"], "max_size": -1}], "groups": [{"id": "g"}]},
    )
    assert main(["config", "check", center]) == 2
    assert "queues[0].max_size" in capsys.readouterr().err
