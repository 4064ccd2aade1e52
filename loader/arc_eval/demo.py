"""The whole system end to end: database, warehouse, simulated sandbox, dbt, recommender, report, dashboard.

:func:`run_demo` runs the stages in order and prints one line per stage with the elapsed time. The
report and the dashboard read the dbt models in the analytics schema only (never the raw tables).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from . import connection, dbt, simulator
from .connection import Target
from .text import printable

REPORT_MODELS = (
    "config_version_performance",
    "config_version_comparison",
    "failure_clusters",
    "v_dashboard_pending_recommendations",
    "v_dashboard_performance_trends",
    "v_dashboard_cost_analysis",
    "v_llm_config_performance",
    "failure_trends_daily",
    "tool_performance_daily",
    "recommendation_impact_ledger",
    "recommender_calibration",
)
# Simulations of the applied recommendation's version over the scenarios its base version ran.
LOOP_RUNS = 2


class Progress:
    """Prints a line per stage with the time since the start, and a counter for long loops."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.start = time.monotonic()
        self.timings: dict[str, float] = {}
        self.tty = hasattr(out, "isatty") and out.isatty()
        self.open_line = False  # a counter is being redrawn on the current terminal line

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def line(self, text: str) -> None:
        print(f"[{self.elapsed():6.1f}s] {text}", file=self.out, flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, str]]:
        """Announce a stage, time it, and print its result (``note["result"]``) when it ends."""
        self.line(f"{name} ...")
        began = time.monotonic()
        note: dict[str, str] = {}
        yield note
        if self.open_line:
            print(file=self.out)
            self.open_line = False
        took = time.monotonic() - began
        self.timings[name] = took
        self.line(f"{name}: {note.get('result', 'done')} ({took:.1f}s)")

    def dbt_nodes(self) -> _NodeCounter:
        """A dbt callback that prints a running count of finished nodes (every 25 on a file)."""
        return _NodeCounter(self)

    def counter(self, label: str) -> Callable[[int, int], None]:
        """A callback ``(done, total)`` that redraws one line on a terminal, else prints every 10%."""
        last = [-1]

        def update(done: int, total: int) -> None:
            if self.tty:
                print(f"\r           {label} {done}/{total}", end="", file=self.out, flush=True)
                self.open_line = True
                return
            step = max(1, total // 10)
            if done == total or done // step != last[0]:
                last[0] = done // step
                print(f"           {label} {done}/{total}", file=self.out, flush=True)

        return update


class _NodeCounter:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.count = 0

    def __call__(self, event: Any) -> None:
        if event.info.name != "NodeFinished":
            return
        self.count += 1
        if self.progress.tty:
            print(
                f"\r           dbt nodes finished: {self.count}", end="", file=self.progress.out, flush=True
            )
        elif self.count % 25 == 0:
            print(f"           dbt nodes finished: {self.count}", file=self.progress.out, flush=True)


@dataclass
class DemoResult:
    """What a demo run did: records written, model rows read, the report text and the dashboard path."""

    target: Target
    written: dict[str, int]
    data: dict[str, list[dict[str, Any]]]
    report: str
    html_path: Path
    recommendations: int
    timings: dict[str, float] = field(default_factory=dict)
    applied: Applied | None = None


@dataclass
class Applied:
    """The recommendation the demo applied, the version it made and the runs written for that version."""

    recommendation: dict[str, Any]
    version_id: Any
    version_number: int
    written: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Reading models


def _connect(target: Target) -> psycopg.Connection:
    return psycopg.connect(target.conninfo, row_factory=dict_row, autocommit=True)


def read_model(conn: psycopg.Connection, model: str, order_by: str = "") -> list[dict[str, Any]]:
    """All rows of one model in the analytics schema."""
    query = sql.SQL("select * from {}.{}").format(
        sql.Identifier(dbt.analytics_schema()), sql.Identifier(model)
    )
    if order_by:
        query = query + sql.SQL(" order by ") + sql.SQL(order_by)
    return list(conn.execute(query).fetchall())


def load_scenarios(target: Target) -> list[simulator.Scenario]:
    """The active scenarios, read from the ``stg_scenarios`` model (the loader has no scenario listing).

    Builds that one view first when the warehouse has no models yet.
    """
    try:
        with _connect(target) as conn:
            rows = read_model(conn, "stg_scenarios", "scenario_id")
    except psycopg.errors.UndefinedTable:
        dbt.run(["run", "--select", "stg_scenarios"], target, quiet=True)
        with _connect(target) as conn:
            rows = read_model(conn, "stg_scenarios", "scenario_id")
    return [simulator.Scenario.from_row(r) for r in rows if r.get("is_active", True)]


def collect(target: Target) -> dict[str, list[dict[str, Any]]]:
    """Rows of every model the report and the dashboard show, plus derived fields.

    Derived: ``config_name`` on comparison and recommendation rows; pending recommendations with
    the same configuration, type and patch shown once, with ``repeats``; ``first_execution`` on
    ``config_version_performance``; ``diff`` (unified YAML diff of the base version against the patched
    one) on each pending recommendation; ``simulations`` from ``stg_simulations``.
    """
    from .recommend.patch import PatchError, apply_patch, parse_patch, render_config, unified_diff

    data: dict[str, list[dict[str, Any]]] = {}
    with _connect(target) as conn:
        for model in REPORT_MODELS:
            data[model] = read_model(conn, model)
        data["simulations"] = read_model(conn, "stg_simulations", "started_at")
        versions = {str(r["version_id"]): r for r in read_model(conn, "stg_config_versions")}
    names = {str(r["config_id"]): r["config_name"] for r in data["config_version_performance"]}
    first_day: dict[str, Any] = {}
    for row in data["v_llm_config_performance"]:
        key = str(row["version_id"])
        if key not in first_day or row["day"] < first_day[key]:
            first_day[key] = row["day"]
    for row in data["config_version_performance"]:
        row["first_execution"] = first_day.get(str(row["version_id"]))
    data["config_version_performance"].sort(key=lambda r: (r["config_name"], r["version_number"]))
    for row in data["config_version_comparison"]:
        row["config_name"] = names.get(str(row["config_id"]), str(row["config_id"]))
    data["config_version_comparison"].sort(key=lambda r: (r["config_name"], r["version_number"]))
    data["failure_clusters"].sort(key=lambda r: (-r["failure_count"], str(r["last_seen"])))
    # Each demo run is a new recommender session, so the same proposal can be pending several times:
    # show it once (the view's first, i.e. newest among equals) with the number of repeats.
    unique: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in data["v_dashboard_pending_recommendations"]:
        key = (str(row.get("config_id")), row["recommendation_type"], str(row.get("suggested_yaml_changes")))
        if key in unique:
            unique[key]["repeats"] += 1
        else:
            unique[key] = {**row, "repeats": 0}
    data["v_dashboard_pending_recommendations"] = list(unique.values())
    for row in data["v_dashboard_pending_recommendations"]:
        row["config_name"] = names.get(str(row.get("config_id")), "")
        base = versions.get(str(row.get("base_version_id")))
        if base is None or not row.get("suggested_yaml_changes"):
            continue
        try:
            before = render_config(base["parsed_config"])
            after = render_config(
                apply_patch(base["parsed_config"], parse_patch(row["suggested_yaml_changes"]))
            )
        except PatchError:
            continue
        label = f"{row['config_name']} v{base['version_number']}"
        row["diff"] = unified_diff(before, after, before_name=label, after_name=f"{label} + recommendation")
    return data


# ---------------------------------------------------------------------------------------------
# The printed report


def _fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{float(value) * 100:.1f}%"
    if kind == "usd":
        return f"${float(value):.4f}"
    if kind == "usd_delta":
        return f"{'-' if float(value) < 0 else '+'}${abs(float(value)):.4f}"
    if kind == "usd2":
        return f"${float(value):,.2f}"
    if kind == "delta_pt":
        return f"{float(value) * 100:+.1f}pt"
    if kind == "int":
        return f"{float(value):,.0f}"
    if kind == "p":
        return f"{float(value):.3g}"
    if kind == "signed":
        return f"{float(value):+.4g}"
    return str(value)


def text_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str]]) -> list[str]:
    """Rows as an aligned text table; ``columns`` are ``(key, heading, format kind)``."""
    cells = [[_fmt(r.get(k), kind) for k, _, kind in columns] for r in rows]
    headings = [h for _, h, _ in columns]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headings)]
    lines = ["  " + "  ".join(h.ljust(w) for h, w in zip(headings, widths, strict=False)).rstrip()]
    lines += [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in cells
    ]
    return lines


def format_report(data: Mapping[str, Sequence[Mapping[str, Any]]], *, clusters: int = 5) -> str:
    """The short printed report over the models' rows (see :func:`collect`)."""
    sims = data.get("simulations", [])
    perf = data.get("config_version_performance", [])
    executions = sum(int(r["executions"] or 0) for r in perf)
    lines = ["", "== Simulations"]
    if sims:
        starts = [s["started_at"] for s in sims if s.get("started_at")]
        statuses: dict[str, int] = {}
        for s in sims:
            statuses[s["status"]] = statuses.get(s["status"], 0) + 1
        lines.append(
            f"  {len(sims)} simulations ({', '.join(f'{n} {k}' for k, n in sorted(statuses.items()))}), "
            f"{executions:,} scenario executions, from {min(starts):%Y-%m-%d} to {max(starts):%Y-%m-%d}"
        )
    else:
        lines.append("  no simulations")
    lines += ["", "== Reliability and cost per config version (config_version_performance)"]
    lines += text_table(
        perf,
        [
            ("config_name", "configuration", ""),
            ("version_number", "v", ""),
            ("model", "model", ""),
            ("temperature", "temp", ""),
            ("executions", "runs", "int"),
            ("avg_reliability", "reliability", "pct"),
            ("success_rate", "success", "pct"),
            ("timeout_count", "timeouts", "int"),
            ("error_count", "errors", "int"),
            ("avg_cost_usd", "cost/run", "usd"),
            ("total_cost_usd", "total", "usd2"),
        ],
    )
    top = list(data.get("failure_clusters", []))[:clusters]
    lines += ["", f"== Top {len(top)} failure clusters (failure_clusters)"]
    for row in top:
        message = str(row.get("sample_error_message") or "")
        message = message if len(message) <= 100 else message[:97] + "..."
        lines.append(
            f"  {int(row['failure_count']):5d} x {row['failure_category']:<16} "
            f"{int(row.get('config_versions_affected') or 0)} versions, "
            f"{int(row.get('scenarios_affected') or 0)} scenarios  {message}"
        )
    lines += ["", "== Version comparison, paired by scenario (config_version_comparison)"]
    lines += text_table(
        data.get("config_version_comparison", []),
        [
            ("config_name", "configuration", ""),
            ("version_number", "v", ""),
            ("previous_version_number", "vs", ""),
            ("paired_scenarios", "pairs", "int"),
            ("reliability_delta", "reliability", "delta_pt"),
            ("success_rate_change", "success", "delta_pt"),
            ("cost_change_usd", "cost/run", "usd_delta"),
            ("p_value", "p", "p"),
            ("verdict", "verdict", ""),
        ],
    )
    tests = {r.get("test_name") for r in data.get("config_version_comparison", []) if r.get("test_name")}
    if tests:
        lines.append(f"  test: {'; '.join(sorted(tests))}")
    ledger = data.get("recommendation_impact_ledger", [])
    lines += [
        "",
        f"== Impact ledger: predicted vs realised ({len(ledger)} applied, recommendation_impact_ledger)",
    ]
    lines += text_table(
        ledger,
        [
            ("config_name", "configuration", ""),
            ("applied_version_number", "v", ""),
            ("base_version_number", "vs", ""),
            ("recommendation_type", "type", ""),
            ("metric", "metric", ""),
            ("expected_delta", "predicted", "signed"),
            ("realised_delta", "realised", "signed"),
            ("ci_low", "ci low", "signed"),
            ("ci_high", "ci high", "signed"),
            ("metric_pairs", "pairs", "int"),
            ("p_value", "p", "p"),
            ("state", "state", ""),
            ("prediction", "prediction", ""),
        ],
    )
    calibration = data.get("recommender_calibration", [])
    if calibration:
        lines += ["", "== Recommender calibration (recommender_calibration)"]
        lines += text_table(
            calibration,
            [
                ("provider", "provider", ""),
                ("llm_model", "model", ""),
                ("recommendation_type", "type", ""),
                ("applied", "applied", "int"),
                ("measured", "measured", "int"),
                ("sign_accuracy", "sign right", "pct"),
                ("mean_absolute_error", "mean abs error", "signed"),
                ("mean_confidence", "confidence", "p"),
            ],
        )
    pending = data.get("v_dashboard_pending_recommendations", [])
    lines += ["", f"== Pending recommendations ({len(pending)}, v_dashboard_pending_recommendations)"]
    for i, row in enumerate(pending, start=1):
        repeats = f", also pending from {row['repeats']} earlier session(s)" if row.get("repeats") else ""
        lines.append(
            f"  {i}. [{row['recommendation_type']}] {row.get('config_name') or ''} "
            f"(confidence {float(row['confidence']):.2f}{repeats}): {row['description']}"
        )
        patch = str(row.get("suggested_yaml_changes") or "").rstrip()
        lines += [f"       {p}" for p in patch.splitlines()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The recommender


def run_recommender(target: Target, *, provider: str | None = None) -> tuple[int, str]:
    """Run the recommender over the active configurations (default provider: rules unless an API key
    is configured); returns the recommendations written and a one-line description of the session."""
    from .recommend import engine, providers

    name = provider or providers.default_provider_name()
    result = engine.run(target, provider=name)
    detail = f"{name} provider, session {result.status}"
    if result.error_message:
        detail += f": {result.error_message}"
    return result.recommendations_generated, detail


# ---------------------------------------------------------------------------------------------
# Closing the loop: apply the top recommendation and run the version it made


def apply_top(target: Target) -> Applied | None:
    """Approve and apply the most confident pending recommendation that is not stale, preferring one
    whose metric the impact ledger measures on every scenario (``ledger_metrics``, not per tool), then a
    per-tool one; None when there is none."""
    from .recommend import engine, review

    with _connect(target) as conn:
        pending = read_model(conn, "v_dashboard_pending_recommendations")
        configs = read_model(conn, "recommender_configurations")
        metrics = {r["metric"]: r["takes_tool"] for r in read_model(conn, "ledger_metrics")}
    current = {str(r["config_id"]): (str(r["version_id"]), r["name"]) for r in configs}
    fresh = [
        {**r, "config_name": current[str(r["config_id"])][1]}
        for r in pending
        if current.get(str(r["config_id"]), ("",))[0] == str(r["base_version_id"])
    ]

    def preference(r: dict[str, Any]) -> tuple[bool, bool, float, str]:
        metric = str((r["impact_estimate"] or {}).get("metric", "")).split(":")[0]
        # measured on every scenario first, then per-tool metrics (fewer pairs), then the rest
        return (
            metric not in metrics,
            bool(metrics.get(metric)),
            -float(r["confidence"]),
            str(r["recommendation_id"]),
        )

    fresh.sort(key=preference)
    if not fresh:
        return None
    top = fresh[0]
    user = engine.default_user_id()
    with psycopg.connect(target.conninfo) as conn:
        review.approve(conn, top["recommendation_id"], user)
        result = review.apply(conn, top["recommendation_id"], user)
    return Applied(top, result.version_id, result.version_number)


def run_applied(target: Target, applied: Applied, *, seed: int) -> dict[str, int]:
    """Simulate the applied version over the scenarios its base version ran (LOOP_RUNS times), from now."""
    from . import ArcEval

    rec = applied.recommendation
    with _connect(target) as conn:
        ran = {
            str(r["scenario_id"])
            for r in read_model(conn, "scenario_tool_coverage")
            if str(r["version_id"]) == str(rec["base_version_id"])
        }
        [version] = [
            r
            for r in read_model(conn, "recommender_version_history")
            if str(r["version_id"]) == str(applied.version_id)
        ]
    scenarios = [s for s in load_scenarios(target) if s.scenario_id in ran]
    name = f"{rec.get('config_name') or 'configuration'} v{applied.version_number}"
    sims = simulator.simulate_version(
        version["config"], scenarios, name=name, seed=seed, runs=LOOP_RUNS, start=datetime.now(timezone.utc)
    )
    with ArcEval(target.conninfo, user_id=simulator.DEMO_USER_ID) as db:
        applied.written = simulator.play_version(db, applied.version_id, sims, seed)
    return applied.written


# ---------------------------------------------------------------------------------------------
# The demo


def default_html_path() -> Path:
    """Where the dashboard goes unless ``--html`` says otherwise."""
    return connection.data_dir() / "dashboard.html"


def simulate(
    target: Target,
    *,
    seed: int = simulator.DEFAULT_SEED,
    simulations: int = simulator.DEFAULT_SIMULATIONS,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Generate the simulated history and write it through the loader; returns the records written."""
    from . import ArcEval

    scenarios = load_scenarios(target)
    plan = simulator.generate_plan(scenarios, seed=seed, simulations=simulations, now=now)
    counter = progress.counter("simulations") if progress else None
    with ArcEval(target.conninfo, user_id=plan.user_id) as db:
        return simulator.play(plan, db, progress=counter)


def run_demo(
    target: Target | None = None,
    *,
    seed: int = simulator.DEFAULT_SEED,
    simulations: int = simulator.DEFAULT_SIMULATIONS,
    html_path: Path | None = None,
    provider: str | None = None,
    out: IO[str] | None = None,
) -> DemoResult:
    """Run every stage in order and return what happened; raises on the first stage that fails."""
    out = out or sys.stdout
    progress = Progress(out)
    with progress.stage("database") as note:
        target = target or connection.resolve()
        note["result"] = f"{target.source}: {target.redacted()}"
    with progress.stage("init warehouse (raw schema + scenario seeds)"):
        dbt.init_warehouse(target)
    with progress.stage(f"simulate (seed {seed}, {simulations} simulations)") as note:
        written = simulate(target, seed=seed, simulations=simulations, progress=progress)
        note["result"] = ", ".join(f"{v} {k}" for k, v in written.items())
    with progress.stage("dbt build") as note:
        finished = progress.dbt_nodes()
        dbt.run(["build"], target, quiet=True, callbacks=[finished])
        note["result"] = f"{finished.count} models, seeds and tests done"
    with progress.stage("recommend") as note:
        made, detail = run_recommender(target, provider=provider)
        note["result"] = f"{made} recommendations ({detail})"
    with progress.stage("review: approve and apply the top recommendation") as note:
        applied = apply_top(target)
        if applied is None:
            note["result"] = "no pending recommendation applies to a current version"
        else:
            rec = applied.recommendation
            note["result"] = (
                f"{rec['recommendation_type']} for {rec.get('config_name') or rec['config_id']}"
                f" -> version {applied.version_number}"
            )
    if applied is not None:
        with progress.stage(f"simulate version {applied.version_number} over the same scenarios") as note:
            loop_written = run_applied(target, applied, seed=seed)
            note["result"] = ", ".join(f"{v} {k}" for k, v in loop_written.items())
        with progress.stage("dbt build (impact ledger)") as note:
            finished = progress.dbt_nodes()
            dbt.run(["build"], target, quiet=True, callbacks=[finished])
            note["result"] = f"{finished.count} models, seeds and tests done"
    with progress.stage("report"):
        data = collect(target)
        report = format_report(data)
    html_path = Path(html_path) if html_path else default_html_path()
    with progress.stage("dashboard") as note:
        from .web.export import render_snapshot

        html_path.parent.mkdir(parents=True, exist_ok=True)
        with psycopg.connect(target.conninfo) as conn:
            snapshot = render_snapshot(conn, subtitle=f"seed {seed} · {target.source} database")
        # 0600: the dashboard shows stored error messages and configurations
        connection.write_private(html_path, snapshot)
        note["result"] = str(html_path)
    print(printable(report), file=out)
    print(f"dashboard: {html_path}", file=out)
    print(
        "live dashboard and review: arc-eval serve  (then open http://127.0.0.1:8765/; Ctrl-C stops it)",
        file=out,
    )
    print("reviewer sign-in token: arc-eval serve --add-reviewer NAME", file=out)
    if target.source == "embedded":
        print("the embedded database keeps running; stop it with: arc-eval db down", file=out)
    print(f"total {progress.elapsed():.1f}s", file=out, flush=True)
    return DemoResult(target, written, data, report, html_path, made, dict(progress.timings), applied)
