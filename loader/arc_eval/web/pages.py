"""What each page shows: its data read from the models (:mod:`.queries`) and its charts, as a template
context. The live app and the static export build pages with the same functions and templates.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
import psycopg

from . import charts, queries
from .queries import Filters, RecFilters, RunFilters

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

NAV = (
    ("overview", "Overview", "/"),
    ("configs", "Configurations", "/configs"),
    ("matrix", "Scenario × version", "/matrix"),
    ("runs", "Runs", "/runs"),
    ("clusters", "Failure clusters", "/clusters"),
    ("recommendations", "Recommendations", "/recommendations"),
)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, (int, float, Decimal)) else None


def pct(value: Any, digits: int = 1) -> str:
    v = _num(value)
    return "–" if v is None else f"{v * 100:.{digits}f}%"


def usd(value: Any, digits: int = 4) -> str:
    v = _num(value)
    return "–" if v is None else f"${v:,.{digits}f}"


def num(value: Any, digits: int = 0) -> str:
    v = _num(value)
    return "–" if v is None else f"{v:,.{digits}f}"


def signed(value: Any, digits: int = 3, scale: float = 1.0) -> str:
    v = _num(value)
    return "–" if v is None else f"{v * scale:+.{digits}f}"


def duration(value: Any) -> str:
    """Milliseconds, as seconds from 10 s up."""
    v = _num(value)
    if v is None:
        return "–"
    return f"{v:,.0f} ms" if v < 10_000 else f"{v / 1000:,.1f} s"


def when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, dt.date):
        return value.isoformat()
    return "–" if value is None else str(value)


def day(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return when(value)


def short(value: Any) -> str:
    return str(value)[:8] if value is not None else "–"


def environment() -> jinja2.Environment:
    """Jinja with autoescaping on for every template: all stored text is escaped."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    from ..recommend.review import patch_sha256

    env.filters.update(
        pct=pct,
        usd=usd,
        num=num,
        signed=signed,
        when=when,
        day=day,
        short=short,
        duration=duration,
        patch_sha256=patch_sha256,
    )
    env.globals.update(
        nav=NAV, link=charts.runs_link, to_json=charts.to_json, day_choices=queries.DAY_CHOICES
    )
    return env


class Pages:
    """Builds each page's context from one read connection."""

    def __init__(self, conn: psycopg.Connection, *, static: bool = False) -> None:
        self.conn = conn
        self.static = static
        self.configs = queries.configurations(conn)
        self.palette = charts.Palette(self.configs)

    def _base(self, page: str, **context: Any) -> dict[str, Any]:
        return {
            "page": page,
            "static": self.static,
            "configs": self.configs,
            "colour": self.palette,
            "config_names": {str(c["config_id"]): c["config_name"] for c in self.configs},
            **context,
        }

    def overview(self, f: Filters) -> dict[str, Any]:
        data = queries.overview(self.conn, f)

        def run_url(config_id: str, on_day: str) -> str:
            return "" if self.static else charts.runs_link("/runs", config=config_id, day=on_day)

        figures = charts.overview_figures(data["per_day"], data["markers"], self.palette, run_url)
        return self._base("overview", f=f, choices=queries.filter_choices(self.conn), figures=figures, **data)

    def configs_page(self) -> dict[str, Any]:
        versions = queries.versions(self.conn)
        by_config: dict[str, list[dict[str, Any]]] = {}
        for v in versions:
            by_config.setdefault(str(v["config_id"]), []).append(v)
        return self._base("configs", by_config=by_config)

    def config(self, config_id: uuid.UUID) -> dict[str, Any] | None:
        versions = queries.versions(self.conn, config_id)
        if not versions:
            return None
        deltas = queries.version_scenarios(self.conn, config_id)
        per_version: dict[str, list[dict[str, Any]]] = {}
        for d in deltas:
            per_version.setdefault(str(d["version_id"]), []).append(d)
        colour = self.palette(config_id)
        figures = {
            key: charts.version_deltas(rows, colour)
            for key, rows in per_version.items()
            if any(r.get("reliability_delta") is not None for r in rows)
        }
        return self._base(
            "configs",
            config_id=str(config_id),
            config_name=versions[0]["config_name"],
            versions=versions,
            per_version=per_version,
            figures=figures,
        )

    def matrix(self, f: Filters) -> dict[str, Any]:
        cells = queries.matrix(self.conn, f)
        columns: dict[str, dict[str, Any]] = {}
        scenarios: list[str] = []
        grid: dict[tuple[str, str], dict[str, Any]] = {}
        for c in cells:
            key = str(c["version_id"])
            columns.setdefault(key, c)
            if c["scenario_id"] not in scenarios:
                scenarios.append(c["scenario_id"])
            grid[(c["scenario_id"], key)] = c
        return self._base(
            "matrix",
            f=f,
            choices=queries.filter_choices(self.conn),
            columns=list(columns.values()),
            scenarios=sorted(scenarios),
            grid=grid,
        )

    def runs(self, f: RunFilters) -> dict[str, Any]:
        return self._base("runs", rf=f, runs=queries.runs(self.conn, f), limit=queries.RUN_LIMIT)

    def simulation(self, simulation_id: uuid.UUID) -> dict[str, Any] | None:
        sim = queries.simulation(self.conn, simulation_id)
        if sim is None:
            return None
        return self._base("runs", sim=sim, outcomes=queries.simulation_outcomes(self.conn, simulation_id))

    def outcome(self, outcome_id: uuid.UUID) -> dict[str, Any] | None:
        row = queries.outcome(self.conn, outcome_id)
        if row is None:
            return None
        steps = list((row.get("trajectory") or {}).get("steps") or [])
        step_keys: list[str] = []
        for s in steps:
            if isinstance(s, dict):
                step_keys += [k for k in s if k not in step_keys]
        trajectory_rest = {k: v for k, v in (row.get("trajectory") or {}).items() if k != "steps"}
        return self._base("runs", o=row, steps=steps, step_keys=step_keys, trajectory_rest=trajectory_rest)

    def clusters(self, f: Filters) -> dict[str, Any]:
        data = queries.clusters(self.conn, f)
        for rank, c in enumerate(data["clusters"], start=1):
            c["label"] = f"#{rank} {c['failure_category']}"
        labels = {str(c["pattern_cluster_id"]): c["label"] for c in data["clusters"][:8]}
        return self._base(
            "clusters",
            f=f,
            choices=queries.filter_choices(self.conn),
            figure=charts.cluster_trend(data["trend"], labels),
            **data,
        )

    def recommendations(self, f: RecFilters, names: dict[str, str]) -> dict[str, Any]:
        data = queries.recommendations(self.conn, f)
        if self.static:  # the live page loads each diff after the page (htmx), keeping the page fast
            for rec in data["recommendations"]:
                self.add_preview(rec)
        return self._base("recommendations", rf=f, reviewer_names=names, **data)

    def add_preview(self, rec: dict[str, Any]) -> None:
        """``rec['diff']``: what applying it to its configuration's current version would change."""
        from ..recommend import review

        rec["diff"], rec["diff_error"] = None, None
        if rec["state"] not in ("pending", "approved") or rec.get("config_id") is None:
            return
        try:
            rec["diff"] = review.preview(self.conn, rec).diff
        except review.ReviewError as exc:
            rec["diff_error"] = str(exc)

    def recommendation_diff(self, rec_id: uuid.UUID) -> dict[str, Any] | None:
        rec = queries.recommendation(self.conn, rec_id)
        if rec is None:
            return None
        self.add_preview(rec)
        return self._base("recommendations", rec=rec)

    def recommendation(self, rec_id: uuid.UUID, names: dict[str, str]) -> dict[str, Any] | None:
        rec = queries.recommendation(self.conn, rec_id)
        if rec is None:
            return None
        self.add_preview(rec)
        return self._base("recommendations", rec=rec, reviewer_names=names)
