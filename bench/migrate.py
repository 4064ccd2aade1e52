"""Migration benchmark: `arc-eval migrate` against a bare COPY pipe of the same rows, on one server, in one run.

A source database gets ``--rows`` outcomes with ~2 KB trajectories (loaded untimed); a target database gets
the raw schema from ``init``. Then, each on an empty target ``outcomes`` (TRUNCATE and CHECKPOINT between):

(a) the ceiling: one ``COPY (SELECT ...) TO STDOUT`` on the source piped into one ``COPY ... FROM STDIN``
    on the target, no batches, no staging, no check;
(b) :func:`arc_eval.migrate.migrate` (every table; committed batches of ``--batch-rows`` through a staging
    table with ON CONFLICT DO NOTHING, resumable), then its check (counts and checksums on both sides),
    reported separately.

Server: ``ARC_EVAL_DSN``, else ``ARC_EVAL_TEST_DSN``, else an embedded PostgreSQL in a temporary folder.

    python bench/migrate.py [--rows 100000] [--batch-rows 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from ingest import make_rows, preload, server_target

from arc_eval import ArcEval, migrate
from arc_eval.dbt import init_warehouse, raw_schema


def database(admin: psycopg.Connection, server, label: str):
    name = f"arc_eval_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    return name, server.with_database(name)


def reset(target, schema: str) -> None:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute(f'TRUNCATE "{schema}".outcomes')
        conn.execute("CHECKPOINT")


def pipe(source, target, schema: str) -> float:
    with (
        psycopg.connect(source.conninfo, autocommit=True) as src,
        psycopg.connect(target.conninfo, autocommit=True) as dst,
    ):
        start = time.perf_counter()
        with (
            src.cursor() as scur,
            scur.copy(f'COPY (SELECT * FROM "{schema}".outcomes ORDER BY execution_time) TO STDOUT') as out,
            dst.cursor() as dcur,
            dcur.copy(f'COPY "{schema}".outcomes FROM STDIN') as into,
        ):
            for data in out:
                into.write(data)
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-rows", type=int, default=migrate.BATCH_ROWS)
    parser.add_argument("--trajectory-bytes", type=int, default=2000)
    args = parser.parse_args()
    schema = raw_schema()
    with tempfile.TemporaryDirectory() as tmp:
        server, embedded = server_target(Path(tmp))
        created: list[str] = []
        try:
            with psycopg.connect(server.conninfo, autocommit=True) as admin:
                src_name, source = database(admin, server, "src")
                dst_name, target = database(admin, server, "dst")
                created += [src_name, dst_name]
            init_warehouse(source)
            migrate.init_target(target)
            with ArcEval(source.conninfo, flush_interval=None) as db:
                config = db.create_configuration(f"bench-{uuid.uuid4().hex[:6]}", uuid.uuid4())
                version = db.create_config_version(
                    config, "model: gpt-4o-mini\ntemperature: 0.2\ntools: []\n"
                )
                with psycopg.connect(source.conninfo) as conn:
                    scenarios = [
                        r[0] for r in conn.execute(f'SELECT scenario_id FROM "{schema}".scenarios LIMIT 10')
                    ]
                sim = db.start_simulation(version.version_id, scenarios)
            with psycopg.connect(source.conninfo) as conn:
                preload(conn, schema, make_rows(args.rows, sim, scenarios, args.trajectory_bytes))
                conn.execute("ANALYZE")
            print(f"server: {server.redacted()}  outcomes: {args.rows}  batch rows: {args.batch_rows}")

            # the parents (configurations, simulations, scenarios) first, untimed; then empty outcomes
            migrate.migrate(source, target, batch_rows=args.batch_rows, init=False)
            ceilings = []
            for _ in range(2):  # (a) before and after (b): the spread shows the noise of a shared machine
                reset(target, schema)
                ceilings.append(pipe(source, target, schema))
                with psycopg.connect(target.conninfo) as conn:
                    assert (
                        conn.execute(f'SELECT count(*) FROM "{schema}".outcomes').fetchone()[0] == args.rows
                    )
                if len(ceilings) == 2:
                    break
                reset(target, schema)
                start = time.perf_counter()
                checks = migrate.migrate(source, target, batch_rows=args.batch_rows, init=False)
                total = time.perf_counter() - start
                assert (
                    all(c.ok for c in checks)
                    and {c.name: c for c in checks}["outcomes"].inserted == args.rows
                )
            with migrate._connect(source) as src, migrate._connect(target) as dst:
                tables = migrate.plan(src, dst, schema).tables
                start = time.perf_counter()
                for table in tables:
                    migrate.checksum(src, schema, table)
                    migrate.checksum(dst, schema, table)
                check = time.perf_counter() - start
            copy_phase = total - check
            ceiling = sum(ceilings) / len(ceilings)
            print(f"(a) runs: {ceilings[0]:.2f} s and {ceilings[1]:.2f} s")

            rate = args.rows / copy_phase
            print(f"{'method':<52} {'seconds':>8} {'rows/s':>9} {'ratio':>7}")
            print(
                f"{'(a) COPY pipe, one statement (ceiling)':<52} {ceiling:8.2f} {args.rows / ceiling:9.0f} {1:7.2f}"
            )
            print(
                f"{'(b) migrate: copy (batches, staging, resumable)':<52} {copy_phase:8.2f} {rate:9.0f}"
                f" {ceiling / copy_phase:7.2f}"
            )
            print(f"{'    migrate: check (counts + checksums, both sides)':<52} {check:8.2f}")
            print(
                f"{'    migrate: copy + check':<52} {total:8.2f} {args.rows / total:9.0f} {ceiling / total:7.2f}"
            )
            print("ratio = ceiling seconds / method seconds (1.00 = as fast as the bare pipe)")
        finally:
            with psycopg.connect(server.conninfo, autocommit=True) as admin:
                for name in created:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if embedded is not None:
                embedded.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
