"""Failure writes against the size of the cluster they join: the loader's cost per failure stays flat.

Each failure the loader writes joins a cluster (its nearest earlier failure's, or one it names) and
records how many members that cluster had (``similar_failures_count``), under the lock that serialises
clustering between writers. This measures one client's flush of ``--batch`` failures that name their
cluster (no embedding, so no nearest-neighbour search: only the bookkeeping of the cluster):

(a) into a new cluster each time (no stored members): the baseline,
(b) into one cluster with ``--members`` stored members (default 200,000; inserted by SQL beforehand),

the median of ``--repeat`` flushes each, and prints (b) / (a). Stored rows are never rewritten, so the
ratio stays near 1 where a write that updated every member would grow with the cluster.

Run: ``python bench/failures.py [--members 200000] [--batch 10] [--repeat 7]``. The server comes from
ARC_EVAL_DSN, PG* or TIMESCALEDB_* variables, else the embedded server; the benchmark works in a throwaway
database.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from arc_eval import ArcEval
from arc_eval.connection import resolve
from arc_eval.dbt import raw_schema

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import create_database  # noqa: E402  (bench/generate.py)


def timed_flushes(
    db: ArcEval,
    outcome: tuple[uuid.UUID, object],
    cluster_of_flush: Callable[[], uuid.UUID],
    batch: int,
    repeat: int,
) -> float:
    """Median seconds of ``repeat`` flushes of ``batch`` failures, each flush into ``cluster_of_flush()``."""
    outcome_id, when = outcome
    seconds = []
    for _ in range(repeat):
        cluster = cluster_of_flush()
        for _ in range(batch):
            db.record_failure(
                outcome_id=outcome_id,
                execution_time=when,
                failure_type="BenchError",
                failure_category="unknown",
                pattern_cluster_id=cluster,
            )
        started = time.perf_counter()
        db.flush()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200_000, help="stored members of the large cluster")
    parser.add_argument("--batch", type=int, default=10, help="failures per flush")
    parser.add_argument("--repeat", type=int, default=7, help="flushes measured per case (median)")
    args = parser.parse_args(argv)

    server = resolve()
    r = raw_schema()
    dbname = f"arc_eval_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.conninfo, autocommit=True) as admin:
        version = admin.execute("SHOW server_version").fetchone()[0]
    print(f"server: PostgreSQL {version}; database {dbname}", flush=True)
    try:
        target = create_database(server, dbname)
        large = uuid.uuid4()
        with ArcEval(target.conninfo, flush_interval=None) as db:
            config = db.create_configuration("bench-failures", uuid.uuid4())
            config_version = db.create_config_version(config, {"model": "bench", "temperature": 0.2})
            with psycopg.connect(target.conninfo) as conn:
                scenario = conn.execute(f"SELECT scenario_id FROM {r}.scenarios LIMIT 1").fetchone()[0]
            simulation = db.start_simulation(config_version.version_id, [scenario])
            outcome_id = db.record_outcome(
                simulation_id=simulation,
                scenario_id=scenario,
                status="error",
                reliability_score=0.1,
                execution_time_ms=1,
                tokens_used=1,
                cost_usd=0,
                trajectory={"start_time": "bench", "status": "error"},
            )
            db.flush()
            with psycopg.connect(target.conninfo, autocommit=True) as conn:
                when = conn.execute(
                    f"SELECT execution_time FROM {r}.outcomes WHERE outcome_id = %s", [outcome_id]
                ).fetchone()[0]
                conn.execute(
                    f"INSERT INTO {r}.failure_patterns (outcome_id, execution_time, failure_type, failure_category,"
                    " pattern_cluster_id, cluster_confidence, similar_failures_count)"
                    " SELECT %s, %s, 'BenchError', 'unknown', %s, 1, i - 1 FROM generate_series(1, %s) AS i",
                    [outcome_id, when, large, args.members],
                )
                conn.execute(f"VACUUM ANALYZE {r}.failure_patterns")
            fresh = timed_flushes(db, (outcome_id, when), uuid.uuid4, args.batch, args.repeat)
            joined = timed_flushes(db, (outcome_id, when), lambda: large, args.batch, args.repeat)
            with psycopg.connect(target.conninfo) as conn:
                last = conn.execute(
                    f"SELECT max(similar_failures_count) FROM {r}.failure_patterns WHERE pattern_cluster_id = %s",
                    [large],
                ).fetchone()[0]
        expected = args.members + args.batch * args.repeat - 1
        if last != expected:
            raise SystemExit(f"the last member counts {last} earlier members, expected {expected}")
        print()
        print(f"{'case':<58} {'median flush':>12} {'vs (a)':>7}")
        for label, seconds in (
            (f"(a) {args.batch} failures into a new cluster", fresh),
            (f"(b) {args.batch} failures into a cluster of {args.members:,} members", joined),
        ):
            print(f"{label:<58} {seconds * 1000:>9.1f} ms {seconds / fresh:>7.2f}")
        print(f"\nthe last member written counts {last:,} earlier members (checked)")
    finally:
        with psycopg.connect(server.conninfo, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
