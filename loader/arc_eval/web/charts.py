"""Plotly figures (as JSON-ready dicts) for the dashboard's pages, drawn in the browser by plotly.js.

Every figure titles both axes with their units. Each configuration keeps one colour on every chart
and table (:class:`Palette`, fixed by the configurations' order by name, not by what a filter shows).
A point's ``customdata`` is the URL of the runs behind it; clicking it opens that URL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

# Tableau 10: distinguishable, and readable for the common colour-vision deficiencies.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
CLUSTER_PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


class Palette:
    """One colour per configuration, from the order of all configurations by name."""

    def __init__(self, configurations: Iterable[Mapping[str, Any]]) -> None:
        self.colours = {str(c["config_id"]): PALETTE[i % len(PALETTE)] for i, c in enumerate(configurations)}

    def __call__(self, config_id: Any) -> str:
        return self.colours.get(str(config_id), "#777777")


def _f(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, (int, float, Decimal)) else value


def _day(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def to_json(figure: Mapping[str, Any]) -> str:
    """The figure as JSON safe to put in an HTML attribute (Jinja escapes it)."""
    return json.dumps(figure, default=lambda v: float(v) if isinstance(v, Decimal) else str(v))


def _layout(x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    layout = {
        "margin": {"l": 70, "r": 20, "t": 30, "b": 60},
        "height": 320,
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.25},
        "xaxis": {"title": {"text": x_title}, "automargin": True},
        "yaxis": {"title": {"text": y_title}, "automargin": True},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#fafafa",
    }
    for key, value in extra.items():
        if key in ("xaxis", "yaxis"):
            layout[key].update(value)
        else:
            layout[key] = value
    return layout


def _markers(markers: Sequence[Mapping[str, Any]], palette: Palette) -> dict[str, Any]:
    """Vertical dotted lines on the first day each version ran, labelled (not the first version shown)."""
    shapes, notes = [], []
    firsts: dict[str, int] = {}  # each configuration's earliest version shown: no change to mark
    for mk in markers:
        key = str(mk["config_id"])
        firsts[key] = min(firsts.get(key, mk["version_number"]), mk["version_number"])
    changes = [mk for mk in markers if mk["version_number"] != firsts[str(mk["config_id"])]]
    for i, mk in enumerate(changes):
        colour = palette(mk["config_id"])
        day = _day(mk["first_day"])
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": day,
                "x1": day,
                "y0": 0,
                "y1": 1,
                "line": {"color": colour, "width": 1, "dash": "dot"},
            }
        )
        notes.append(
            {
                "x": day,
                "y": 1.0 - 0.09 * (i % 4),
                "xref": "x",
                "yref": "paper",
                "text": f"{mk['config_name']} v{mk['version_number']}",
                "showarrow": False,
                "xanchor": "left",
                "font": {"size": 10, "color": colour},
                "bgcolor": "rgba(255,255,255,0.7)",
            }
        )
    return {"shapes": shapes, "annotations": notes}


def overview_figures(
    per_day: Sequence[Mapping[str, Any]],
    markers: Sequence[Mapping[str, Any]],
    palette: Palette,
    run_url: Any,
) -> dict[str, dict[str, Any]]:
    """The overview's trend charts: success, reliability, cost, tokens and latency per configuration."""
    series: dict[str, list[Mapping[str, Any]]] = {key: [] for key in palette.colours}  # legend order
    names: dict[str, str] = {}
    for r in per_day:
        key = str(r["config_id"])
        series.setdefault(key, []).append(r)
        names[key] = r["config_name"]
    series = {k: rs for k, rs in series.items() if rs}
    marks = _markers(markers, palette)

    def trace(key: str, rs: list[Mapping[str, Any]], y: str, **extra: Any) -> dict[str, Any]:
        t = {
            "type": "scatter",
            "mode": "lines+markers",
            "name": names[key],
            "legendgroup": key,
            "x": [_day(r["day"]) for r in rs],
            "y": [_f(r.get(y)) for r in rs],
            "line": {"color": palette(key)},
            "marker": {"color": palette(key), "size": 7},
            "customdata": [run_url(key, _day(r["day"])) for r in rs],
            "text": [f"n = {int(r['executions'])} runs" for r in rs],
        }
        t.update(extra)
        return t

    def interval(rs: list[Mapping[str, Any]], value: str, low: str, high: str) -> dict[str, Any]:
        return {
            "type": "data",
            "symmetric": False,
            "array": [_f(r[high]) - _f(r[value]) if r[value] is not None else None for r in rs],
            "arrayminus": [_f(r[value]) - _f(r[low]) if r[value] is not None else None for r in rs],
            "thickness": 1,
            "width": 2,
        }

    x_title = "day (UTC)"
    figures: dict[str, dict[str, Any]] = {}
    figures["success"] = {
        "data": [
            trace(
                k,
                rs,
                "success_rate",
                error_y=interval(rs, "success_rate", "success_low", "success_high"),
                hovertemplate="%{x}<br>success %{y:.1%}<br>%{text}<extra>%{fullData.name}</extra>",
            )
            for k, rs in series.items()
        ],
        "layout": _layout(x_title, "success rate (% of runs)", yaxis={"tickformat": ".0%"}, **marks),
    }
    figures["reliability"] = {
        "data": [
            trace(
                k,
                rs,
                "reliability",
                error_y=interval(rs, "reliability", "reliability_low", "reliability_high"),
                hovertemplate="%{x}<br>reliability %{y:.3f}<br>%{text}<extra>%{fullData.name}</extra>",
            )
            for k, rs in series.items()
        ],
        "layout": _layout(x_title, "mean reliability (score 0-1)", **marks),
    }
    figures["cost"] = {
        "data": [
            trace(
                k, rs, "cost_usd", hovertemplate="%{x}<br>$%{y:.4f}<br>%{text}<extra>%{fullData.name}</extra>"
            )
            for k, rs in series.items()
        ],
        "layout": _layout(x_title, "cost (USD per day)", yaxis={"tickprefix": "$"}, **marks),
    }
    figures["tokens"] = {
        "data": [
            trace(
                k,
                rs,
                "tokens_per_run",
                hovertemplate="%{x}<br>%{y:,.0f} tokens per run<br>%{text}<extra>%{fullData.name}</extra>",
            )
            for k, rs in series.items()
        ],
        "layout": _layout(x_title, "tokens per run (mean)", **marks),
    }
    latency = []
    for k, rs in series.items():
        latency.append(
            trace(
                k,
                rs,
                "p50_ms",
                name=f"{names[k]} p50",
                hovertemplate="%{x}<br>p50 ≤ %{y:,.0f} ms<br>%{text}<extra>%{fullData.name}</extra>",
            )
        )
        latency.append(
            trace(
                k,
                rs,
                "p95_ms",
                name=f"{names[k]} p95",
                line={"color": palette(k), "dash": "dash"},
                marker={"color": palette(k), "size": 6, "symbol": "triangle-up"},
                hovertemplate="%{x}<br>p95 ≤ %{y:,.0f} ms<br>%{text}<extra>%{fullData.name}</extra>",
            )
        )
    figures["latency"] = {
        "data": latency,
        "layout": _layout(x_title, "latency (ms)", yaxis={"rangemode": "tozero"}, **marks),
    }
    return figures


def cluster_trend(trend: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> dict[str, Any]:
    """Failures per day of each listed cluster (the largest first)."""
    series: dict[str, list[Mapping[str, Any]]] = {}
    for r in trend:
        series.setdefault(str(r["pattern_cluster_id"]), []).append(r)
    data = []
    for i, key in enumerate(k for k in labels if k in series):
        rs = series[key]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": labels[key],
                "x": [_day(r["day"]) for r in rs],
                "y": [int(r["failures"]) for r in rs],
                "line": {"color": CLUSTER_PALETTE[i % len(CLUSTER_PALETTE)]},
                "customdata": [f"#cluster-{key}" for _ in rs],
                "hovertemplate": "%{x}<br>%{y} failures<extra>%{fullData.name}</extra>",
            }
        )
    return {"data": data, "layout": _layout("day (UTC)", "failures per day (count)", height=360)}


def version_deltas(rows: Sequence[Mapping[str, Any]], colour: str) -> dict[str, Any]:
    """Per-scenario change of mean reliability against the predecessor version."""
    paired = [r for r in rows if r.get("reliability_delta") is not None]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": [r["scenario_id"] for r in paired],
                "x": [_f(r["reliability_delta"]) for r in paired],
                "marker": {
                    "color": [colour if _f(r["reliability_delta"]) >= 0 else "#c44e52" for r in paired]
                },
                "text": [f"n = {int(r['executions'])} vs {int(r['previous_executions'])}" for r in paired],
                "hovertemplate": "%{y}<br>Δ reliability %{x:+.3f}<br>%{text}<extra></extra>",
            }
        ],
        "layout": _layout(
            "change of mean reliability vs predecessor (score points, 0-1 scale)",
            "scenario",
            height=max(220, 26 * len(paired) + 90),
            margin={"l": 200, "r": 20, "t": 20, "b": 60},
            showlegend=False,
        ),
    }


def runs_link(base: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{base}?{query}" if query else base
