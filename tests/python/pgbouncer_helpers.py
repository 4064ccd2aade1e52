"""PgBouncer in front of a test server, and a crowd of sandbox clients writing through it.

Shared by ``test_loader_pgbouncer.py`` and ``bench/pgbouncer.py``. PgBouncer is Debian's package
(``apt-get install pgbouncer``), run in transaction pooling mode on a free loopback port with its
files in a temporary folder; as root it drops to the ``postgres`` user, as PgBouncer refuses root.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from arc_eval import ArcEval

PGBOUNCER_PATHS = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")


def pgbouncer_binary() -> str | None:
    found = shutil.which("pgbouncer")
    if found:
        return found
    return next((p for p in PGBOUNCER_PATHS if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgBouncer:
    """A running PgBouncer: ``dsn(dbname)`` reaches ``dbname`` on the server through it."""

    port: int
    user: str
    folder: Path
    pool_size: int

    def dsn(self, dbname: str) -> str:
        return make_conninfo(host="127.0.0.1", port=str(self.port), dbname=dbname, user=self.user)

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def pgbouncer(server_dsn: str, *, pool_size: int = 20, max_client_conn: int = 1000) -> Iterator[PgBouncer]:
    """Start PgBouncer (transaction pooling, at most ``pool_size`` server connections per database)."""
    binary = pgbouncer_binary()
    if binary is None:
        raise FileNotFoundError("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    params = conninfo_to_dict(server_dsn)
    user = str(params.get("user") or "postgres")
    host = str(params.get("host") or "127.0.0.1")
    folder = Path(tempfile.mkdtemp(prefix="arc-eval-pgbouncer-"))
    port = free_port()
    server = f"host={host} port={params.get('port') or 5432}"
    if params.get("password"):
        (folder / "userlist.txt").write_text(f'"{user}" "{params["password"]}"\n')
    else:
        (folder / "userlist.txt").write_text(f'"{user}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"* = {server}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {folder / 'userlist.txt'}",
                "pool_mode = transaction",
                f"default_pool_size = {pool_size}",
                f"max_db_connections = {pool_size}",
                f"max_client_conn = {max_client_conn}",
                "ignore_startup_parameters = extra_float_digits",
                f"logfile = {folder / 'pgbouncer.log'}",
                f"pidfile = {folder / 'pgbouncer.pid'}",
                "log_connections = 0",
                "log_disconnections = 0",
                "",
            ]
        )
    )
    command = [binary, "-q", str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer will not run as root
        shutil.chown(folder, "postgres", "postgres")
        for path in folder.iterdir():
            shutil.chown(path, "postgres", "postgres")
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    bouncer = PgBouncer(port, user, folder, pool_size)
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {process.stderr.read().decode()} {bouncer.log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not listen on port {port}: {bouncer.log()}")
            time.sleep(0.05)
        yield bouncer
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


class ConnectionSampler:
    """Samples ``pg_stat_activity`` on a direct connection: the peak of client backends, per database and all."""

    def __init__(self, server_dsn: str, dbname: str, interval: float = 0.02) -> None:
        self.server_dsn = server_dsn
        self.dbname = dbname
        self.interval = interval
        self.peak_database = 0
        self.peak_server = 0
        self.samples = 0
        self.max_connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="connection-sampler", daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.server_dsn, autocommit=True) as conn:
            self.max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])
            while not self._stop.is_set():
                total, in_db = conn.execute(
                    "SELECT count(*), count(*) FILTER (WHERE datname = %s) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend'",
                    [self.dbname],
                ).fetchone()
                self.peak_server = max(self.peak_server, total)
                self.peak_database = max(self.peak_database, in_db)
                self.samples += 1
                self._stop.wait(self.interval)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass
class CrowdResult:
    """What a crowd of sandboxes did: simulation ids, ids recorded per table, errors, seconds."""

    simulations: list[uuid.UUID] = field(default_factory=list)
    outcomes: int = 0
    tool_usage: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    started: float = 0.0  # wall clock (time.time()) when the first sandbox started, and the last ended
    ended: float = 0.0

    @property
    def rows(self) -> int:
        return self.outcomes + self.tool_usage + self.failures


def sandbox(
    dsn: str,
    version_id: uuid.UUID,
    scenarios: list[str],
    outcomes: int,
    failure_every: int,
    label: str,
    result: CrowdResult,
    lock: threading.Lock,
) -> None:
    """One sandbox: start a simulation, write its outcomes with tool usage and failures, finish."""
    try:
        # 200 sandboxes (and their writer threads) share one process's GIL here: on a loaded machine a thread
        # can wait its turn longer than the default 30 s budget, which a real sandbox (its own process) never
        # shares; the budget is the caller's to set.
        with ArcEval(
            dsn, batch_size=250, flush_interval=None, pool_min=1, pool_max=2, retry_timeout=120
        ) as db:
            sim = db.start_simulation(version_id, scenarios, f"sandbox {label}")
            counts = [0, 0, 0]
            started = dt.datetime.now(dt.timezone.utc).isoformat()
            for i in range(outcomes):
                failed = failure_every and i % failure_every == failure_every - 1
                status = "error" if failed else "success"
                outcome_id = db.record_outcome(
                    simulation_id=sim,
                    scenario_id=scenarios[i % len(scenarios)],
                    status=status,
                    reliability_score=0.2 if failed else 0.9,
                    execution_time_ms=100.0 + i,
                    tokens_used=200 + i,
                    cost_usd=0.001,
                    trajectory={
                        "start_time": started,
                        "status": status,
                        "steps": [{"tool": "search", "ok": not failed}],
                    },
                    modal_call_id=f"call-{label}-{i}",
                    sandbox_id=f"sandbox-{label}",
                )
                db.record_tool_usage(
                    outcome_id=outcome_id,
                    tool_name="search",
                    call_count=1 + i % 3,
                    avg_duration_ms=12.5,
                    success_rate=0.0 if failed else 1.0,
                )
                counts[0] += 1
                counts[1] += 1
                if failed:
                    db.record_failure(
                        outcome_id=outcome_id,
                        failure_type="tool_error",
                        failure_category="tool_error",
                        error_message=f"search timed out after {i % 7 + 1} s",
                    )
                    counts[2] += 1
            db.finish_simulation(sim)
        with lock:
            result.simulations.append(sim)
            result.outcomes += counts[0]
            result.tool_usage += counts[1]
            result.failures += counts[2]
    except Exception as exc:  # every error that reaches a sandbox is reported by the caller
        with lock:
            result.errors.append(f"{label}: {type(exc).__name__}: {exc}")


def run_crowd(
    dsn: str,
    version_id: uuid.UUID,
    scenarios: list[str],
    *,
    clients: int,
    outcomes: int,
    failure_every: int = 50,
) -> CrowdResult:
    """``clients`` sandboxes at once, each in its own thread with its own client and pool."""
    result = CrowdResult()
    lock = threading.Lock()
    threads = [
        threading.Thread(
            target=sandbox,
            args=(dsn, version_id, scenarios, outcomes, failure_every, str(k), result, lock),
            name=f"sandbox-{k}",
        )
        for k in range(clients)
    ]
    start = time.perf_counter()
    result.started = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - start
    result.ended = time.time()
    return result


def _crowd_in_process(args: tuple) -> CrowdResult:
    dsn, version_id, scenarios, clients, outcomes, failure_every, pooler = args
    if pooler:
        os.environ["ARC_EVAL_POOLER"] = pooler
    return run_crowd(
        dsn, version_id, scenarios, clients=clients, outcomes=outcomes, failure_every=failure_every
    )


def run_crowd_processes(
    dsn: str,
    version_id: uuid.UUID,
    scenarios: list[str],
    *,
    clients: int,
    outcomes: int,
    processes: int,
    failure_every: int = 50,
) -> CrowdResult:
    """The same crowd spread over ``processes`` processes (as sandboxes are), each running its share as threads."""
    shares = [clients // processes + (1 if k < clients % processes else 0) for k in range(processes)]
    pooler = os.environ.get("ARC_EVAL_POOLER", "")
    jobs = [(dsn, version_id, scenarios, n, outcomes, failure_every, pooler) for n in shares if n]
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        parts = pool.map(_crowd_in_process, jobs)
    # Timed from the first sandbox's start to the last one's end: process start-up is not counted.
    started, ended = min(p.started for p in parts), max(p.ended for p in parts)
    result = CrowdResult(seconds=ended - started, started=started, ended=ended)
    for part in parts:
        result.simulations += part.simulations
        result.outcomes += part.outcomes
        result.tool_usage += part.tool_usage
        result.failures += part.failures
        result.errors += part.errors
    return result
