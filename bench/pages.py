"""Benchmark of `arc-eval serve`: server time of every page at scale, measured in one run.

Creates a throwaway database on the chosen server (ARC_EVAL_DSN, PG*, TIMESCALEDB_* or embedded) and
fills it with bench/rollups.py's generator (``--rows`` outcomes over 30 days, with tool usage and
clustered failures), spread over three configurations of three versions each, plus a queue of
recommendations; runs the dbt models once (``dbt run``), then requests each page ``--repeat`` times
through the ASGI app in process (no network: the time is the server's) and prints the median per page
against the 300 ms target. The baseline, measured in the same run, is the overview's daily aggregate per
configuration computed from the raw outcomes instead of the dashboard models.

Run: ``python bench/pages.py [--rows 1000000] [--repeat 5] [--keep]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))

from rollups import generate  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from arc_eval import dbt  # noqa: E402
from arc_eval.connection import resolve  # noqa: E402
from arc_eval.web.app import create_app  # noqa: E402

TARGET_MS = 300
CONFIGS = ("bench-alpha", "bench-beta", "bench-gamma")
VERSIONS = 3


def populate(conn: psycopg.Connection, rows: int, days: int) -> None:
    """Configurations and versions, the generated history spread over them, and recommendations."""
    r = dbt.raw_schema()
    for i, name in enumerate(CONFIGS):
        config_id = f"00000000-0000-0000-0000-0000000be0{i}0"
        conn.execute(
            f"insert into {r}.configurations (config_id, name, user_id) values (%s, %s, gen_random_uuid())",
            (config_id, name),
        )
        for v in range(1, VERSIONS + 1):
            conn.execute(
                f"insert into {r}.config_versions (version_id, config_id, version_number, raw_yaml, parsed_config,"
                " config_hash) values (%s, %s, %s, %s, %s, repeat(%s, 64))",
                (
                    f"00000000-0000-0000-0000-0000000be0{i}{v}",
                    config_id,
                    v,
                    f"model: m{i}\ntemperature: 0.{v}\n",
                    f'{{"model": "m{i}", "temperature": 0.{v}}}',
                    str(v),
                ),
            )
        conn.execute(
            f"update {r}.configurations set latest_version_id = %s where config_id = %s",
            (f"00000000-0000-0000-0000-0000000be0{i}{VERSIONS}", config_id),
        )
    conn.commit()
    end = conn.execute("select date_trunc('hour', now())").fetchone()[0]
    generate(conn, 0, rows, end - dt.timedelta(days=days), f"{days * 86400 / rows} seconds")
    # Each configuration's versions follow one another in time: version v runs in the v-th third.
    conn.execute(
        f"""update {r}.simulations as s set config_version_id = (
                '00000000-0000-0000-0000-0000000be0' || (n.k % 3) || (1 + least(2, n.rank * 3 / n.total)))::uuid
            from (select simulation_id, row_number() over (order by simulation_id) as k,
                         row_number() over (order by started_at) - 1 as rank, count(*) over () as total
                  from {r}.simulations) as n
            where n.simulation_id = s.simulation_id"""
    )
    session = conn.execute(
        f"""insert into {r}.llm_recommendation_sessions (user_id, analysis_start_time, analysis_end_time,
                data_window_start, data_window_end, llm_model, total_outcomes_analyzed)
            values (gen_random_uuid(), now(), now(), now() - interval '30 days', now(), 'rules', %s)
            returning session_id""",
        (rows,),
    ).fetchone()[0]
    for i in range(60):
        conn.execute(
            f"""insert into {r}.recommendations (source_type, source_id, recommendation_type, description,
                    suggested_yaml_changes, confidence, session_id, config_id, base_version_id, impact_estimate)
                values ('simulation', gen_random_uuid(), 'config_change', %s, %s, %s, %s, %s, %s,
                        '{{"metric": "avg_reliability", "expected_delta": 0.02}}')""",
            (
                f"Lower the temperature of {CONFIGS[i % 3]} (proposal {i})",
                f"temperature: 0.0{i % 9 + 1}",
                0.4 + (i % 6) / 10,
                session,
                f"00000000-0000-0000-0000-0000000be0{i % 3}0",
                f"00000000-0000-0000-0000-0000000be0{i % 3}{VERSIONS}",
            ),
        )
    conn.commit()


BASELINE = """
    select date_trunc('day', o.execution_time, 'UTC') as day, v.config_id, count(*),
           avg((o.status = 'success')::int), avg(o.reliability_score), sum(o.cost_usd), sum(o.tokens_used),
           percentile_cont(array[0.5, 0.95]) within group (order by o.execution_time_ms)
    from {r}.outcomes as o join {r}.simulations as s using (simulation_id)
    join {r}.config_versions as v on v.version_id = s.config_version_id
    where o.execution_time >= now() - interval '30 days'
    group by 1, 2"""


def median_ms(call, repeat: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="outcomes to generate (default 1000000)")
    parser.add_argument("--days", type=int, default=30, help="days of history (default 30)")
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per page (median)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--database",
        default=None,
        help="time the pages of a database kept by an earlier --keep run (no set-up)",
    )
    args = parser.parse_args(argv)

    server = resolve()
    name = args.database or f"arc_eval_bench_pages_{uuid.uuid4().hex[:8]}"
    if not args.database:
        with psycopg.connect(server.conninfo, autocommit=True) as admin:
            admin.execute(f'create database "{name}"')
    target = server.with_database(name)
    print(f"server: {server.redacted()}  database: {name}  outcomes: {args.rows}", flush=True)
    try:
        if not args.database:
            dbt.init_warehouse(target)
            began = time.perf_counter()
            with psycopg.connect(target.conninfo) as conn:
                populate(conn, args.rows, args.days)
            with psycopg.connect(target.conninfo, autocommit=True) as conn:
                conn.execute("vacuum (analyze)")
            print(f"generated in {time.perf_counter() - began:.1f}s", flush=True)
            began = time.perf_counter()
            dbt.run(["run"], target, quiet=True)
            print(f"dbt run (all models) in {time.perf_counter() - began:.1f}s", flush=True)

        with psycopg.connect(target.conninfo) as conn:
            r = dbt.raw_schema()
            config = conn.execute(
                f"select config_id from {r}.configurations order by name limit 1"
            ).fetchone()[0]
            sim = conn.execute(f"select simulation_id from {r}.simulations limit 1").fetchone()[0]
            outcome, day = conn.execute(
                f"select outcome_id, (execution_time at time zone 'UTC')::date from {r}.outcomes"
                " where status = 'error' order by execution_time desc limit 1"
            ).fetchone()
            baseline = median_ms(lambda: conn.execute(BASELINE.format(r=r)).fetchall(), args.repeat)

        pages = [
            ("overview, 30 days", "/"),
            ("overview, all history", "/?days=0"),
            ("overview, one configuration", f"/?config={config}"),
            ("configurations", "/configs"),
            ("one configuration's versions", f"/configs/{config}"),
            ("scenario x version matrix", "/matrix"),
            ("runs, newest", "/runs"),
            ("runs of a chart point", f"/runs?config={config}&day={day}"),
            ("one simulation", f"/simulations/{sim}"),
            ("one trajectory", f"/outcomes/{outcome}"),
            ("failure clusters", "/clusters"),
            ("recommendations (all states)", "/recommendations?state=all"),
        ]
        with (
            tempfile.TemporaryDirectory() as data_dir,
            TestClient(create_app(target.conninfo, Path(data_dir))) as c,
        ):
            results = []
            for label, path in pages:

                def get(path: str = path) -> None:
                    response = c.get(path)
                    if response.status_code != 200:
                        raise RuntimeError(f"{path}: HTTP {response.status_code}")

                results.append((label, path, median_ms(get, args.repeat)))

        print()
        print(f"baseline: the overview's daily aggregate over the raw outcomes: {baseline:.0f} ms")
        print(f"{'page':<32}{'median ms':>10}{'vs target':>11}{'vs baseline':>13}  {'within 300 ms'}")
        for label, _, ms in results:
            print(
                f"{label:<32}{ms:>10.1f}{ms / TARGET_MS:>10.2f}x{ms / baseline:>12.3f}x  {'yes' if ms <= TARGET_MS else 'NO'}"
            )
        slow = [label for label, _, ms in results if ms > TARGET_MS]
        print(
            f"\n{len(results) - len(slow)} of {len(results)} pages within {TARGET_MS} ms at {args.rows} outcomes"
        )
        return 0
    finally:
        if not args.keep and not args.database:
            with psycopg.connect(server.conninfo, autocommit=True) as admin:
                admin.execute(f'drop database if exists "{name}" with (force)')


if __name__ == "__main__":
    sys.exit(main())
