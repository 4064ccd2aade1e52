"""What the recommender analyses: a JSON-able dictionary read from the dbt models only.

Every query reads the analytics schema (:func:`arc_eval.dbt.analytics_schema`), never the raw tables.
The dictionary (sorted, UUIDs and times as strings, numbers as floats) has these keys:

- ``window``: ``start``, ``end`` (the database's ``now()``), ``days``;
- ``counts``: ``outcomes`` and ``failure_patterns`` in the window for the configurations in scope;
- ``configurations``: each configuration in scope with its current version (``version_id``,
  ``version_number``, parsed ``config``) and its recent ``history`` of versions;
- ``version_performance`` (``config_version_performance``), ``version_comparisons``
  (``config_version_comparison``), ``config_diffs`` (``stg_config_diffs``);
- ``failure_clusters`` (``failure_clusters`` seen in the window), ``failure_trends``
  (``v_llm_failure_analysis`` in the window);
- ``tool_trends`` (``tool_performance_daily`` summed over the window) and ``tool_performance`` (per
  configuration version and tool, from the staging models);
- ``scenario_health``: per configuration and scenario over the last 30 days, runs, failures, timeouts
  and the latest simulation; ``simulations``: recent simulations of the configurations in scope.

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

SCENARIO_QUIET_DAYS = 30
HISTORY_VERSIONS = 10
MAX_CLUSTERS = 30
MAX_DIFFS = 50
MAX_SIMULATIONS = 20
REQUIRED_MODELS = ("stg_configurations", "stg_config_versions", "stg_outcomes", "stg_simulations")
OPTIONAL_MODELS = (
    "stg_config_diffs",
    "stg_failure_patterns",
    "stg_tool_usage",
    "config_version_performance",
    "config_version_comparison",
    "failure_clusters",
    "v_llm_failure_analysis",
    "tool_performance_daily",
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
    Only reads; the caller's transaction state is unchanged apart from these SELECTs.
    """
    if window <= dt.timedelta(0):
        raise InputsError("the window must be positive")
    r = _Reader(conn, schema or dbt.analytics_schema())
    end = conn.execute("select now()").fetchone()[0]
    start = end - window
    configs = r.rows(
        """
        select c.config_id, c.name, cv.version_id, cv.version_number, cv.parsed_config as config
        from {configs} as c
        cross join lateral (
            select v.version_id, v.version_number, v.parsed_config
            from {versions} as v
            where v.config_id = c.config_id and not v.is_deleted
            order by (v.version_id = c.latest_version_id) desc, v.version_number desc
            limit 1
        ) as cv
        where (%(name)s::text is null and c.is_active) or c.name = %(name)s::text
        order by c.name
        """,
        {"name": config_name},
        configs="stg_configurations",
        versions="stg_config_versions",
    )
    if config_name is not None and not configs:
        raise InputsError(f"no configuration named {config_name!r} with a version")
    ids = [c["config_id"] for c in configs]
    p = {"ids": ids, "start": start, "end": end, "quiet_start": end - dt.timedelta(days=SCENARIO_QUIET_DAYS)}

    history = r.rows(
        """
        select config_id, version_id, version_number, parsed_config as config, generated_by, created_at
        from {versions}
        where config_id = any(%(ids)s::uuid[]) and not is_deleted
        order by config_id, version_number desc
        """,
        p,
        versions="stg_config_versions",
    )
    for cfg in configs:
        cfg["history"] = [
            {k: v for k, v in h.items() if k != "config_id"}
            for h in history
            if h["config_id"] == cfg["config_id"]
        ][:HISTORY_VERSIONS]

    inputs: dict[str, Any] = {
        "window": {
            "start": plain(start),
            "end": plain(end),
            "days": round(window.total_seconds() / 86400, 4),
        },
        "configurations": configs,
    }
    inputs["counts"] = {
        "outcomes": r.rows(
            """
            select count(*) as n
            from {outcomes} as o
            join {simulations} as s on s.simulation_id = o.simulation_id
            join {versions} as v on v.version_id = s.config_version_id
            where v.config_id = any(%(ids)s::uuid[]) and o.execution_time > %(start)s and o.execution_time <= %(end)s
            """,
            p,
            outcomes="stg_outcomes",
            simulations="stg_simulations",
            versions="stg_config_versions",
        )[0]["n"],
        "failure_patterns": r.rows(
            """
            select count(*) as n
            from {patterns} as fp
            join {outcomes} as o on o.outcome_id = fp.outcome_id
                 and o.execution_time >= fp.execution_time and o.execution_time <= fp.execution_time
            join {simulations} as s on s.simulation_id = o.simulation_id
            join {versions} as v on v.version_id = s.config_version_id
            where v.config_id = any(%(ids)s::uuid[]) and fp.execution_time > %(start)s and fp.execution_time <= %(end)s
            """,
            p,
            patterns="stg_failure_patterns",
            outcomes="stg_outcomes",
            simulations="stg_simulations",
            versions="stg_config_versions",
        )[0]["n"]
        if r.has("stg_failure_patterns")
        else 0,
    }
    inputs["version_performance"] = (
        r.rows(
            """
            select config_id, config_name, version_id, version_number, model, temperature, executions,
                   avg_reliability, success_rate, total_cost_usd, avg_cost_usd, avg_execution_time_ms,
                   error_count, timeout_count
            from {perf}
            where config_id = any(%(ids)s::uuid[])
            order by config_name, version_number
            """,
            p,
            perf="config_version_performance",
        )
        if r.has("config_version_performance")
        else []
    )
    inputs["version_comparisons"] = (
        r.rows(
            "select * from {comparison} where config_id = any(%(ids)s::uuid[])",
            p,
            comparison="config_version_comparison",
        )
        if r.has("config_version_comparison")
        else []
    )
    inputs["config_diffs"] = (
        r.rows(
            """
            select diff_id, config_id, version_before, version_after, llm_generated, approval_status, created_at
            from {diffs}
            where config_id = any(%(ids)s::uuid[])
            order by created_at desc
            limit %(limit)s
            """,
            {**p, "limit": MAX_DIFFS},
            diffs="stg_config_diffs",
        )
        if r.has("stg_config_diffs")
        else []
    )
    inputs["failure_clusters"] = (
        r.rows(
            """
            select fc.pattern_cluster_id, fc.failure_category, fc.failure_count, fc.first_seen, fc.last_seen,
                   fc.sample_error_message, fc.config_version_ids as version_ids,
                   fc.affected_scenarios as scenario_ids
            from {clusters} as fc
            where fc.last_seen > %(start)s
              and exists (
                  select 1 from {versions} as v
                  where v.version_id = any(fc.config_version_ids) and v.config_id = any(%(ids)s::uuid[])
              )
            order by fc.failure_count desc, fc.pattern_cluster_id
            limit %(limit)s
            """,
            {**p, "limit": MAX_CLUSTERS},
            clusters="failure_clusters",
            versions="stg_config_versions",
        )
        if r.has("failure_clusters")
        else []
    )
    inputs["failure_trends"] = (
        r.rows(
            """
            select day, failure_category, daily_failures, sample_errors[1:2] as sample_errors
            from {trends}
            where day >= date_trunc('day', %(start)s::timestamptz, 'UTC')
            order by day desc, failure_category
            """,
            p,
            trends="v_llm_failure_analysis",
        )
        if r.has("v_llm_failure_analysis")
        else []
    )
    inputs["tool_trends"] = (
        r.rows(
            """
            select tool_name, sum(usage_count) as usage_count,
                   sum(avg_success_rate * usage_count) / nullif(sum(usage_count), 0) as avg_success_rate,
                   sum(avg_duration * usage_count) / nullif(sum(usage_count), 0) as avg_duration_ms,
                   sum(daily_cost) as total_cost_usd
            from {tools}
            where day >= date_trunc('day', %(start)s::timestamptz, 'UTC')
            group by tool_name
            order by tool_name
            """,
            p,
            tools="tool_performance_daily",
        )
        if r.has("tool_performance_daily")
        else []
    )
    inputs["tool_performance"] = (
        r.rows(
            """
            select v.config_id, s.config_version_id as version_id, t.tool_name, count(*) as usage_count,
                   sum(t.call_count) as call_count, avg(t.success_rate) as avg_success_rate,
                   avg(t.avg_duration_ms) as avg_duration_ms
            from {tools} as t
            join {outcomes} as o on o.outcome_id = t.outcome_id
                 and o.execution_time >= t.execution_time and o.execution_time <= t.execution_time
            join {simulations} as s on s.simulation_id = o.simulation_id
            join {versions} as v on v.version_id = s.config_version_id
            where v.config_id = any(%(ids)s::uuid[]) and t.execution_time > %(start)s and t.execution_time <= %(end)s
            group by v.config_id, s.config_version_id, t.tool_name
            order by v.config_id, s.config_version_id, t.tool_name
            """,
            p,
            tools="stg_tool_usage",
            outcomes="stg_outcomes",
            simulations="stg_simulations",
            versions="stg_config_versions",
        )
        if r.has("stg_tool_usage")
        else []
    )
    inputs["scenario_health"] = r.rows(
        """
        select v.config_id, o.scenario_id, count(*) as executions,
               count(*) filter (where o.status <> 'success') as failures,
               count(*) filter (where o.status = 'timeout') as timeouts,
               avg(o.reliability_score) as avg_reliability,
               (array_agg(o.simulation_id order by o.execution_time desc))[1] as last_simulation_id
        from {outcomes} as o
        join {simulations} as s on s.simulation_id = o.simulation_id
        join {versions} as v on v.version_id = s.config_version_id
        where v.config_id = any(%(ids)s::uuid[])
          and o.execution_time > %(quiet_start)s and o.execution_time <= %(end)s
        group by v.config_id, o.scenario_id
        order by v.config_id, o.scenario_id
        """,
        p,
        outcomes="stg_outcomes",
        simulations="stg_simulations",
        versions="stg_config_versions",
    )
    inputs["simulations"] = r.rows(
        """
        select s.simulation_id, v.config_id, s.config_version_id as version_id, s.simulation_name, s.status,
               s.overall_score, s.started_at
        from {simulations} as s
        join {versions} as v on v.version_id = s.config_version_id
        where v.config_id = any(%(ids)s::uuid[]) and coalesce(s.started_at, s.created_at) > %(start)s
        order by coalesce(s.started_at, s.created_at) desc, s.simulation_id
        limit %(limit)s
        """,
        {**p, "limit": MAX_SIMULATIONS},
        simulations="stg_simulations",
        versions="stg_config_versions",
    )
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
