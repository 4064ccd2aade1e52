"""What the recommender analyses: a JSON-able dictionary read from the dbt models only.

Every aggregation lives in a dbt model (``models/recommender``, ``models/llm``, ``models/ledger``); this
module selects rows of those models for the configurations in scope and renders them. The data window
is set for the reading transaction (``arc_eval.recommender_window``), which the windowed models read.
The dictionary (sorted, UUIDs and times as strings, numbers as floats) has these keys:

- ``window``: ``start``, ``end`` (the database's ``now()``), ``days``;
- ``counts``: ``outcomes`` and ``failure_patterns`` in the window (``recommender_activity``);
- ``configurations``: each configuration in scope with its current version (``recommender_configurations``)
  and its recent ``history`` of versions (``recommender_version_history``);
- ``version_performance`` (``config_version_performance``), ``version_comparisons``
  (``config_version_comparison``), ``config_diffs`` (``recommender_config_diffs``);
- ``failure_clusters`` (``recommender_failure_clusters`` seen in the window), ``failure_trends``
  (``v_llm_failure_analysis`` in the window);
- ``tool_trends`` (``recommender_tool_trends``) and ``tool_performance`` (``recommender_tool_performance``);
- ``scenario_health`` (``recommender_scenario_health``) and ``simulations`` (``recommender_simulations``);
- ``impact_ledger``: the recommender's applied recommendations in scope and what they did
  (``recommendation_impact_ledger``); ``calibration`` (``recommender_calibration``); ``measurable_metrics``
  (``ledger_metrics``): the metric names the ledger can check.

:func:`known_sources` gives, per recommendation source type, the ids a recommendation may cite.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .. import dbt

log = logging.getLogger(__name__)

WINDOW_SETTING = "arc_eval.recommender_window"
HISTORY_VERSIONS = 10
MAX_CLUSTERS = 30
MAX_DIFFS = 50
MAX_SIMULATIONS = 20
MAX_LEDGER = 50
REQUIRED_MODELS = ("recommender_configurations", "recommender_version_history", "recommender_activity")
OPTIONAL_MODELS = (
    "config_version_performance",
    "config_version_comparison",
    "recommender_config_diffs",
    "recommender_failure_clusters",
    "v_llm_failure_analysis",
    "recommender_tool_trends",
    "recommender_tool_performance",
    "recommender_scenario_health",
    "recommender_simulations",
    "recommendation_impact_ledger",
    "recommender_calibration",
    "ledger_metrics",
)


class InputsError(RuntimeError):
    """The analytics models are missing or the requested configuration does not exist."""


def plain(value: Any) -> Any:
    """``value`` with UUIDs, times, Decimals and tuples turned into JSON types (recursively)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


class _Reader:
    def __init__(self, conn: psycopg.Connection, schema: str) -> None:
        self.conn = conn
        self.schema = schema
        rows = conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s",
            (schema,),
        ).fetchall()
        self.present = {r[0] for r in rows}
        missing = [m for m in REQUIRED_MODELS if m not in self.present]
        if missing:
            raise InputsError(
                f"dbt models {', '.join(missing)} are missing from schema {schema!r}: run `arc-eval dbt build` first"
            )
        for model in OPTIONAL_MODELS:
            if model not in self.present:
                log.warning("dbt model %s.%s is missing: its inputs are left empty", schema, model)

    def has(self, model: str) -> bool:
        return model in self.present

    def rows(
        self, query: str, params: Mapping[str, Any] | Sequence[Any] = (), **models: str
    ) -> list[dict[str, Any]]:
        composed = sql.SQL(query).format(**{k: sql.Identifier(self.schema, v) for k, v in models.items()})
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(composed, params)
            return [plain(r) for r in cur.fetchall()]


def read_inputs(
    conn: psycopg.Connection,
    *,
    window: dt.timedelta,
    config_name: str | None = None,
    schema: str | None = None,
) -> dict[str, Any]:
    """Read the inputs for ``config_name`` (default: every active configuration) over ``window``.

    Raises :class:`InputsError` when a required model is missing or ``config_name`` is unknown.
    Only reads, in the caller's transaction (the window setting is local to it); roll back afterwards.
    """
    if window <= dt.timedelta(0):
        raise InputsError("the window must be positive")
    if conn.autocommit:
        raise InputsError(
            "read_inputs needs a connection in a transaction (autocommit off): the window is set per transaction"
        )
    r = _Reader(conn, schema or dbt.analytics_schema())
    conn.execute("select set_config(%s, %s, true)", (WINDOW_SETTING, f"{window.total_seconds():.6f} seconds"))
    end = conn.execute("select now()").fetchone()[0]
    start = end - window
    configs = r.rows(
        """
        select config_id, name, version_id, version_number, config from {configs}
        where (%(name)s::text is null and is_active) or name = %(name)s::text
        order by name
        """,
        {"name": config_name},
        configs="recommender_configurations",
    )
    if config_name is not None and not configs:
        raise InputsError(f"no configuration named {config_name!r} with a version")
    ids = [c["config_id"] for c in configs]
    p = {"ids": ids, "start": start, "end": end}

    history = r.rows(
        """
        select config_id, version_id, version_number, config, generated_by, created_at from {history}
        where config_id = any(%(ids)s::uuid[]) and recency <= %(limit)s
        order by config_id, version_number desc
        """,
        {**p, "limit": HISTORY_VERSIONS},
        history="recommender_version_history",
    )
    for cfg in configs:
        cfg["history"] = [
            {k: v for k, v in h.items() if k != "config_id"}
            for h in history
            if h["config_id"] == cfg["config_id"]
        ]
    activity = r.rows(
        "select outcomes, failure_patterns from {activity} where config_id = any(%(ids)s::uuid[])",
        p,
        activity="recommender_activity",
    )
    inputs: dict[str, Any] = {
        "window": {
            "start": plain(start),
            "end": plain(end),
            "days": round(window.total_seconds() / 86400, 4),
        },
        "configurations": configs,
        "counts": {
            "outcomes": sum(int(a["outcomes"]) for a in activity),
            "failure_patterns": sum(int(a["failure_patterns"]) for a in activity),
        },
    }
    selections = {
        "version_performance": (
            "config_version_performance",
            """
            select config_id, config_name, version_id, version_number, model, temperature, executions,
                   avg_reliability, success_rate, total_cost_usd, avg_cost_usd, avg_execution_time_ms,
                   error_count, timeout_count
            from {m} where config_id = any(%(ids)s::uuid[]) order by config_name, version_number
            """,
        ),
        "version_comparisons": (
            "config_version_comparison",
            "select * from {m} where config_id = any(%(ids)s::uuid[]) order by config_id, version_number",
        ),
        "config_diffs": (
            "recommender_config_diffs",
            """
            select * from {m} where config_id = any(%(ids)s::uuid[])
            order by created_at desc, diff_id limit %(diffs)s
            """,
        ),
        "failure_clusters": (
            "recommender_failure_clusters",
            """
            select pattern_cluster_id, failure_category, failure_count, first_seen, last_seen,
                   sample_error_message, version_ids, scenario_ids
            from {m} where last_seen > %(start)s and config_ids && %(ids)s::uuid[]
            order by failure_count desc, pattern_cluster_id limit %(clusters)s
            """,
        ),
        "failure_trends": (
            "v_llm_failure_analysis",
            """
            select day, failure_category, daily_failures, sample_errors[1:2] as sample_errors
            from {m} where day >= date_trunc('day', %(start)s::timestamptz, 'UTC')
            order by day desc, failure_category
            """,
        ),
        "tool_trends": ("recommender_tool_trends", "select * from {m} order by tool_name"),
        "tool_performance": (
            "recommender_tool_performance",
            "select * from {m} where config_id = any(%(ids)s::uuid[]) order by config_id, version_id, tool_name",
        ),
        "scenario_health": (
            "recommender_scenario_health",
            "select * from {m} where config_id = any(%(ids)s::uuid[]) order by config_id, scenario_id",
        ),
        "simulations": (
            "recommender_simulations",
            """
            select simulation_id, config_id, version_id, simulation_name, status, overall_score, started_at
            from {m} where config_id = any(%(ids)s::uuid[]) and active_at > %(start)s
            order by active_at desc, simulation_id limit %(simulations)s
            """,
        ),
        "impact_ledger": (
            "recommendation_impact_ledger",
            """
            select recommendation_id, config_id, recommendation_type, provider, llm_model, confidence,
                   applied_at, base_version_number, applied_version_number, metric, expected_delta, state,
                   metric_pairs, realised_delta, ci_low, ci_high, p_value, verdict, prediction,
                   reliability_delta, success_rate_delta, cost_per_run_delta_usd
            from {m} where config_id = any(%(ids)s::uuid[])
            order by applied_at desc, recommendation_id limit %(ledger)s
            """,
        ),
        "calibration": (
            "recommender_calibration",
            "select * from {m} order by provider, llm_model, recommendation_type",
        ),
        "measurable_metrics": (
            "ledger_metrics",
            "select metric, description, takes_tool from {m} order by metric",
        ),
    }
    limits = {
        "diffs": MAX_DIFFS,
        "clusters": MAX_CLUSTERS,
        "simulations": MAX_SIMULATIONS,
        "ledger": MAX_LEDGER,
    }
    for key, (model, query) in selections.items():
        inputs[key] = r.rows(query, {**p, **limits}, m=model) if r.has(model) else []
    return inputs


def known_sources(inputs: Mapping[str, Any]) -> dict[str, set[str]]:
    """The ids a recommendation may cite, per source type: exactly the rows present in ``inputs``."""
    return {
        "pattern_analysis": {str(c["pattern_cluster_id"]) for c in inputs.get("failure_clusters", [])},
        "time_series_analysis": {str(v["version_id"]) for v in inputs.get("version_performance", [])},
        "config_diff": {str(d["diff_id"]) for d in inputs.get("config_diffs", [])},
        "simulation": {str(s["simulation_id"]) for s in inputs.get("simulations", [])}
        | {
            str(h["last_simulation_id"])
            for h in inputs.get("scenario_health", [])
            if h.get("last_simulation_id")
        },
        "outcome": set(),
    }


def outcomes_analyzed(inputs: Mapping[str, Any]) -> int:
    return int(inputs.get("counts", {}).get("outcomes", 0))


def patterns_identified(inputs: Mapping[str, Any]) -> int:
    return int(inputs.get("counts", {}).get("failure_patterns", 0))
