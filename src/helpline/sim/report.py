"""`--report report.html`: one self-contained HTML file with charts (inline SVG, no scripts).

Charts: the wait-time distribution, queue length over time, service level per interval and
occupancy per group, plus the tables of the terminal output.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

_COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")
_W, _H, _PAD = 640, 260, 44


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2g}"


def _axes(x_label: str, y_label: str, y_max: float, x_ticks: Sequence[tuple[float, str]]) -> str:
    parts = [
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - 10}" y2="{_H - _PAD}" stroke="#999"/>',
        f'<line x1="{_PAD}" y1="10" x2="{_PAD}" y2="{_H - _PAD}" stroke="#999"/>',
        f'<text x="{_W / 2}" y="{_H - 6}" text-anchor="middle">{html.escape(x_label)}</text>',
        f'<text x="12" y="{_H / 2}" transform="rotate(-90 12 {_H / 2})" '
        f'text-anchor="middle">{html.escape(y_label)}</text>',
    ]
    for i in range(5):
        value = y_max * i / 4
        y = _H - _PAD - (_H - _PAD - 10) * i / 4
        parts.append(f'<text x="{_PAD - 4}" y="{y + 4}" text-anchor="end">{_fmt(value)}</text>')
        parts.append(f'<line x1="{_PAD}" y1="{y}" x2="{_W - 10}" y2="{y}" stroke="#eee"/>')
    for x, label in x_ticks:
        parts.append(f'<text x="{x}" y="{_H - _PAD + 14}" text-anchor="middle">{label}</text>')
    return "".join(parts)


def bar_chart(title: str, counts: Sequence[float], bin_width: float, x_label: str) -> str:
    top = max(counts, default=0) or 1
    width = (_W - _PAD - 10) / max(len(counts), 1)
    bars = []
    for i, count in enumerate(counts):
        height = (_H - _PAD - 10) * count / top
        bars.append(
            f'<rect x="{_PAD + i * width:.1f}" y="{_H - _PAD - height:.1f}" '
            f'width="{max(width - 1, 1):.1f}" height="{height:.1f}" fill="{_COLORS[0]}">'
            f"<title>{i * bin_width:g}-{(i + 1) * bin_width:g} s: {count:g}</title></rect>"
        )
    step = max(1, len(counts) // 8)
    ticks = [(_PAD + i * width, f"{i * bin_width:g}") for i in range(0, len(counts), step)]
    return _svg(title, _axes(x_label, "callers", top, ticks) + "".join(bars), [])


def line_chart(
    title: str,
    series: dict[str, Sequence[tuple[float, float]]],
    *,
    y_label: str,
    y_max: float | None = None,
) -> str:
    points = [p for line in series.values() for p in line if not math.isnan(p[1])]
    if not points:
        return _svg(title, "<text x='50' y='50'>no data</text>", [])
    x_min = min(p[0] for p in points)
    x_max = max(p[0] for p in points)
    top = y_max if y_max is not None else (max(p[1] for p in points) or 1) * 1.1
    span = (x_max - x_min) or 1

    def xy(x: float, y: float) -> str:
        px = _PAD + (_W - _PAD - 10) * (x - x_min) / span
        py = _H - _PAD - (_H - _PAD - 10) * min(y, top) / top
        return f"{px:.1f},{py:.1f}"

    lines = []
    for color, (name, line) in zip(_COLORS, series.items(), strict=False):
        kept = [xy(x, y) for x, y in line if not math.isnan(y)]
        lines.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(kept)}">'
            f"<title>{html.escape(name)}</title></polyline>"
        )
    ticks = [
        (_PAD + (_W - _PAD - 10) * i / 6, f"{(x_min + span * i / 6) / 3600:.1f} h")
        for i in range(7)
    ]
    legend = list(zip(series, _COLORS, strict=False))
    return _svg(title, _axes("time", y_label, top, ticks) + "".join(lines), legend)


def _svg(title: str, body: str, legend: list[tuple[str, str]]) -> str:
    keys = "".join(
        f'<span class="key"><i style="background:{color}"></i>{html.escape(name)}</span>'
        for name, color in legend
    )
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{html.escape(title)}">{body}</svg><div>{keys}</div></figure>'
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pct(value: Any) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def _sec(value: Any) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1f}"


def render_report(result: dict[str, Any], *, title: str = "Helpline simulation") -> str:
    queues = result["queues"]
    rows = [
        [
            q,
            f"{e['offered']:,.0f}",
            f"{e['answered']:,.0f}",
            f"{e['abandoned']:,.0f}",
            _pct(e["service_level"]),
            _sec(e["asa_s"]),
            _sec(e["avg_wait_s"]),
            _sec(e["p90_wait_s"]),
            _sec(e["max_wait_s"]),
        ]
        for q, e in queues.items()
    ]
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{result['replications']} replication(s); service level threshold "
        f"{result['service_level_threshold_s']:g} s.</p>",
        _table(
            [
                "queue",
                "offered",
                "answered",
                "abandoned",
                "service level",
                "ASA s",
                "avg wait s",
                "p90 wait s",
                "max wait s",
            ],
            rows,
        ),
    ]
    theory = [
        [
            q,
            e["erlang"]["model"],
            _pct(e["p_wait"]),
            _pct(e["erlang"]["p_wait"]),
            _pct(e["service_level"]),
            _pct(e["erlang"]["service_level"]),
            _sec(e["asa_s"]),
            _sec(e["erlang"]["asa_s"]),
        ]
        for q, e in queues.items()
        if e["erlang"].get("model")
    ]
    if theory:
        parts.append("<h2>Simulated vs queueing theory</h2>")
        parts.append(
            _table(
                [
                    "queue",
                    "model",
                    "P(wait) sim",
                    "P(wait) theory",
                    "SL sim",
                    "SL theory",
                    "ASA sim",
                    "ASA theory",
                ],
                theory,
            )
        )
    parts.append("<h2>Charts</h2>")
    for queue_id, entry in queues.items():
        histogram = entry["wait_histogram"]
        parts.append(
            bar_chart(
                f"{queue_id}: wait-time distribution (answered and abandoned)",
                histogram["counts"],
                histogram["bin_s"],
                "wait (s)",
            )
        )
        intervals = entry["intervals"]
        parts.append(
            line_chart(
                f"{queue_id}: queue length over time",
                {
                    "average waiting": [(i["start_s"], i["avg_queue_length"]) for i in intervals],
                    "most waiting": [
                        (i["start_s"], float(i["max_queue_length"])) for i in intervals
                    ],
                },
                y_label="callers waiting",
            )
        )
        parts.append(
            line_chart(
                f"{queue_id}: service level per interval",
                {"service level": [(i["start_s"], i["service_level"]) for i in intervals]},
                y_label="service level",
                y_max=1.0,
            )
        )
    occupancy: dict[str, Sequence[tuple[float, float]]] = {
        group: [(i["start_s"], i["occupancy"]) for i in entry["intervals"]]
        for group, entry in result["groups"].items()
    }
    parts.append(line_chart("Occupancy per group", occupancy, y_label="occupancy", y_max=1.0))
    style = (
        "body{font:14px system-ui,sans-serif;margin:2em;color:#111}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;"
        "text-align:right}th{background:#f3f4f6}td:first-child{text-align:left}"
        "figure{display:inline-block;margin:1em}figcaption{font-weight:600}"
        "svg text{font-size:11px;fill:#333}.key{margin-right:1em}"
        ".key i{display:inline-block;width:10px;height:10px;margin-right:4px}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )
