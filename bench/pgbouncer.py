"""Many sandboxes through PgBouncer: aggregate rows/s of a crowd against one loader client direct.

(a) one loader client, direct to the server: one sandbox writing ``--baseline-outcomes`` outcomes, each
    with a tool-usage row and a failure every ``--failure-every`` outcomes (the baseline),
(b) ``--clients`` sandboxes at once (each with its own client and pool; threads spread over
    ``--processes`` processes) through PgBouncer in transaction pooling mode (``ARC_EVAL_POOLER=transaction``),
    each writing ``--outcomes`` outcomes of the same mix, timed from the first sandbox's start to the last
    one's end; the peak of the server's connections is sampled from ``pg_stat_activity``.

Rows are outcomes + tool usage + failures, checked by count after each run. Server: ``ARC_EVAL_DSN``,
else ``ARC_EVAL_TEST_DSN`` (a TCP server; PgBouncer is Debian's ``pgbouncer`` package).

    python bench/pgbouncer.py [--clients 200] [--outcomes 500] [--pool-size 20] [--processes 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

from arc_eval import ArcEval  # noqa: E402
from arc_eval.connection import Target  # noqa: E402
from arc_eval.dbt import init_warehouse, raw_schema  # noqa: E402
from pgbouncer_helpers import ConnectionSampler, pgbouncer, run_crowd, run_crowd_processes  # noqa: E402


def count_rows(conninfo: str, schema: str) -> int:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            f'SELECT (SELECT count(*) FROM "{schema}".outcomes) + (SELECT count(*) FROM "{schema}".tool_usage)'
            f' + (SELECT count(*) FROM "{schema}".failure_patterns)'
        ).fetchone()[0]


def truncate(conninfo: str, schema: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'TRUNCATE "{schema}".failure_patterns, "{schema}".tool_usage, "{schema}".outcomes')
        conn.execute("CHECKPOINT")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--outcomes", type=int, default=500, help="outcomes per sandbox in the crowd")
    parser.add_argument(
        "--baseline-outcomes", type=int, default=20_000, help="outcomes of the one direct client"
    )
    parser.add_argument("--failure-every", type=int, default=50)
    parser.add_argument("--pool-size", type=int, default=20, help="PgBouncer's server connections")
    parser.add_argument(
        "--processes", type=int, default=1, help="spread the crowd over this many processes (threads in each)"
    )
    args = parser.parse_args(argv)

    dsn = os.environ.get("ARC_EVAL_DSN") or os.environ.get("ARC_EVAL_TEST_DSN")
    if not dsn:
        raise SystemExit("set ARC_EVAL_DSN (or ARC_EVAL_TEST_DSN) to a PostgreSQL server reached over TCP")
    schema = raw_schema()
    dbname = f"arc_eval_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
        version = admin.execute("SHOW server_version").fetchone()[0]
    params = dict(conninfo_to_dict(dsn), dbname=dbname)
    target = Target(make_conninfo(**params), "env", params)
    results: list[tuple[str, int, int, float, str]] = []
    try:
        print(f"server: PostgreSQL {version}; database {dbname}", flush=True)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
        init_warehouse(target)
        with ArcEval(target.conninfo, flush_interval=None) as db:
            cid = db.create_configuration(f"bench-{uuid.uuid4().hex[:6]}", uuid.uuid4())
            v = db.create_config_version(cid, {"model": "gpt-4o", "temperature": 0.2})
        with psycopg.connect(target.conninfo) as conn:
            scenarios = [
                r[0]
                for r in conn.execute(
                    f'SELECT scenario_id FROM "{schema}".scenarios WHERE is_active ORDER BY 1 LIMIT 3'
                )
            ]

        truncate(target.conninfo, schema)
        with ConnectionSampler(dsn, dbname) as sampler:
            one = run_crowd(
                target.conninfo,
                v.version_id,
                scenarios,
                clients=1,
                outcomes=args.baseline_outcomes,
                failure_every=args.failure_every,
            )
        assert not one.errors, one.errors
        assert count_rows(target.conninfo, schema) == one.rows
        results.append(
            ("(a) one loader client, direct", 1, one.rows, one.seconds, f"{sampler.peak_database}")
        )

        truncate(target.conninfo, schema)
        os.environ["ARC_EVAL_POOLER"] = "transaction"
        try:
            with (
                pgbouncer(dsn, pool_size=args.pool_size) as bouncer,
                ConnectionSampler(dsn, dbname) as sampler,
            ):
                crowd = run_crowd_processes(
                    bouncer.dsn(dbname),
                    v.version_id,
                    scenarios,
                    clients=args.clients,
                    outcomes=args.outcomes,
                    processes=max(1, args.processes),
                    failure_every=args.failure_every,
                )
        finally:
            os.environ.pop("ARC_EVAL_POOLER", None)
        assert not crowd.errors, crowd.errors[:5]
        assert count_rows(target.conninfo, schema) == crowd.rows
        label = f"(b) {args.clients} sandboxes via PgBouncer (pool {args.pool_size}, {args.processes} proc)"
        peak = f"{sampler.peak_database} (max_connections {sampler.max_connections})"
        results.append((label, args.clients, crowd.rows, crowd.seconds, peak))
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    base = results[0][2] / results[0][3]
    print()
    print(
        f"{'method':<48} {'clients':>7} {'rows':>8} {'seconds':>8} {'rows/s':>8} {'vs (a)':>7}  peak server conns"
    )
    for name, clients, rows, seconds, peak in results:
        rate = rows / seconds
        print(f"{name:<48} {clients:>7} {rows:>8} {seconds:>8.2f} {rate:>8.0f} {rate / base:>7.2f}  {peak}")
    print()
    print("rows = outcomes + tool usage + failures; every run checked by count; no error reached a client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
