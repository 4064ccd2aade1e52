"""Benchmark of the rollups: incremental update cost and dashboard speed-up, measured in one run.

Creates a throwaway database on the chosen server (ARC_EVAL_DSN, PG*, TIMESCALEDB_* or embedded),
writes ``--rows`` outcomes over 30 days up to ``--trials`` hours before the latest 12:00 UTC (one tool
usage row per outcome, a failure for every fifth) with INSERT ... SELECT generate_series, vacuums it
(as autovacuum leaves a history: hint bits set, BRIN ranges summarized) and builds the rollups. Each
trial then appends the next hour of data (1% more rows, up to that 12:00) and updates the rollups.
It prints:

1. the time of the rollup run after the append against a full rebuild (target: 10% or less);
2. dashboard aggregates read from the rollups against the same aggregates over the raw tables
   (target: at least 20x faster), after checking both give the same numbers.

Run: ``python bench/rollups.py [--rows 1000000] [--days 30] [--trials 3] [--repeat 5] [--keep]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import re
import statistics
import sys
import time
import uuid

import psycopg

from arc_eval import dbt
from arc_eval.connection import Target, resolve

ROLLUPS = ("simulation_performance_hourly", "failure_trends_daily", "tool_performance_daily")
OUTCOMES_PER_SIMULATION = 2000
TOOLS = "array['web_search', 'http_request', 'calculator', 'code_interpreter', 'file_reader']"

# (label, query over the rollups, same aggregate over the raw tables); {a} analytics, {r} raw schema.
DASHBOARD_QUERIES = (
    (
        "daily performance, 30 days",
        """select date_trunc('day', hour) as day, sum(total_outcomes) as n,
                  sum(avg_reliability * total_outcomes) / sum(total_outcomes) as reliability,
                  sum(total_cost) as cost, sum(error_count) as errors
           from {a}.simulation_performance_hourly where hour >= date_trunc('hour', now() - interval '30 days')
           group by 1 order by 1""",
        """select date_trunc('day', execution_time) as day, count(*) as n, avg(reliability_score) as reliability,
                  sum(cost_usd::double precision) as cost, count(*) filter (where status = 'error') as errors
           from {r}.outcomes where execution_time >= date_trunc('hour', now() - interval '30 days')
           group by 1 order by 1""",
    ),
    (
        "failures per category, 30 days",
        """select failure_category, sum(failure_count) from {a}.failure_trends_daily
           where day >= date_trunc('day', now() - interval '30 days') group by 1 order by 1""",
        """select failure_category, count(*) from {r}.failure_patterns
           where execution_time >= date_trunc('day', now() - interval '30 days') group by 1 order by 1""",
    ),
    (
        "tool usage and cost, 30 days",
        """select tool_name, sum(usage_count), sum(daily_cost) from {a}.tool_performance_daily
           where day >= date_trunc('day', now() - interval '30 days') group by 1 order by 1""",
        """select tool_name, count(*), sum(total_cost_usd::double precision) from {r}.tool_usage
           where execution_time >= date_trunc('day', now() - interval '30 days') group by 1 order by 1""",
    ),
)


def generate(conn: psycopg.Connection, first: int, last: int, start: object, step: str) -> None:
    """Outcomes first..last-1 at start + (i - first) * step, with their tool usage and failures."""
    r = dbt.raw_schema()
    params = {"first": first, "last": last, "start": start, "step": step}
    conn.execute(
        f"""insert into {r}.simulations (simulation_id, config_version_id, scenario_set, status, total_scenarios,
                completed_scenarios, created_at, started_at, completed_at)
            select md5('sim' || s)::uuid, (select version_id from {r}.config_versions limit 1), array['bench'],
                   'completed', {OUTCOMES_PER_SIMULATION}, {OUTCOMES_PER_SIMULATION},
                   %(start)s::timestamptz + (s * {OUTCOMES_PER_SIMULATION} - %(first)s) * %(step)s::interval,
                   %(start)s::timestamptz + (s * {OUTCOMES_PER_SIMULATION} - %(first)s) * %(step)s::interval,
                   %(start)s::timestamptz + ((s + 1) * {OUTCOMES_PER_SIMULATION} - %(first)s) * %(step)s::interval
            from generate_series(%(first)s / {OUTCOMES_PER_SIMULATION}, (%(last)s - 1) / {OUTCOMES_PER_SIMULATION}) s
            on conflict do nothing""",
        params,
    )
    scenarios = f"(select array_agg(scenario_id order by scenario_id) from {r}.scenarios)"
    conn.execute(
        f"""insert into {r}.outcomes (outcome_id, simulation_id, scenario_id, execution_time, status,
                reliability_score, execution_time_ms, tokens_used, cost_usd, trajectory)
            select md5('o' || i)::uuid, md5('sim' || (i / {OUTCOMES_PER_SIMULATION}))::uuid,
                   sc.ids[1 + i %% cardinality(sc.ids)], %(start)s::timestamptz + (i - %(first)s) * %(step)s::interval,
                   case when i %% 10 = 0 then 'error' when i %% 17 = 0 then 'timeout' else 'success' end,
                   (i * 7919 %% 1000) / 1000.0, 100 + i %% 5000, 100 + i %% 3000, (i * 31 %% 100) / 1000.0,
                   '{{"start_time": "t", "status": "s"}}'::jsonb
            from generate_series(%(first)s::bigint, %(last)s - 1) i cross join {scenarios} as sc(ids)""",
        params,
    )
    conn.execute(
        f"""insert into {r}.tool_usage (usage_id, outcome_id, execution_time, tool_name, call_count,
                avg_duration_ms, success_rate, total_cost_usd)
            select md5('t' || i)::uuid, md5('o' || i)::uuid, %(start)s::timestamptz + (i - %(first)s) * %(step)s::interval,
                   ({TOOLS})[1 + i %% 5], 1 + i %% 4, 10 + i %% 900, (i %% 5) / 4.0, (i %% 7) / 1000.0
            from generate_series(%(first)s::bigint, %(last)s - 1) i""",
        params,
    )
    conn.execute(
        f"""insert into {r}.failure_patterns (pattern_id, outcome_id, execution_time, failure_type,
                failure_category, error_message, pattern_cluster_id, cluster_confidence)
            select md5('f' || i)::uuid, md5('o' || i)::uuid, %(start)s::timestamptz + (i - %(first)s) * %(step)s::interval,
                   'BenchFailure', (array['timeout', 'tool_error', 'model_error'])[1 + i %% 3], 'failure ' || i %% 7,
                   md5('c' || i %% 11)::uuid, (i %% 10) / 10.0
            from generate_series(%(first)s::bigint, %(last)s - 1) i where i %% 5 = 0""",
        params,
    )
    conn.commit()


def _database_seconds(admin: psycopg.Connection, dbname: str) -> float:
    """Time the server spent executing statements in ``dbname`` (pg_stat_database.active_time), once
    no client is connected to it (so every backend has flushed its statistics)."""
    for _ in range(200):
        admin.execute("select pg_stat_clear_snapshot()")
        busy = admin.execute(
            "select count(*) from pg_stat_activity where datname = %s", (dbname,)
        ).fetchone()[0]
        if busy == 0:
            break
        time.sleep(0.05)
    admin.execute("select pg_stat_clear_snapshot()")
    row = admin.execute("select active_time from pg_stat_database where datname = %s", (dbname,)).fetchone()
    return float(row[0]) / 1000


TIMES = ("statements", "database", "nodes")
ROLLUP_LOG = re.compile(r"arc_eval: rollup (?P<relation>\S+) (?P<action>.+) in (?P<seconds>[0-9.]+)s$")


def run_rollups(server: Target, target: Target, extra_vars: dict | None = None) -> dict[str, float]:
    """Run the rollup models, one at a time (``--threads 1``: with parallel nodes on a small machine,
    each node's wall time would include the others' work). Returns the seconds spent in the rollups' own
    statements (from the materialization's log line), the database time of the whole dbt run
    (pg_stat_database, including dbt's fixed work: the on-run-start schema check and catalog queries),
    dbt's node times, and what each rollup did."""
    dbname = target.libpq_env()["PGDATABASE"]
    statements: list[float] = []
    actions: list[str] = []

    def collect(event: object) -> None:
        if event.info.name == "JinjaLogInfo":
            match = ROLLUP_LOG.search(event.data.msg)
            if match:
                statements.append(float(match["seconds"]))
                actions.append(f"{match['relation'].split('.')[-1]} {match['action']}")

    with psycopg.connect(server.conninfo, autocommit=True) as admin:
        before = _database_seconds(admin, dbname)
        result = dbt.run(
            ["run", "--threads", "1", "--select", *ROLLUPS],
            target,
            quiet=True,
            dbt_vars=extra_vars or {},
            callbacks=[collect],
        )
        after = _database_seconds(admin, dbname)
    if len(statements) != len(ROLLUPS):
        raise RuntimeError(f"expected one timing line per rollup, got {statements}")
    return {
        "statements": sum(statements),
        "database": after - before,
        "nodes": sum(r.execution_time for r in result.result.results),
        "actions": actions,
    }


def timed_query(conn: psycopg.Connection, sql: str, repeat: int) -> tuple[float, list[tuple]]:
    """Median wall time of ``sql`` over ``repeat`` runs (after one warm-up), and its rows."""
    rows = conn.execute(sql).fetchall()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        conn.execute(sql).fetchall()
        times.append(time.perf_counter() - began)
    return statistics.median(times), rows


def same_numbers(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, (int, float)) or hasattr(u, "as_integer_ratio"):
                if not math.isclose(float(u), float(v), rel_tol=1e-6, abs_tol=1e-9):
                    return False
            elif u != v:
                return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="outcomes to generate (default 1000000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per dashboard query (median)")
    parser.add_argument("--days", type=int, default=30, help="days of history the outcomes span (default 30)")
    parser.add_argument("--trials", type=int, default=3, help="update and rebuild runs timed (median)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args(argv)

    server = resolve()
    name = f"arc_eval_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.conninfo, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    target = server.with_database(name)
    print(f"server: {server.redacted()}  database: {name}  outcomes: {args.rows}", flush=True)
    try:
        dbt.init_warehouse(target)
        with psycopg.connect(target.conninfo) as conn:
            conn.execute(
                f"insert into {dbt.raw_schema()}.configurations (config_id, name, user_id)"
                " values ('00000000-0000-0000-0000-00000000be01', 'bench', gen_random_uuid())"
            )
            conn.execute(
                f"insert into {dbt.raw_schema()}.config_versions (config_id, version_number, raw_yaml,"
                " parsed_config, config_hash) values ('00000000-0000-0000-0000-00000000be01', 1,"
                " 'model: m', '{\"model\": \"m\", \"temperature\": 0.5}', repeat('0', 64))"
            )
            conn.commit()
            began = time.perf_counter()
            step = f"{args.days * 86400 / args.rows} seconds"
            # The data ends at the latest 12:00 UTC, whatever the time of the run: a daily bucket then
            # holds half a day of recent rows to recompute (at 00:30 it would hold minutes, plus the whole
            # of yesterday for rows appended across midnight).
            end = conn.execute(
                "select date_bin('1 day', now() - interval '12 hours', timestamptz '2000-01-03 00:00:00+00')"
                " + interval '12 hours'"
            ).fetchone()[0]
            start = end - dt.timedelta(days=args.days, hours=args.trials)
            generate(conn, 0, args.rows, start, step)
            print(
                f"generated {args.rows} outcomes ending {end:%Y-%m-%d %H:%M} UTC in "
                f"{time.perf_counter() - began:.1f}s",
                flush=True,
            )
        with psycopg.connect(target.conninfo, autocommit=True) as conn:
            conn.execute("vacuum (analyze)")  # the history as autovacuum leaves it; appended rows stay fresh
        initial = run_rollups(server, target)
        appended = max(1, args.rows // 100)
        updates = []
        for trial in range(
            args.trials
        ):  # each trial appends the next hour of data (1% of the rows), then updates
            first = args.rows + trial * appended
            with psycopg.connect(target.conninfo) as conn:
                start = end - dt.timedelta(hours=args.trials - trial)
                generate(conn, first, first + appended, start, f"{3600 / appended} seconds")
            updates.append(run_rollups(server, target))
            done = updates[-1]
            print(f"update {trial + 1}: {done['statements']:.3f}s: " + "; ".join(done["actions"]), flush=True)
        update = {k: statistics.median(u[k] for u in updates) for k in TIMES}

        print()
        print(
            f"{'dashboard query (after the update)':<36}{'rollup ms':>10}{'raw ms':>10}{'speed-up':>10}  same numbers"
        )
        speedups = []
        schemas = {"a": dbt.analytics_schema(), "r": dbt.raw_schema()}
        with psycopg.connect(target.conninfo) as conn:
            conn.execute("set time zone 'UTC'")
            for label, on_rollup, on_raw in DASHBOARD_QUERIES:
                fast, fast_rows = timed_query(conn, on_rollup.format(**schemas), args.repeat)
                slow, slow_rows = timed_query(conn, on_raw.format(**schemas), args.repeat)
                speedups.append(slow / fast)
                same = "yes" if same_numbers(fast_rows, slow_rows) else "NO"
                print(f"{label:<36}{fast * 1000:>10.2f}{slow * 1000:>10.2f}{slow / fast:>9.1f}x  {same}")
        print(f"{'geometric mean speed-up (target >= 20x)':<56}{statistics.geometric_mean(speedups):>9.1f}x")

        fulls = [run_rollups(server, target, {"rollup_full_refresh": True}) for _ in range(args.trials)]
        full = {k: statistics.median(f[k] for f in fulls) for k in TIMES}
        print()
        print(f"{'rollup run (seconds)':<40}{'statements':>12}{'database':>10}{'dbt nodes':>11}")
        for label, run in (
            ("initial build", initial),
            (f"update after appending 1% ({appended} rows)*", update),
            ("full rebuild*", full),
        ):
            print(f"{label:<40}{run['statements']:>12.3f}{run['database']:>10.3f}{run['nodes']:>11.3f}")
        ratios = [update[k] / full[k] for k in TIMES]
        print(f"{'ratio update / full rebuild':<40}{ratios[0]:>12.1%}{ratios[1]:>10.1%}{ratios[2]:>11.1%}")
        print(
            f"* median of {args.trials} runs. Target <= 10% on the rollup statements; database and dbt-node"
        )
        print("  times also hold dbt's fixed work (on-run-start schema check, catalog queries, rendering).")
        return 0
    finally:
        if not args.keep:
            with psycopg.connect(server.conninfo, autocommit=True) as admin:
                admin.execute(f'drop database if exists "{name}" with (force)')


if __name__ == "__main__":
    sys.exit(main())
