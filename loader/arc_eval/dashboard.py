"""A self-contained HTML dashboard over the dbt models: inline SVG charts, no script, no network.

:func:`render` takes plain data, a mapping from model name to its rows (each row a dict of column to
value, as read from the ``arc_eval`` schema), and returns one HTML document. Every chart section holds
one ``<svg>``; a section whose model has no rows says so instead. All text from the data is escaped.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

Rows = Sequence[Mapping[str, Any]]

PALETTE = [
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
]
VERDICT_COLORS = {"regression": "#e15759", "improvement": "#59a14f", "no_significant_change": "#bab0ac"}

WIDTH, HEIGHT = 780, 280
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 180, 16, 40


def esc(value: Any) -> str:
    """HTML-escape any value's text."""
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
        return None if math.isnan(number) else number
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    return None


def _nice_max(value: float) -> float:
    """The smallest ``4 * step`` at or above ``value`` with ``step`` in 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    quarter = value / 4
    exponent = math.floor(math.log10(quarter))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= quarter * (1 - 1e-9):
            return 4 * candidate
    return 4 * 10 ** (exponent + 1)


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten at or above ``value``."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        candidate = step * 10**exponent
        if candidate >= value * (1 - 1e-9):
            return candidate
    return 10 ** (exponent + 1)


def fmt_pct(value: float) -> str:
    text = f"{value * 100:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + "%"


def fmt_usd(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.3f}"


def fmt_num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.2g}"


def _svg_open(title: str, width: int = WIDTH, height: int = HEIGHT) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{esc(title)}">',
        f"<title>{esc(title)}</title>",
    ]


def _legend(names: Sequence[str], colors: Sequence[str], x: float, y: float) -> list[str]:
    parts = []
    for i, (name, color) in enumerate(zip(names, colors, strict=False)):
        yy = y + i * 18
        parts.append(f'<rect x="{x:.1f}" y="{yy:.1f}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{x + 18:.1f}" y="{yy + 10:.1f}" class="legend">{esc(name)}</text>')
    return parts


def _y_axis(y_max: float, y_min: float, fmt: Callable[[float], str], plot_h: float) -> list[str]:
    parts = []
    for i in range(5):
        value = y_min + (y_max - y_min) * i / 4
        y = MARGIN_TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{esc(fmt(value))}</text>'
        )
    return parts


def _day_ticks(days: Sequence[date], to_x: Callable[[date], float], y: float) -> list[str]:
    if not days:
        return []
    first, last = min(days), max(days)
    span = (last - first).days
    count = min(6, span + 1)
    parts = []
    for i in range(count):
        day = first if count == 1 else date.fromordinal(first.toordinal() + round(span * i / (count - 1)))
        parts.append(
            f'<text x="{to_x(day):.1f}" y="{y:.1f}" class="tick" text-anchor="middle">{day.strftime("%b %d")}</text>'
        )
    return parts


def line_chart(
    title: str,
    series: Mapping[str, Sequence[tuple[date, float]]],
    *,
    fmt: Callable[[float], str] = fmt_num,
    y_max: float | None = None,
    markers: Sequence[tuple[date, str, str]] = (),
) -> str:
    """One line per series over days; ``markers`` ``(day, label, series name)`` draws labelled vertical
    lines in that series' colour (e.g. version changes)."""
    names = [n for n, points in series.items() if points]
    days = sorted({d for n in names for d, _ in series[n]} | {d for d, _, _ in markers})
    values = [v for n in names for _, v in series[n]]
    top = y_max if y_max is not None else _nice_max(max(values, default=0.0))
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    first = days[0].toordinal() if days else 0
    span = max(1, (days[-1].toordinal() - first) if days else 1)

    def to_x(day: date) -> float:
        return MARGIN_LEFT + plot_w * (day.toordinal() - first) / span

    def to_y(value: float) -> float:
        return MARGIN_TOP + plot_h - plot_h * min(value, top) / top

    parts = _svg_open(title)
    parts += _y_axis(top, 0.0, fmt, plot_h)
    parts += _day_ticks(days, to_x, HEIGHT - MARGIN_BOTTOM + 18)
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(names))]
    color_of = dict(zip(names, colors, strict=False))
    for i, (day, label, name) in enumerate(sorted(markers)):
        x = to_x(day)
        color = color_of.get(name, "#9aa5b1")
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_TOP}" y2="{MARGIN_TOP + plot_h}" class="marker" '
            f'stroke="{color}"><title>{esc(name)} {esc(label)} from {day.isoformat()}</title></line>'
        )
        parts.append(
            f'<text x="{x + 3:.1f}" y="{MARGIN_TOP + 10 + 11 * (i % 3)}" class="marker-label" '
            f'fill="{color}">{esc(label)}</text>'
        )
    for name, color in zip(names, colors, strict=False):
        points = sorted(series[name])
        path = " ".join(f"{to_x(d):.1f},{to_y(v):.1f}" for d, v in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for d, v in points:
            parts.append(
                f'<circle cx="{to_x(d):.1f}" cy="{to_y(v):.1f}" r="2.5" fill="{color}">'
                f"<title>{esc(name)} {d.isoformat()}: {esc(fmt(v))}</title></circle>"
            )
    parts += _legend(names, colors, WIDTH - MARGIN_RIGHT + 14, MARGIN_TOP)
    parts.append("</svg>")
    return "\n".join(parts)


def stacked_bar_chart(
    title: str,
    data: Mapping[date, Mapping[str, float]],
    *,
    fmt: Callable[[float], str] = fmt_num,
) -> str:
    """One bar per day, stacked by series."""
    days = sorted(data)
    names = sorted({name for day in days for name in data[day]})
    totals = [sum(data[d].values()) for d in days]
    top = _nice_max(max(totals, default=0.0))
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    first = days[0].toordinal() if days else 0
    span = (days[-1].toordinal() - first + 1) if days else 1
    slot = plot_w / span
    bar_w = max(2.0, slot * 0.75)

    def to_x(day: date) -> float:
        return MARGIN_LEFT + slot * (day.toordinal() - first) + slot / 2

    parts = _svg_open(title)
    parts += _y_axis(top, 0.0, fmt, plot_h)
    parts += _day_ticks(days, to_x, HEIGHT - MARGIN_BOTTOM + 18)
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    for day in days:
        y = MARGIN_TOP + plot_h
        for name in names:
            value = data[day].get(name, 0.0)
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(
                f'<rect x="{to_x(day) - bar_w / 2:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colors[name]}"><title>{esc(name)} {day.isoformat()}: {esc(fmt(value))}</title></rect>'
            )
    parts += _legend(names, [colors[n] for n in names], WIDTH - MARGIN_RIGHT + 14, MARGIN_TOP)
    parts.append("</svg>")
    return "\n".join(parts)


def hbar_chart(
    title: str,
    bars: Sequence[tuple[str, float, str]],
    *,
    fmt: Callable[[float], str] = fmt_num,
    legend: Mapping[str, str] | None = None,
) -> str:
    """Horizontal bars ``(label, value, color)``; negative values grow left of a zero line."""
    row_h = 24
    label_w = 300
    height = MARGIN_TOP + row_h * max(1, len(bars)) + 30
    plot_left = label_w
    plot_w = WIDTH - label_w - MARGIN_RIGHT
    low = min([0.0, *(v for _, v, _ in bars)])
    high = max([0.0, *(v for _, v, _ in bars)])
    extent = _nice_ceiling(max(abs(low), abs(high)))
    lo = -extent if low < 0 else 0.0
    hi = extent if high > 0 else 0.0
    if lo == hi:
        hi = 1.0

    def to_x(value: float) -> float:
        return plot_left + plot_w * (value - lo) / (hi - lo)

    parts = _svg_open(title, WIDTH, height)
    zero = to_x(0.0)
    for i, (label, value, color) in enumerate(bars):
        y = MARGIN_TOP + i * row_h
        x0, x1 = sorted((zero, to_x(value)))
        parts.append(
            f'<text x="{plot_left - 8}" y="{y + 15}" class="tick" text-anchor="end">{esc(label)}</text>'
        )
        parts.append(
            f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(1.0, x1 - x0):.1f}" height="{row_h - 8}" fill="{color}">'
            f"<title>{esc(label)}: {esc(fmt(value))}</title></rect>"
        )
        # A value sits right of its bar (positive) or right of the zero line (negative), never over a label.
        tx = x1 + 4 if value >= 0 else zero + 4
        parts.append(f'<text x="{tx:.1f}" y="{y + 15}" class="tick">{esc(fmt(value))}</text>')
    bottom = MARGIN_TOP + row_h * max(1, len(bars))
    parts.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{MARGIN_TOP}" y2="{bottom}" class="axis"/>')
    for value in (lo, hi):
        parts.append(
            f'<text x="{to_x(value):.1f}" y="{bottom + 16}" class="tick" text-anchor="middle">{esc(fmt(value))}</text>'
        )
    if legend:
        parts += _legend(list(legend), list(legend.values()), WIDTH - MARGIN_RIGHT + 14, MARGIN_TOP)
    parts.append("</svg>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# Sections


def _weighted_daily(
    rows: Rows, key: Callable[[Mapping[str, Any]], str], value: str, weight: str
) -> dict[str, list]:
    sums: dict[str, dict[date, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for row in rows:
        day, v, w = _day(row.get("day")), _num(row.get(value)), _num(row.get(weight)) or 1.0
        if day is None or v is None:
            continue
        acc = sums[key(row)][day]
        acc[0] += v * w
        acc[1] += w
    return {
        name: sorted((d, s / w) for d, (s, w) in days.items() if w) for name, days in sorted(sums.items())
    }


def _config_names(data: Mapping[str, Rows]) -> dict[str, str]:
    return {
        str(r["config_id"]): str(r.get("config_name") or r["config_id"])
        for r in data.get("config_version_performance", [])
        if r.get("config_id") is not None
    }


def section_reliability(data: Mapping[str, Rows]) -> str:
    rows = data.get("v_llm_config_performance", [])
    names = _config_names(data)
    series = _weighted_daily(
        rows,
        lambda r: names.get(str(r.get("config_id")), str(r.get("config_id"))),
        "avg_reliability",
        "total_executions",
    )
    if not series:
        series = {
            "all": _weighted_daily(
                data.get("v_dashboard_performance_trends", []),
                lambda r: "all",
                "avg_reliability",
                "total_executions",
            ).get("all", [])
        }
    markers = []
    for row in data.get("config_version_performance", []):
        first = _day(row.get("first_execution"))
        if first and (_num(row.get("version_number")) or 1) > 1:
            name = names.get(str(row.get("config_id")), str(row.get("config_id")))
            markers.append((first, f"v{int(_num(row['version_number']) or 0)}", name))
    return line_chart("Reliability per configuration, daily", series, fmt=fmt_pct, y_max=1.0, markers=markers)


def section_cost(data: Mapping[str, Rows]) -> str:
    per_day: dict[date, dict[str, float]] = defaultdict(dict)
    for row in data.get("v_dashboard_cost_analysis", []):
        day, cost = _day(row.get("day")), _num(row.get("total_cost"))
        if day is not None and cost is not None:
            model = str(row.get("model") or "unknown")
            per_day[day][model] = per_day[day].get(model, 0.0) + cost
    return stacked_bar_chart("Daily cost by model (USD)", per_day, fmt=fmt_usd)


def section_errors(data: Mapping[str, Rows]) -> str:
    series: dict[str, list[tuple[date, float]]] = {}
    overall = []
    for row in data.get("v_dashboard_performance_trends", []):
        day, total = _day(row.get("day")), _num(row.get("total_executions"))
        if day is not None and total:
            overall.append((day, (_num(row.get("error_count")) or 0.0) / total))
    names = _config_names(data)
    counts: dict[str, dict[date, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for row in data.get("v_llm_config_performance", []):
        day, total = _day(row.get("day")), _num(row.get("total_executions"))
        if day is None or not total:
            continue
        acc = counts[names.get(str(row.get("config_id")), str(row.get("config_id")))][day]
        acc[0] += _num(row.get("error_count")) or 0.0
        acc[1] += total
    for name, days in sorted(counts.items()):
        series[name] = sorted((d, e / n) for d, (e, n) in days.items())
    if overall:
        series["all configurations"] = sorted(overall)
    top = _nice_max(max((v for pts in series.values() for _, v in pts), default=0.0))
    return line_chart(
        "Error rate (status 'error') per configuration, daily", series, fmt=fmt_pct, y_max=min(1.0, top)
    )


def section_failures(data: Mapping[str, Rows]) -> str:
    per_day: dict[date, dict[str, float]] = defaultdict(dict)
    for row in data.get("failure_trends_daily", []):
        day, count = _day(row.get("day")), _num(row.get("failure_count"))
        if day is not None and count is not None:
            category = str(row.get("failure_category") or "unknown")
            per_day[day][category] = per_day[day].get(category, 0.0) + count
    return stacked_bar_chart("Failures by category, daily", per_day)


def section_tools(data: Mapping[str, Rows]) -> str:
    series = _weighted_daily(
        data.get("tool_performance_daily", []),
        lambda r: str(r.get("tool_name")),
        "avg_success_rate",
        "usage_count",
    )
    return line_chart("Tool success rate, daily", series, fmt=fmt_pct, y_max=1.0)


def section_comparison(data: Mapping[str, Rows]) -> str:
    bars = []
    for row in data.get("config_version_comparison", []):
        delta = _num(row.get("reliability_delta"))
        if delta is None:
            continue
        label = (
            f"{row.get('config_name')} v{row.get('version_number')} vs v{row.get('previous_version_number')}"
        )
        bars.append((label, delta, VERDICT_COLORS.get(str(row.get("verdict")), "#bab0ac")))
    return hbar_chart(
        "Reliability change against the previous version (paired by scenario)",
        bars,
        fmt=lambda v: f"{v * 100:+.1f} pt",
        legend={k.replace("_", " "): v for k, v in VERDICT_COLORS.items()},
    )


def section_version_performance(data: Mapping[str, Rows]) -> str:
    bars = []
    for i, row in enumerate(data.get("config_version_performance", [])):
        value = _num(row.get("avg_cost_usd"))
        if value is not None:
            label = f"{row.get('config_name')} v{row.get('version_number')} ({row.get('model')})"
            bars.append((label, value, PALETTE[i % len(PALETTE)]))
    return hbar_chart("Average cost per execution, by config version (USD)", bars, fmt=fmt_usd)


# ---------------------------------------------------------------------------------------------
# Tables


def table(rows: Rows, columns: Sequence[tuple[str, str, Callable[[Any], str] | None]]) -> str:
    """An HTML table of ``rows``; ``columns`` are ``(key, heading, formatter)``."""
    head = "".join(f"<th>{esc(h)}</th>" for _, h, _ in columns)
    body = []
    for row in rows:
        cells = []
        for key, _, formatter in columns:
            value = row.get(key)
            text = (
                formatter(value) if formatter and value is not None else ("" if value is None else str(value))
            )
            cells.append(f"<td>{esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _f(fn: Callable[[float], str]) -> Callable[[Any], str]:
    def wrapped(value: Any) -> str:
        number = _num(value)
        return "" if number is None else fn(number)

    return wrapped


def diff_block(diff: str) -> str:
    """A unified diff with added and removed lines marked up."""
    lines = []
    for line in diff.splitlines():
        cls = ""
        if line.startswith(("+++", "---")):
            cls = "hdr"
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        elif line.startswith("@@"):
            cls = "hunk"
        lines.append(f'<span class="{cls}">{esc(line)}</span>' if cls else esc(line))
    return '<pre class="diff">' + "\n".join(lines) + "</pre>"


def recommendation_cards(rows: Rows) -> str:
    if not rows:
        return '<p class="empty">No pending recommendations.</p>'
    cards = []
    for row in rows:
        confidence = _num(row.get("confidence"))
        diff = row.get("diff") or ""
        patch = row.get("suggested_yaml_changes") or ""
        target = row.get("config_name") or row.get("config_id") or ""
        cards.append(
            '<div class="card">'
            f'<div class="card-head"><span class="badge">{esc(row.get("recommendation_type"))}</span> '
            f"<strong>{esc(target)}</strong> "
            f'<span class="muted">confidence {esc(fmt_pct(confidence) if confidence is not None else "?")}'
            f" · {esc(row.get('generated_by_model') or '')}"
            + (f" · also pending from {esc(row['repeats'])} earlier session(s)" if row.get("repeats") else "")
            + "</span></div>"
            f"<p>{esc(row.get('description'))}</p>"
            + (diff_block(diff) if diff else f'<pre class="diff">{esc(patch)}</pre>')
            + "</div>"
        )
    return "\n".join(cards)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1f2933}
header{background:#1f2933;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#cbd2d9;font-size:13px}
main{max-width:1160px;margin:0 auto;padding:18px 28px}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:8px}
.kpi{background:#fff;border-radius:8px;padding:10px 16px;box-shadow:0 1px 2px #0002;min-width:120px}
.kpi b{display:block;font-size:20px}.kpi span{font-size:12px;color:#616e7c}
section{background:#fff;border-radius:8px;box-shadow:0 1px 2px #0002;padding:14px 18px;margin:14px 0}
section h2{font-size:16px;margin:0 0 8px}section svg{max-width:100%;height:auto}
.grid{stroke:#e4e7eb;stroke-width:1}.axis{stroke:#616e7c;stroke-width:1}
.tick,.legend{font-size:11px;fill:#3e4c59}.marker{stroke-dasharray:4 3;stroke-width:1.5}
.marker-label{font-size:10px;font-weight:600}
table{border-collapse:collapse;font-size:12px;width:100%;margin-top:8px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e4e7eb}th{background:#f5f7fa}
.card{border:1px solid #e4e7eb;border-radius:6px;padding:10px 12px;margin:10px 0}
.badge{background:#4e79a7;color:#fff;border-radius:4px;padding:1px 6px;font-size:11px}
.muted{color:#7b8794;font-size:12px}.empty{color:#7b8794}
pre.diff{background:#f5f7fa;padding:8px;border-radius:4px;font-size:12px;overflow-x:auto}
.add{color:#1b7a3a;background:#e3f7e9;display:inline-block;width:100%}
.del{color:#b42318;background:#fde8e8;display:inline-block;width:100%}.hdr{color:#616e7c}.hunk{color:#7c5cbf}
"""


def _kpis(data: Mapping[str, Rows]) -> str:
    perf = data.get("config_version_performance", [])
    executions = sum(_num(r.get("executions")) or 0 for r in perf)
    cost = sum(_num(r.get("total_cost_usd")) or 0 for r in perf)
    weighted = sum((_num(r.get("avg_reliability")) or 0) * (_num(r.get("executions")) or 0) for r in perf)
    items = [
        ("simulations", f"{len(data.get('simulations', []))}"),
        ("executions", f"{executions:,.0f}"),
        ("mean reliability", fmt_pct(weighted / executions) if executions else "n/a"),
        ("total cost", fmt_usd(cost)),
        ("failure clusters", f"{len(data.get('failure_clusters', []))}"),
        ("pending recommendations", f"{len(data.get('v_dashboard_pending_recommendations', []))}"),
    ]
    return (
        '<div class="kpis">'
        + "".join(f'<div class="kpi"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for k, v in items)
        + "</div>"
    )


def _test_note(rows: Rows) -> str:
    tests = sorted({str(r["test_name"]) for r in rows if r.get("test_name")})
    return f'<p class="muted">Test: {esc("; ".join(tests))}.</p>' if tests else ""


def _section(section_id: str, title: str, body: str, rows_present: bool) -> str:
    content = body if rows_present else '<p class="empty">No data in this window.</p>'
    return f'<section id="{section_id}"><h2>{esc(title)}</h2>\n{content}\n</section>'


CHART_SECTIONS: list[tuple[str, str, tuple[str, ...], Callable[[Mapping[str, Rows]], str]]] = [
    (
        "reliability",
        "Reliability trend",
        ("v_llm_config_performance", "v_dashboard_performance_trends"),
        section_reliability,
    ),
    ("cost", "Cost trend", ("v_dashboard_cost_analysis",), section_cost),
    ("errors", "Error trend", ("v_dashboard_performance_trends",), section_errors),
    ("failures", "Failures by category", ("failure_trends_daily",), section_failures),
    ("tools", "Tool performance", ("tool_performance_daily",), section_tools),
    ("comparison", "Version comparison", ("config_version_comparison",), section_comparison),
    ("versions", "Cost per config version", ("config_version_performance",), section_version_performance),
]


def render(data: Mapping[str, Rows], *, title: str = "arc-eval dashboard", subtitle: str = "") -> str:
    """The dashboard as one HTML document (inline CSS and SVG; no script, no external resource)."""
    sections = []
    for section_id, heading, models, build in CHART_SECTIONS:
        present = any(data.get(m) for m in models)
        sections.append(_section(section_id, heading, build(data) if present else "", present))
        if section_id == "comparison" and data.get("config_version_comparison"):
            sections[-1] = sections[-1].replace(
                "\n</section>",
                table(
                    data["config_version_comparison"],
                    [
                        ("config_name", "configuration", None),
                        ("version_number", "version", None),
                        ("previous_version_number", "vs", None),
                        ("paired_scenarios", "paired scenarios", None),
                        ("reliability_delta", "Δ reliability", _f(lambda v: f"{v * 100:+.1f} pt")),
                        ("success_rate_change", "Δ success", _f(lambda v: f"{v * 100:+.1f} pt")),
                        ("cost_change_usd", "Δ cost/run", _f(lambda v: f"{v:+.4f}")),
                        ("latency_change_ms", "Δ latency ms", _f(lambda v: f"{v:+,.0f}")),
                        ("p_value", "p", _f(lambda v: f"{v:.3g}")),
                        ("verdict", "verdict", None),
                    ],
                )
                + _test_note(data["config_version_comparison"])
                + "\n</section>",
            )
    perf = data.get("config_version_performance", [])
    sections.append(
        _section(
            "performance",
            "Reliability and cost per config version",
            table(
                perf,
                [
                    ("config_name", "configuration", None),
                    ("version_number", "version", None),
                    ("model", "model", None),
                    ("temperature", "temp", None),
                    ("executions", "runs", None),
                    ("avg_reliability", "reliability", _f(fmt_pct)),
                    ("success_rate", "success", _f(fmt_pct)),
                    ("timeout_count", "timeouts", None),
                    ("error_count", "errors", None),
                    ("avg_cost_usd", "avg cost", _f(lambda v: f"${v:.4f}")),
                    ("total_cost_usd", "total cost", _f(fmt_usd)),
                    ("avg_execution_time_ms", "avg ms", _f(lambda v: f"{v:,.0f}")),
                ],
            ),
            bool(perf),
        )
    )
    clusters = data.get("failure_clusters", [])
    sections.append(
        _section(
            "clusters",
            "Top failure clusters",
            table(
                clusters[:10],
                [
                    ("failure_category", "category", None),
                    ("failure_count", "failures", None),
                    ("sample_error_message", "sample message", None),
                    ("last_seen", "last seen", lambda v: str(v)[:16]),
                ],
            ),
            bool(clusters),
        )
    )
    pending = data.get("v_dashboard_pending_recommendations", [])
    sections.append(
        f'<section id="recommendations"><h2>Pending recommendations</h2>\n{recommendation_cards(pending)}\n</section>'
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>\n<main>\n"
        + _kpis(data)
        + "\n"
        + "\n".join(sections)
        + "\n</main>\n</body>\n</html>\n"
    )


def chart_section_ids() -> list[str]:
    """Ids of the sections that each hold one chart."""
    return [section_id for section_id, *_ in CHART_SECTIONS]
