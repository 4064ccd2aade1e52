"""The dashboard's reads: SQL over the dbt models in the analytics schema, never the raw tables.

Aggregate pages add up the daily tables built by dbt (``dashboard_daily_version_scenario``,
``dashboard_latency_daily``, ``dashboard_cluster_daily``, ...), so a page reads a few thousand rows
whatever the size of the history. Drill-down pages read single simulations and outcomes by key through
the staging views. Ratios, intervals and percentiles of a filtered set are computed here in SQL from
the sums the models keep; nothing is aggregated in Python.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .. import dbt
from ..raw_rules import OUTCOME_STATUSES

DAY_CHOICES = (7, 14, 30, 90, 0)  # 0: all history
# Daily tables the pages read only filtered to one scenario, each with its sum over scenarios, which they
# read otherwise (the same numbers in fewer rows).
PER_SCENARIO_TABLES = {
    "dashboard_latency_daily": "dashboard_latency_daily_version",
    "dashboard_cluster_daily": "dashboard_cluster_daily_version",
}
DEFAULT_DAYS = 30
Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal: 95% two-sided intervals

# Wilson score interval of a proportion :s / :n and a normal interval of a mean from sum and sum of
# squares; one definition each, used by every query below.
WILSON = """
    (({s} + {z}^2 / 2) / ({n} + {z}^2)
        {sign} {z} * sqrt({s} * ({n} - {s}) / {n} + {z}^2 / 4) / ({n} + {z}^2))"""
MEAN_CI = "({rs} / {n} {sign} {z} * sqrt(greatest({rss} / {n} - ({rs} / {n})^2, 0) / {n}))"


def _daily_table(name: str, scenario: bool) -> sql.Composable:
    """The daily table ``name`` for a filter on one scenario, else its sum over scenarios."""
    return m(name if scenario else PER_SCENARIO_TABLES[name])


def _wilson(s: str, n: str, sign: str) -> str:
    return WILSON.format(s=f"({s})::double precision", n=f"({n})::double precision", z=Z95, sign=sign)


def _mean_ci(rs: str, rss: str, n: str, sign: str) -> str:
    return MEAN_CI.format(rs=f"({rs})", rss=f"({rss})", n=f"({n})::double precision", z=Z95, sign=sign)


STATS = f"""
    sum(executions) as executions,
    sum(successes) as successes,
    sum(successes)::double precision / sum(executions) as success_rate,
    {_wilson("sum(successes)", "sum(executions)", "-")} as success_low,
    {_wilson("sum(successes)", "sum(executions)", "+")} as success_high,
    sum(reliability_sum) / sum(executions) as reliability,
    {_mean_ci("sum(reliability_sum)", "sum(reliability_sq_sum)", "sum(executions)", "-")} as reliability_low,
    {_mean_ci("sum(reliability_sum)", "sum(reliability_sq_sum)", "sum(executions)", "+")} as reliability_high,
    sum(cost_usd) as cost_usd,
    sum(cost_usd) / sum(executions) as cost_per_run,
    sum(tokens) as tokens,
    sum(tokens)::double precision / sum(executions) as tokens_per_run,
    sum(errors) as errors,
    sum(timeouts) as timeouts"""


class FilterError(ValueError):
    """A query parameter breaks its rule; the message names the parameter and the rule."""


@dataclass(frozen=True)
class Filters:
    """The overview's filters, as kept in the URL: ``days``, ``config``, ``model``, ``scenario``."""

    days: int = DEFAULT_DAYS
    config: str = ""
    model: str = ""
    scenario: str = ""
    today: dt.date = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).date())

    @classmethod
    def parse(cls, params: Any) -> Filters:
        days_text = params.get("days", str(DEFAULT_DAYS)) or str(DEFAULT_DAYS)
        try:
            days = int(days_text)
        except ValueError:
            raise FilterError(f"days: must be one of {', '.join(map(str, DAY_CHOICES))}") from None
        if days not in DAY_CHOICES:
            raise FilterError(f"days: must be one of {', '.join(map(str, DAY_CHOICES))} (0 = all)")
        config = params.get("config", "") or ""
        if config:
            _uuid("config", config)
        model = params.get("model", "") or ""
        scenario = params.get("scenario", "") or ""
        for name, value in (("model", model), ("scenario", scenario)):
            if len(value) > 200:
                raise FilterError(f"{name}: at most 200 characters")
        return cls(days=days, config=config, model=model, scenario=scenario)

    @property
    def since(self) -> dt.date | None:
        return None if self.days == 0 else self.today - dt.timedelta(days=self.days - 1)

    def where(self, day_column: str = "day") -> tuple[sql.Composable, list[Any]]:
        parts: list[sql.Composable] = [sql.SQL("true")]
        params: list[Any] = []
        if self.since is not None:
            parts.append(sql.SQL("{} >= %s").format(sql.Identifier(day_column)))
            params.append(dt.datetime.combine(self.since, dt.time(), dt.timezone.utc))
        for column, value in (
            ("config_id", self.config),
            ("model", self.model),
            ("scenario_id", self.scenario),
        ):
            if value:
                parts.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        return sql.SQL(" and ").join(parts), params

    def query(self, **override: Any) -> dict[str, str]:
        """The filters as URL parameters (empty ones left out), with ``override`` applied."""
        values = {
            "days": str(self.days),
            "config": self.config,
            "model": self.model,
            "scenario": self.scenario,
        }
        values.update({k: str(v) for k, v in override.items()})
        return {k: v for k, v in values.items() if v}


def _uuid(name: str, text: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(text))
    except ValueError:
        raise FilterError(f"{name}: must be a UUID") from None


def parse_uuid(name: str, text: str) -> uuid.UUID:
    return _uuid(name, text)


def m(name: str) -> sql.Identifier:
    """A model in the analytics schema."""
    return sql.Identifier(dbt.analytics_schema(), name)


def rows(conn: psycopg.Connection, query: sql.Composable, params: Any = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return list(cur.execute(query, params).fetchall())


# ---------------------------------------------------------------------------------------------
# Shared lists


def configurations(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every configuration, by name: the order that fixes each configuration's colour."""
    return rows(
        conn,
        sql.SQL(
            "select config_id, name as config_name, latest_version_id, is_active from {} order by name, config_id"
        ).format(m("stg_configurations")),
    )


def filter_choices(conn: psycopg.Connection) -> dict[str, list[str]]:
    models = rows(conn, sql.SQL("select distinct model from {} order by 1").format(m("stg_config_versions")))
    scenarios = rows(conn, sql.SQL("select scenario_id from {} order by 1").format(m("stg_scenarios")))
    return {
        "models": [r["model"] for r in models if r["model"]],
        "scenarios": [r["scenario_id"] for r in scenarios],
    }


# ---------------------------------------------------------------------------------------------
# Overview


def overview(conn: psycopg.Connection, f: Filters) -> dict[str, Any]:
    where, params = f.where()
    daily = m("dashboard_daily_version_scenario")
    per_day = rows(
        conn,
        sql.SQL(
            "select day, config_id, config_name, " + STATS + " from {} where {}"
            " group by day, config_id, config_name order by day, config_name"
        ).format(daily, where),
        params,
    )
    per_config = rows(
        conn,
        sql.SQL(
            "select config_id, config_name, " + STATS + " from {} where {}"
            " group by config_id, config_name order by config_name"
        ).format(daily, where),
        params,
    )
    total = rows(conn, sql.SQL("select " + STATS + " from {} where {}").format(daily, where), params)
    latency = latency_percentiles(conn, where, params, scenario=bool(f.scenario))
    lat_day, lat_config, lat_total = latency[PER_DAY], latency[PER_CONFIG], latency[TOTAL]
    by_day = {(r["day"], str(r["config_id"])): r for r in lat_day}
    for r in per_day:
        r.update(
            {k: v for k, v in by_day.get((r["day"], str(r["config_id"])), {}).items() if k.endswith("_ms")}
        )
    by_config = {str(r["config_id"]): r for r in lat_config}
    for r in per_config:
        r.update({k: v for k, v in by_config.get(str(r["config_id"]), {}).items() if k.endswith("_ms")})
    summary = total[0] if total else {}
    if lat_total:
        summary.update({k: v for k, v in lat_total[0].items() if k.endswith("_ms")})
    markers = rows(
        conn,
        sql.SQL(
            "select config_id, config_name, version_id, version_number, min(day) as first_day"
            " from {} where {} group by config_id, config_name, version_id, version_number"
            " order by first_day, config_name"
        ).format(daily, where),
        params,
    )
    return {"per_day": per_day, "per_config": per_config, "summary": summary, "markers": markers}


PERCENTILES = """
    with h as (
        select day, config_id, latency_bucket, grouping(day, config_id) as level,
               max(latency_upper_ms) as upper_ms, sum(executions) as n
        from {table} where {where}
        group by grouping sets ((day, config_id, latency_bucket), (config_id, latency_bucket), (latency_bucket))
    ), c as (
        select *, sum(n) over (partition by level, day, config_id order by latency_bucket) as cumulative,
               sum(n) over (partition by level, day, config_id) as total
        from h
    )
    select level, day, config_id, min(upper_ms) filter (where cumulative >= 0.5 * total) as p50_ms,
           min(upper_ms) filter (where cumulative >= 0.95 * total) as p95_ms
    from c group by level, day, config_id"""
PER_DAY, PER_CONFIG, TOTAL = 0, 2, 3  # grouping(day, config_id) of each level of PERCENTILES


def latency_percentiles(
    conn: psycopg.Connection, where: sql.Composable, params: list[Any], *, scenario: bool
) -> dict[int, list[dict[str, Any]]]:
    """p50 and p95 latency (upper edge of the histogram bucket holding them) per day and configuration,
    per configuration, and in total, from one scan of the histogram; keyed by level. Without a scenario
    filter (``scenario`` false) the histogram summed over scenarios gives the same numbers."""
    table = _daily_table("dashboard_latency_daily", scenario)
    found = rows(conn, sql.SQL(PERCENTILES).format(table=table, where=where), params)
    levels: dict[int, list[dict[str, Any]]] = {PER_DAY: [], PER_CONFIG: [], TOTAL: []}
    for r in found:
        levels[r["level"]].append(r)
    return levels


# ---------------------------------------------------------------------------------------------
# Configurations and versions


def versions(conn: psycopg.Connection, config_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """Versions with lineage and comparison (``dashboard_version_lineage``) and their run totals."""
    where = sql.SQL("l.config_id = %s") if config_id else sql.SQL("true")
    return rows(
        conn,
        sql.SQL(
            """select l.*, t.executions as total_executions, t.success_rate as total_success_rate,
                      t.reliability as total_reliability, t.cost_per_run as total_cost_per_run
               from {lineage} as l
               left join (
                   select version_id, sum(executions) as executions,
                          sum(successes)::double precision / sum(executions) as success_rate,
                          sum(reliability_sum) / sum(executions) as reliability,
                          sum(cost_usd) / sum(executions) as cost_per_run
                   from {daily} group by version_id
               ) as t on t.version_id = l.version_id
               where {where} order by l.config_name, l.version_number desc"""
        ).format(
            lineage=m("dashboard_version_lineage"), daily=m("dashboard_daily_version_scenario"), where=where
        ),
        [config_id] if config_id else [],
    )


def version_scenarios(conn: psycopg.Connection, config_id: uuid.UUID) -> list[dict[str, Any]]:
    return rows(
        conn,
        sql.SQL("select * from {} where config_id = %s order by version_number desc, scenario_id").format(
            m("dashboard_version_scenario")
        ),
        [config_id],
    )


# ---------------------------------------------------------------------------------------------
# Scenario x version matrix


def matrix(conn: psycopg.Connection, f: Filters) -> list[dict[str, Any]]:
    where, params = f.where()
    return rows(
        conn,
        sql.SQL(
            "select config_id, config_name, version_id, version_number, scenario_id, " + STATS + " from {}"
            " where {} group by config_id, config_name, version_id, version_number, scenario_id"
            " order by config_name, version_number, scenario_id"
        ).format(m("dashboard_daily_version_scenario"), where),
        params,
    )


# ---------------------------------------------------------------------------------------------
# Runs: simulations, outcomes, one trajectory


@dataclass(frozen=True)
class RunFilters:
    config: str = ""
    version: str = ""
    scenario: str = ""
    status: str = ""
    day: dt.date | None = None

    @classmethod
    def parse(cls, params: Any) -> RunFilters:
        config = params.get("config", "") or ""
        version = params.get("version", "") or ""
        if config:
            _uuid("config", config)
        if version:
            _uuid("version", version)
        status = params.get("status", "") or ""
        if status and status not in OUTCOME_STATUSES:
            raise FilterError(f"status: must be one of {', '.join(OUTCOME_STATUSES)}")
        day_text = params.get("day", "") or ""
        day = None
        if day_text:
            try:
                day = dt.date.fromisoformat(day_text[:10])
            except ValueError:
                raise FilterError("day: must be a date, YYYY-MM-DD") from None
        scenario = params.get("scenario", "") or ""
        if len(scenario) > 200:
            raise FilterError("scenario: at most 200 characters")
        return cls(config, version, scenario, status, day)

    def query(self) -> dict[str, str]:
        values = {
            "config": self.config,
            "version": self.version,
            "scenario": self.scenario,
            "status": self.status,
            "day": self.day.isoformat() if self.day else "",
        }
        return {k: v for k, v in values.items() if v}


RUN_LIMIT = 50
SIMULATION_OUTCOMES = 200  # outcomes listed on a simulation page


def runs(conn: psycopg.Connection, f: RunFilters) -> list[dict[str, Any]]:
    """The newest outcomes matching ``f`` (at most RUN_LIMIT), with their version and configuration."""
    parts: list[sql.Composable] = [sql.SQL("true")]
    params: list[Any] = []
    if f.day:
        start = dt.datetime.combine(f.day, dt.time(), dt.timezone.utc)
        parts.append(sql.SQL("o.execution_time >= %s and o.execution_time < %s"))
        params += [start, start + dt.timedelta(days=1)]
    for clause, value in (
        ("v.config_id = %s", f.config),
        ("v.version_id = %s", f.version),
        ("o.scenario_id = %s", f.scenario),
        ("o.status = %s", f.status),
    ):
        if value:
            parts.append(sql.SQL(clause))
            params.append(value)
    return rows(
        conn,
        sql.SQL(
            """select o.outcome_id, o.simulation_id, o.scenario_id, o.execution_time, o.status,
                      o.reliability_score, o.execution_time_ms, o.tokens_used, o.cost_usd, o.error_category,
                      v.config_id, c.name as config_name, v.version_id, v.version_number
               from {outcomes} as o
               join {sims} as s on s.simulation_id = o.simulation_id
               join {versions} as v on v.version_id = s.config_version_id
               join {configs} as c on c.config_id = v.config_id
               where {where} order by o.execution_time desc limit {limit}"""
        ).format(
            outcomes=m("stg_outcomes"),
            sims=m("stg_simulations"),
            versions=m("stg_config_versions"),
            configs=m("stg_configurations"),
            where=sql.SQL(" and ").join(parts),
            limit=sql.Literal(RUN_LIMIT),
        ),
        params,
    )


def simulation(conn: psycopg.Connection, simulation_id: uuid.UUID) -> dict[str, Any] | None:
    found = rows(
        conn,
        sql.SQL(
            """select s.*, v.config_id, c.name as config_name, v.version_number, v.model
               from {sims} as s join {versions} as v on v.version_id = s.config_version_id
               join {configs} as c on c.config_id = v.config_id where s.simulation_id = %s"""
        ).format(
            sims=m("stg_simulations"), versions=m("stg_config_versions"), configs=m("stg_configurations")
        ),
        [simulation_id],
    )
    return found[0] if found else None


def simulation_outcomes(conn: psycopg.Connection, simulation_id: uuid.UUID) -> list[dict[str, Any]]:
    return rows(
        conn,
        sql.SQL(
            """select outcome_id, scenario_id, execution_time, status, reliability_score, execution_time_ms,
                      tokens_used, cost_usd, error_category, retry_count
               from {} where simulation_id = %s order by execution_time limit {}"""
        ).format(m("stg_outcomes"), sql.Literal(SIMULATION_OUTCOMES)),
        [simulation_id],
    )


def outcome(conn: psycopg.Connection, outcome_id: uuid.UUID) -> dict[str, Any] | None:
    found = rows(
        conn,
        sql.SQL(
            """select o.*, s.config_version_id as version_id, v.config_id, c.name as config_name,
                      v.version_number, v.model
               from {outcomes} as o join {sims} as s on s.simulation_id = o.simulation_id
               join {versions} as v on v.version_id = s.config_version_id
               join {configs} as c on c.config_id = v.config_id where o.outcome_id = %s"""
        ).format(
            outcomes=m("stg_outcomes"),
            sims=m("stg_simulations"),
            versions=m("stg_config_versions"),
            configs=m("stg_configurations"),
        ),
        [outcome_id],
    )
    if not found:
        return None
    row = found[0]
    row["tools"] = rows(
        conn,
        sql.SQL("select * from {} where outcome_id = %s and execution_time = %s order by tool_name").format(
            m("stg_tool_usage")
        ),
        [outcome_id, row["execution_time"]],
    )
    row["failures"] = rows(
        conn,
        sql.SQL("select * from {} where outcome_id = %s and execution_time = %s order by created_at").format(
            m("stg_failure_patterns")
        ),
        [outcome_id, row["execution_time"]],
    )
    return row


# ---------------------------------------------------------------------------------------------
# Failure clusters

CLUSTER_LIMIT = 20


def clusters(conn: psycopg.Connection, f: Filters) -> dict[str, Any]:
    where, params = f.where()
    daily = _daily_table("dashboard_cluster_daily", bool(f.scenario))
    listed = rows(
        conn,
        sql.SQL(
            """with f as (select * from {daily} where {where}),
               by_category as (
                   select pattern_cluster_id, failure_category, sum(failures) as failures
                   from f group by pattern_cluster_id, failure_category
               ),
               versions as (
                   select pattern_cluster_id, count(*) as versions
                   from (select distinct pattern_cluster_id, version_id from f) as d group by pattern_cluster_id
               )
               select t.pattern_cluster_id, c.failure_category, t.failures, t.first_day, t.last_day, v.versions
               from (
                   select pattern_cluster_id, sum(failures) as failures, min(day) as first_day, max(day) as last_day
                   from f group by pattern_cluster_id
               ) as t
               join versions as v using (pattern_cluster_id)
               join lateral (
                   select b.failure_category from by_category as b where b.pattern_cluster_id = t.pattern_cluster_id
                   order by b.failures desc, b.failure_category limit 1
               ) as c on true
               order by t.failures desc, t.pattern_cluster_id limit {limit}"""
        ).format(daily=daily, where=where, limit=sql.Literal(CLUSTER_LIMIT)),
        params,
    )
    ids = [r["pattern_cluster_id"] for r in listed]
    affected, affected_params = f.where("last_day")  # a scenario failed in the range if its last day is in it
    scenarios = rows(
        conn,
        sql.SQL(
            "select distinct pattern_cluster_id, scenario_id from {} where {} and pattern_cluster_id = any(%s)"
            " order by pattern_cluster_id, scenario_id"
        ).format(m("dashboard_cluster_scenarios"), affected),
        [*affected_params, ids],
    )
    trend = rows(
        conn,
        sql.SQL(
            "select day, pattern_cluster_id, sum(failures) as failures from {daily} where {where}"
            " and pattern_cluster_id = any(%s) group by day, pattern_cluster_id order by day"
        ).format(daily=daily, where=where),
        [*params, ids],
    )
    per_version = rows(
        conn,
        sql.SQL(
            """select cv.*, c.name as config_name from {cv} as cv join {configs} as c on c.config_id = cv.config_id
               where cv.pattern_cluster_id = any(%s) order by c.name, cv.version_number"""
        ).format(cv=m("dashboard_cluster_versions"), configs=m("stg_configurations")),
        [ids],
    )
    examples = rows(
        conn,
        sql.SQL(
            """select e.* from unnest(%s::uuid[]) as k(cluster_id)
               cross join lateral (
                   select fp.pattern_cluster_id, fp.outcome_id, fp.execution_time, fp.error_message
                   from {fp} as fp where fp.pattern_cluster_id = k.cluster_id
                   order by fp.execution_time desc limit 3
               ) as e"""
        ).format(fp=m("stg_failure_patterns")),
        [ids],
    )
    for r in listed:
        key = r["pattern_cluster_id"]
        r["scenario_ids"] = [x["scenario_id"] for x in scenarios if x["pattern_cluster_id"] == key]
        r["scenarios"] = len(r["scenario_ids"])
        r["versions_detail"] = [v for v in per_version if v["pattern_cluster_id"] == key]
        r["examples"] = [e for e in examples if e["pattern_cluster_id"] == key]
    return {"clusters": listed, "trend": trend}


# ---------------------------------------------------------------------------------------------
# Recommendations

REC_STATES = ("pending", "approved", "rejected", "applied")
QUEUE_LIMIT = 100  # recommendations listed per page, newest first


@dataclass(frozen=True)
class RecFilters:
    state: str = "pending"
    min_confidence: float = 0.0
    config: str = ""

    @classmethod
    def parse(cls, params: Any) -> RecFilters:
        state = params.get("state", "pending")
        if state not in (*REC_STATES, "all"):
            raise FilterError(f"state: must be one of {', '.join(REC_STATES)}, all")
        text = params.get("min_confidence", "0") or "0"
        try:
            value = float(text)
        except ValueError:
            raise FilterError("min_confidence: must be a number from 0 to 1") from None
        if not 0.0 <= value <= 1.0:
            raise FilterError("min_confidence: must be a number from 0 to 1")
        config = params.get("config", "") or ""
        if config:
            _uuid("config", config)
        return cls(state, value, config)

    def query(self, **override: Any) -> dict[str, str]:
        values = {"state": self.state, "min_confidence": f"{self.min_confidence:g}", "config": self.config}
        values.update({k: str(v) for k, v in override.items()})
        return {k: v for k, v in values.items() if v}


def recommendations(conn: psycopg.Connection, f: RecFilters) -> dict[str, Any]:
    parts: list[sql.Composable] = [sql.SQL("true")]
    params: list[Any] = []
    if f.state != "all":
        parts.append(sql.SQL("state = %s"))
        params.append(f.state)
    if f.config:
        parts.append(sql.SQL("config_id = %s"))
        params.append(f.config)
    where = sql.SQL(" and ").join(parts)
    queue = m("dashboard_recommendation_queue")
    shown = rows(
        conn,
        sql.SQL(
            "select * from {} where {} and confidence >= %s order by created_at desc, confidence desc limit {}"
        ).format(queue, where, sql.Literal(QUEUE_LIMIT)),
        [*params, f.min_confidence],
    )
    below = rows(
        conn,
        sql.SQL("select count(*) as n from {} where {} and confidence < %s").format(queue, where),
        [*params, f.min_confidence],
    )[0]["n"]
    counts = rows(conn, sql.SQL("select state, count(*) as n from {} group by state").format(queue))
    return {
        "recommendations": shown,
        "below_threshold": below,
        "counts": {r["state"]: r["n"] for r in counts},
    }


def recommendation(conn: psycopg.Connection, rec_id: uuid.UUID) -> dict[str, Any] | None:
    found = rows(
        conn,
        sql.SQL("select * from {} where recommendation_id = %s").format(m("dashboard_recommendation_queue")),
        [rec_id],
    )
    return found[0] if found else None
