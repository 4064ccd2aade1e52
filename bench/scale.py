"""Scale benchmark: the models, the recommender and dbt at N outcomes, printed as one table.

For each N of ``--rows`` (default 1000000; a comma-separated list gives one column per N) it creates a
throwaway database on the server (ARC_EVAL_DSN, PG*, TIMESCALEDB_* or the embedded server), writes the
history with ``bench/generate.py`` (in the server, from a seed), runs ``VACUUM (ANALYZE)`` and measures:

- ``dbt build`` from scratch (models, rollups, tests);
- every model the dashboard, the report and the recommender read (every view and table of the analytics
  schema except staging, intermediate and internal relations, so models added later are measured too):
  p95 of ``--queries`` (default 20) runs of streaming all its rows (``COPY (select *) TO STDOUT``; the
  tables the pages read only for one scenario, ``arc_eval.web.queries.PER_SCENARIO_TABLES``, filtered to
  the scenario with the most rows: the
  server's work and the wire, not Python's decoding) after one warm-up (target: 200 ms), in a session
  with the readers' settings (``arc_eval.connection.READER_OPTIONS``: JIT and parallel workers off, a
  random page read costed at 1.1, as the dashboard and the recommender connect);
- ``arc-eval recommend --provider rules`` end to end, in a subprocess (target: 30 s);
- ``arc-eval refresh`` after appending 1% more outcomes, in a process that refreshes repeatedly
  (``--every``) and as one command in a new process, both running the stored plans, and as one command
  through dbt (the first after a build or an edit), against ``arc-eval dbt run`` with the rollups rebuilt
  whole (target: 5%; each counted from its start, fixed work included);
- disk per million outcomes (database size after the history minus before, over N / 1M); on the community
  edition with ``--no-row-security`` (row-level security and compression exclude each other there) the raw
  schema's compression policies are then run, and the compression ratio of ``outcomes``
  (bytes of its compressed chunks before over after; target 10) and the disk after it are reported, and
  everything below is measured on the compressed history;
- the loader's resident memory while it writes ``--loader-rows`` outcomes through ``arc_eval.ArcEval``
  (a subprocess; VmRSS sampled every 0.1 s): at a quarter of the rows and at the end (bounded: the end
  is not much above the quarter).

Every statement runs under ``--statement-timeout`` (default 10 min): a model or a recommender query that
exceeds it is reported as ``timeout`` and the run exits with status 1 (a guard against plans that grow
faster than the history; the test suite runs it at 200k outcomes). With several N, the last column gives
the growth of each time against the growth of N (about 1 or less: linear or better).

Run: ``python bench/scale.py [--rows 1000000[,10000000]] [--queries 20] [--loader-rows 1000000] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import psycopg
import yaml
from psycopg.sql import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # noqa: E402  (bench/generate.py, next to this file)

from arc_eval import capabilities, connection, dbt  # noqa: E402
from arc_eval.connection import Target, data_dir, resolve  # noqa: E402
from arc_eval.web.queries import PER_SCENARIO_TABLES  # noqa: E402

INTERNAL_PREFIXES = ("stg_", "int_", "arc_eval_")
TIMEOUT = "timeout"
SETTINGS = (
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "effective_cache_size",
    "max_parallel_workers_per_gather",
    "random_page_cost",
    "fsync",
    "synchronous_commit",
)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def live_stats_rollups(target: Target) -> list[str]:
    """The rollups read only through arc_eval_live_stats (dbt tag ``live_stats``): the models over them are
    timed, not they."""
    return dbt.model_names(target, "tag:live_stats")


def models_to_time(conn: psycopg.Connection, skip: Sequence[str]) -> list[str]:
    """Views and tables of the analytics schema that readers query (not staging/intermediate/internal, nor
    ``skip``)."""
    rows = conn.execute(
        "select table_name from information_schema.tables where table_schema = %s order by table_name",
        (dbt.analytics_schema(),),
    ).fetchall()
    return [
        r[0]
        for r in rows
        if not r[0].startswith(INTERNAL_PREFIXES) and r[0] not in skip and not r[0].endswith("__dbt_backup")
    ]


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def time_models(target: Target, queries: int, timeout: str) -> dict[str, float | str]:
    """p95 wall time (seconds) of streaming every row of each model to the client, or TIMEOUT.

    Each query is ``COPY (select * from model) TO STDOUT``, read block by block: the server's work and the
    wire, as a page or the recommender waits for it, not the time Python takes to decode the rows.
    """
    out: dict[str, float | str] = {}
    with psycopg.connect(target.conninfo, autocommit=True, **connection.reader_kwargs()) as conn:
        conn.execute(f"set statement_timeout = '{timeout}'")

        def stream(sql: str) -> int:
            with conn.cursor() as cur:
                with cur.copy(sql) as copy:
                    for _block in copy:
                        pass
                return cur.rowcount

        for name in models_to_time(conn, live_stats_rollups(target)):
            relation = f'{dbt.analytics_schema()}."{name}"'
            sql = f"copy (select * from {relation}) to stdout"
            if name in PER_SCENARIO_TABLES:
                # as the pages read it: one scenario's rows (the one with the most)
                found = conn.execute(
                    f"select scenario_id from {relation} group by scenario_id order by count(*) desc limit 1"
                ).fetchone()
                scenario = quote(found[0] if found else None)
                sql = f"copy (select * from {relation} where scenario_id = {scenario}) to stdout"
                name += " (one scenario)"
            rows = 0
            try:
                rows = stream(sql)
                times = []
                for _ in range(queries):
                    began = time.perf_counter()
                    stream(sql)
                    times.append(time.perf_counter() - began)
                out[name] = p95(times)
            except psycopg.errors.QueryCanceled:
                out[name] = TIMEOUT
            shown = out[name] if out[name] == TIMEOUT else f"{_ms(out[name])} ms"
            print(f"    p95 {name}: {shown} ({rows:,} rows)", flush=True)
    return out


def timed_dbt(target: Target, args: list[str], dbt_vars: dict) -> float:
    began = time.perf_counter()
    dbt.run(args, target, quiet=True, dbt_vars=dbt_vars)
    return time.perf_counter() - began


def run_cli(target: Target, args: Sequence[str], env: dict[str, str] | None = None) -> float:
    """Run ``arc-eval ARGS`` against ``target`` in a subprocess (start-up and imports counted); returns
    its wall time. Raises when it fails."""
    full_env = {**os.environ, "ARC_EVAL_DSN": target.conninfo, **(env or {})}
    cli = Path(sys.executable).with_name("arc-eval")
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "arc_eval.cli"]
    began = time.perf_counter()
    done = subprocess.run([*command, *args], env=full_env, capture_output=True, text=True)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"arc-eval {args[0]} failed: {done.stderr.strip()[-2000:]}")
    return elapsed


def run_recommend(target: Target, timeout: str) -> float | str:
    """Wall time of ``arc-eval recommend --provider rules --window 30d`` in a subprocess, or TIMEOUT."""
    env = {"PGOPTIONS": f"-c statement_timeout={timeout.replace(' ', '')}", "ARC_EVAL_LLM_PROVIDER": "rules"}
    try:
        return run_cli(target, ["recommend", "--provider", "rules", "--window", "30d"], env)
    except RuntimeError as exc:
        if "statement timeout" in str(exc) or "canceling statement" in str(exc):
            return TIMEOUT
        raise


def measure_refresh(target: Target, state: dict[str, object], rows: int, dbt_vars: dict) -> dict[str, float]:
    """``arc-eval refresh`` after appending ``rows`` outcomes, three times, each time into an hour of its own:
    in a process that refreshes repeatedly (``--every``), as one command (a process started for it, as from
    cron), both running the plans the last build stored (no dbt), and as one command through dbt (the first
    refresh after a build or an edit: dbt loaded, the project's manifest read back, the plans stored
    again); then ``arc-eval dbt run`` with every rollup rebuilt, the full refresh. Each is timed from its
    start, fixed work included (dbt's hooks and catalog queries, the checks before the stored plans). Each
    starts once the rows appended are older than the rollups' commit margin (var rollup_commit_margin): a
    refresh takes the rows created before its start minus that margin, the later ones wait for the next
    (macros/rollups/rollup.sql), so a refresh right after the append would leave them out of the rollups
    and to the models that read the rows since."""
    vars_args = ["--vars", json.dumps(dbt_vars)] if dbt_vars else []
    margin = commit_margin(target, dbt_vars)
    manifest = dbt.cached_parse(target, dbt_vars=dbt_vars)
    # up to date before the appends, through dbt: stores the plans and their order
    (data_dir() / dbt.REFRESH_PLAN).unlink(missing_ok=True)
    dbt.refresh(target, quiet=True, dbt_vars=dbt_vars, manifest=manifest)
    result = {}
    state = generate.append(target, state, rows, hour=3)
    time.sleep(margin)
    began = time.perf_counter()
    dbt.refresh(target, quiet=True, dbt_vars=dbt_vars, manifest=manifest)
    result["refresh after +1%, resident s"] = time.perf_counter() - began
    state = generate.append(target, state, rows, hour=2)
    time.sleep(margin)
    result["refresh after +1%, one command s"] = run_cli(target, ["refresh", *vars_args])
    generate.append(target, state, rows, hour=1)
    time.sleep(margin)
    (data_dir() / dbt.REFRESH_PLAN).unlink()  # as after a build or an edit
    result["refresh after +1%, one command through dbt s"] = run_cli(target, ["refresh", *vars_args])
    full_vars = json.dumps({**dbt_vars, "rollup_full_refresh": True})
    result["full refresh (dbt run, rollups rebuilt) s"] = run_cli(target, ["dbt", "run", "--vars", full_vars])
    return result


def commit_margin(target: Target, dbt_vars: dict) -> float:
    """Seconds of var rollup_commit_margin (dbt_project.yml, or ``dbt_vars``)."""
    project = yaml.safe_load((dbt.project_dir() / "dbt_project.yml").read_text(encoding="utf-8"))
    margin = {**project["vars"], **dbt_vars}["rollup_commit_margin"]
    with psycopg.connect(target.conninfo) as conn:
        return float(conn.execute("select extract(epoch from %s::interval)", [margin]).fetchone()[0])


REFRESH_KINDS = ("resident", "one command", "one command through dbt")


def database_bytes(target: Target) -> int:
    with psycopg.connect(target.conninfo) as conn:
        return conn.execute("select pg_database_size(current_database())").fetchone()[0]


def run_compression(target: Target) -> float | None:
    """On the community edition: run the raw schema's compression policies now (as their schedule would once
    the chunks are older than ``compress_after``) and return the compression ratio of ``outcomes`` (bytes
    of its compressed chunks before over after); None where there is no compression."""
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        if not capabilities.probe(conn).has_compression:
            return None
        jobs = conn.execute(
            "select job_id from timescaledb_information.jobs"
            " where proc_name = 'policy_compression' and hypertable_schema = %s order by job_id",
            (dbt.raw_schema(),),
        ).fetchall()
        for (job_id,) in jobs:
            conn.execute("call public.run_job(%s)", (job_id,))
        before, after = conn.execute(
            "select sum(before_compression_total_bytes), sum(after_compression_total_bytes)"
            " from public.hypertable_compression_stats(%s)",
            (f"{dbt.raw_schema()}.outcomes",),
        ).fetchone()
    return float(before) / float(after) if before and after else None


def loader_child(rows: int) -> int:
    """Write ``rows`` outcomes through the loader (the subprocess whose memory the parent samples)."""
    import datetime as dt

    from arc_eval import ArcEval, uuid7

    conninfo = os.environ["ARC_EVAL_DSN"]
    r = dbt.raw_schema()
    with psycopg.connect(conninfo) as conn:
        scenario = conn.execute(
            f"select scenario_id from {r}.scenarios order by scenario_id limit 1"
        ).fetchone()[0]
        sim = conn.execute(
            f"select simulation_id from {r}.simulations order by simulation_id limit 1"
        ).fetchone()[0]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    with ArcEval(conninfo, batch_size=1000, flush_interval=None) as db:
        for i in range(rows):
            when = start + dt.timedelta(milliseconds=i)
            db.record_outcome(
                outcome_id=uuid7(),
                simulation_id=sim,
                scenario_id=scenario,
                execution_time=when,
                status="success" if i % 7 else "error",
                reliability_score=(i % 100) / 100,
                execution_time_ms=100.0 + i % 900,
                tokens_used=500 + i % 1000,
                cost_usd=0.001,
                trajectory={
                    "start_time": when.isoformat(),
                    "status": "success",
                    "steps": [{"tool": "t", "i": i}],
                },
            )
            if (i + 1) % max(1, rows // 20) == 0:
                print(f"progress {(i + 1) / rows:.2f}", flush=True)
    return 0


def measure_loader(target: Target, rows: int) -> tuple[float, float, float]:
    """(seconds, RSS MB at a quarter of the rows, RSS MB at the end) of the loader writing ``rows``."""
    env = dict(os.environ, ARC_EVAL_DSN=target.conninfo)
    began = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "--loader-child", str(rows)], env=env, stdout=subprocess.PIPE, text=True
    )
    rss = {"now": 0.0, "quarter": 0.0, "peak": 0.0}

    def sample() -> None:
        status = Path(f"/proc/{child.pid}/status")
        while child.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        rss["now"] = int(line.split()[1]) / 1024
                        rss["peak"] = max(rss["peak"], rss["now"])
            except OSError:
                break
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for line in child.stdout:
        if line.startswith("progress") and float(line.split()[1]) >= 0.25 and not rss["quarter"]:
            rss["quarter"] = rss["now"]
    if child.wait() != 0:
        raise RuntimeError("the loader subprocess failed")
    sampler.join()
    return time.perf_counter() - began, rss["quarter"], rss["now"] or rss["peak"]


def run_one(server: Target, rows: int, args: argparse.Namespace) -> dict[str, object]:
    name = f"arc_eval_scale_{uuid.uuid4().hex[:8]}"
    print(f"\n== {rows:,} outcomes: database {name}", flush=True)
    # The dbt vars of every dbt command of the run.
    dbt_vars: dict[str, object] = {"tenant_row_security": False} if args.no_row_security else {}
    if args.chunk_interval:
        dbt_vars["chunk_intervals"] = dict.fromkeys(
            ("outcomes", "tool_usage", "failure_patterns"), args.chunk_interval
        )
    target = generate.create_database(server, name, dbt_vars=dbt_vars)
    with psycopg.connect(target.conninfo) as conn:
        print(f"  timescaledb: {capabilities.probe(conn).edition}", flush=True)
        if args.chunk_interval:
            print(f"  chunk interval: {args.chunk_interval}", flush=True)
    result: dict[str, object] = {}
    try:
        empty = database_bytes(target)
        began = time.perf_counter()
        state = generate.generate(
            target,
            rows,
            seed=args.seed,
            days=args.days,
            progress=lambda m: print("  " + m, flush=True),
        )
        generate.vacuum(target)
        result["generate rows/s"] = rows / (time.perf_counter() - began)
        result["disk MB per 1M outcomes"] = (database_bytes(target) - empty) / 2**20 / (rows / 1e6)
        ratio = run_compression(target)
        if ratio is not None:
            result["outcomes compression ratio"] = ratio
            result["disk MB per 1M outcomes, compressed"] = (
                (database_bytes(target) - empty) / 2**20 / (rows / 1e6)
            )
            print(f"  compression policies ran: outcomes {ratio:.1f}x", flush=True)
        print("  dbt build from scratch ...", flush=True)
        result["dbt build from scratch s"] = timed_dbt(target, ["build"], dbt_vars)
        print(f"    {result['dbt build from scratch s']:.1f} s", flush=True)
        print("  timing the models ...", flush=True)
        result["models"] = time_models(target, args.queries, args.statement_timeout)
        print("  arc-eval recommend ...", flush=True)
        result["recommend s"] = run_recommend(target, args.statement_timeout)
        print(f"    recommend: {result['recommend s']}", flush=True)
        print("  appending 1% and refreshing ...", flush=True)
        refresh = measure_refresh(target, state, max(1, rows // 100), dbt_vars)
        result.update(refresh)
        print(
            "    " + "; ".join(f"{k.removesuffix(' s')}: {v:.1f} s" for k, v in refresh.items()), flush=True
        )
        if args.loader_rows:
            print(f"  loader writing {args.loader_rows:,} outcomes ...", flush=True)
            seconds, quarter, end = measure_loader(target, args.loader_rows)
            result["loader rows/s"] = args.loader_rows / seconds
            result["loader RSS MB at 25%"] = quarter
            result["loader RSS MB at 100%"] = end
        return result
    finally:
        if not args.keep:
            with psycopg.connect(server.conninfo, autocommit=True) as admin:
                admin.execute(f'drop database if exists "{name}" with (force)')


def _cell(value: object, unit: str) -> str:
    if value == TIMEOUT or value is None:
        return str(value or "-")
    if unit == "ms":
        return _ms(value)
    if isinstance(value, float):
        return f"{value:,.1f}" if value < 1e5 else f"{value:,.0f}"
    return str(value)


def print_table(results: dict[int, dict[str, object]], queries: int) -> bool:
    """Print the table; returns False when something timed out."""
    ns = sorted(results)
    width = 52
    header = f"{'measure':<{width}}" + "".join(f"{n:>14,}" for n in ns) + f"{'target':>12}"
    if len(ns) > 1:
        header += f"{'growth/N':>10}"
    print("\n" + header)
    print("-" * len(header))
    ok = True
    names = sorted({m for r in results.values() for m in r["models"]})
    lines: list[tuple[str, list[object], str, str]] = []
    for m in names:
        lines.append(
            (f"p95 of {queries} x {m} (ms)", [results[n]["models"].get(m) for n in ns], "<= 200", "ms")
        )
    for key, target in (
        ("recommend s", "<= 30"),
        ("dbt build from scratch s", "report"),
        ("refresh after +1%, resident s", ""),
        ("refresh after +1%, one command s", ""),
        ("refresh after +1%, one command through dbt s", ""),
        ("full refresh (dbt run, rollups rebuilt) s", ""),
        ("disk MB per 1M outcomes", "report"),
        ("outcomes compression ratio", ">= 10"),
        ("disk MB per 1M outcomes, compressed", "report"),
        ("generate rows/s", "report"),
        ("loader rows/s", "report"),
        ("loader RSS MB at 25%", ""),
        ("loader RSS MB at 100%", "bounded"),
    ):
        lines.append((key, [results[n].get(key) for n in ns], target, ""))
    for label, values, target, unit in lines:
        row = f"{label:<{width}}" + "".join(f"{_cell(v, unit):>14}" for v in values) + f"{target:>12}"
        if TIMEOUT in values:
            ok = False
        if (
            len(ns) > 1
            and all(isinstance(v, float) and v > 0 for v in values)
            and label.endswith(("(ms)", " s"))
        ):
            row += f"{(values[-1] / values[0]) / (ns[-1] / ns[0]):>10.2f}"
        print(row)
    for n in ns:
        full = results[n].get("full refresh (dbt run, rollups rebuilt) s")
        for kind in REFRESH_KINDS:
            inc = results[n].get(f"refresh after +1%, {kind} s")
            if isinstance(inc, float) and isinstance(full, float):
                label = f"refresh ({kind}) / full refresh at {n:,}"
                print(f"{label:<{width}}{inc / full:>14.1%}   target <= 5%")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", default="1000000", help="outcomes, or a comma-separated list (default 1000000)"
    )
    parser.add_argument("--queries", type=int, default=20, help="timed queries per model (p95; default 20)")
    parser.add_argument(
        "--statement-timeout", default="10min", help="limit of every statement (default 10min)"
    )
    parser.add_argument("--loader-rows", type=int, default=1_000_000, help="rows the loader writes (0: skip)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--days",
        type=int,
        help="days of history (default: rows / 100000, at least 30); more days, more chunks to plan",
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument(
        "--no-row-security",
        action="store_true",
        help="build the raw schema with var tenant_row_security false: on the community edition the"
        " time-series tables then compress (one tenant per database), and the compression ratio is measured",
    )
    parser.add_argument(
        "--chunk-interval",
        help="chunk interval of every hypertable (var chunk_intervals; default: the project's)",
    )
    parser.add_argument("--loader-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loader_child is not None:
        return loader_child(args.loader_child)
    try:
        sizes = [int(x) for x in args.rows.split(",")]
    except ValueError:
        parser.error("--rows: expected a number of outcomes or a comma-separated list of numbers")
    if any(n < 1000 for n in sizes):
        parser.error("--rows: at least 1000 outcomes")
    server = resolve()
    with psycopg.connect(server.conninfo) as conn:
        version = conn.execute("select version()").fetchone()[0]
        caps = capabilities.probe(conn)
        settings = conn.execute(
            "select string_agg(name || '=' || current_setting(name), ' ' order by name) from pg_settings"
            " where name = any(%s)",
            [list(SETTINGS)],
        ).fetchone()[0]
    available = (
        f"{caps.timescaledb_available} available"
        if caps.timescaledb_available
        else "not available (plain PostgreSQL)"
    )
    print(f"server: {version.split(' on ')[0]}; timescaledb: {available}")
    print(f"settings: {settings}; cpus: {os.cpu_count()}")
    results = {n: run_one(server, n, args) for n in sizes}
    return 0 if print_table(results, args.queries) else 1


if __name__ == "__main__":
    sys.exit(main())
