"""Readable tables of a simulation's results, for the terminal (rich)."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table


def _num(value: Any, digits: int = 1, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if percent:
        return f"{100 * value:.{digits}f}%"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and digits == 0):
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def _with_ci(entry: dict[str, Any], name: str, digits: int = 1, percent: bool = False) -> str:
    text = _num(entry.get(name), digits, percent)
    ci = entry.get("ci95", {}).get(name)
    if ci is not None and not math.isnan(ci):
        text += f" ± {_num(ci, digits, percent)}"
    return text


def print_results(result: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    threshold = result["service_level_threshold_s"]
    reps = result["replications"]
    title = f"Queues ({reps} replication{'s' if reps != 1 else ''}"
    title += ", 95% confidence intervals)" if reps > 1 else ")"
    table = Table(title=title)
    for column in (
        "queue",
        "offered",
        "answered",
        "abandoned",
        f"SL ({threshold:g} s)",
        "P(wait)",
        "ASA s",
        "avg wait s",
        "p90 wait s",
        "max wait s",
    ):
        table.add_column(  # the queue id is never cut short, even in 80 columns
            column, justify="left" if column == "queue" else "right", no_wrap=column == "queue"
        )
    for queue_id, entry in result["queues"].items():
        table.add_row(
            queue_id,
            _with_ci(entry, "offered", 0),
            _with_ci(entry, "answered", 0),
            _with_ci(entry, "abandoned", 0),
            _with_ci(entry, "service_level", 1, percent=True),
            _with_ci(entry, "p_wait", 1, percent=True),
            _with_ci(entry, "asa_s", 2),
            _with_ci(entry, "avg_wait_s", 2),
            _with_ci(entry, "p90_wait_s", 1),
            _with_ci(entry, "max_wait_s", 1),
        )
    console.print(table)

    erlang = Table(title="Simulated vs queueing theory")
    for column in ("queue", "model", "figure", "simulated", "theory"):
        erlang.add_column(
            column, justify="left" if column in ("queue", "model", "figure") else "right"
        )
    for queue_id, entry in result["queues"].items():
        theory = entry.get("erlang", {})
        if not theory.get("model"):
            erlang.add_row(queue_id, "-", theory.get("why_not", ""), "", "")
            continue
        for name, label, percent in (
            ("p_wait", "P(wait)", True),
            ("service_level", "service level", True),
            ("asa_s", "ASA s", False),
            ("abandon_rate", "abandoned", True),
        ):
            erlang.add_row(
                queue_id,
                theory["model"],
                label,
                _with_ci(entry, name, 2, percent),
                _num(theory[name], 2, percent),
            )
    console.print(erlang)

    groups = Table(title="Groups")
    for column in ("group", "agents", "occupancy"):
        groups.add_column(column, justify="left" if column == "group" else "right")
    for group_id, entry in result["groups"].items():
        groups.add_row(group_id, str(entry["agents"]), _with_ci(entry, "occupancy", 1, True))
    console.print(groups)

    ewt = Table(title="Estimated wait accuracy (RASE: mean squared error / squared mean wait)")
    for column in ("queue", "delayed callers", "QL", "HOL", "LES"):
        ewt.add_column(
            column, justify="left" if column == "queue" else "right", no_wrap=column == "queue"
        )
    for queue_id, entry in result["queues"].items():
        rase = entry["ewt_rase"]
        ewt.add_row(
            queue_id,
            _num(entry["ewt_samples"], 0),
            *(_num(rase[name], 1, percent=True) for name in ("ql", "hol", "les")),
        )
    console.print(ewt)
    if result.get("interrupted"):
        console.print("[yellow]Interrupted: these figures cover only what ran.[/yellow]")


def print_staffing(found: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"Staffing for {found['queue']}: {found['target']}")
    table.add_column("agents in " + found["group"], justify="right")
    table.add_column(found["target"].split("<")[0].split(">")[0], justify="right")
    for agents, figure in found["tried"].items():
        mark = " ◀" if int(agents) == found["agents"] else ""
        table.add_row(agents + mark, _num(figure, 3))
    console.print(table)
    erlang = found.get("erlang_agents")
    console.print(
        f"By simulation: [bold]{found['agents']}[/bold] agents"
        + (f"; Erlang answer: [bold]{erlang}[/bold]" if erlang is not None else "")
    )
