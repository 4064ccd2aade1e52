"""``arc-eval migrate --to DSN``, ``arc-eval export DIR`` and ``arc-eval import DIR``: move a database."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from .. import connection, migrate
from ..connection import Target


def register(subparsers: argparse._SubParsersAction) -> None:
    mig = subparsers.add_parser(
        "migrate",
        help="copy the whole database (raw schema) to another server, resumably, then check it",
        description="Copies from the chosen database (ARC_EVAL_DSN, PG*, TIMESCALEDB_*, else the embedded "
        "server) to --to. Run it again after an interruption: it continues without duplicating rows. "
        "Then run `arc-eval dbt build` against the target.",
    )
    mig.add_argument(
        "--to",
        metavar="DSN",
        default=os.environ.get("ARC_EVAL_MIGRATE_TO"),
        help="target database (default $ARC_EVAL_MIGRATE_TO; a password is better given by PGPASSWORD "
        "or ~/.pgpass than in the DSN)",
    )
    mig.add_argument(
        "--batch-rows", type=int, default=migrate.BATCH_ROWS, help="rows per committed batch (default 10000)"
    )
    mig.set_defaults(func=migrate_command)

    exp = subparsers.add_parser(
        "export", help="write every raw table to DIR as CSV with headers (+ manifest)"
    )
    exp.add_argument(
        "directory", type=Path, metavar="DIR", help="folder to write one CSV file per table into (created)"
    )
    exp.set_defaults(func=export_command)

    imp = subparsers.add_parser(
        "import", help="load a folder written by `arc-eval export` into the chosen database, then check it"
    )
    imp.add_argument("directory", type=Path, metavar="DIR", help="folder written by `arc-eval export`")
    imp.set_defaults(func=import_command)


def _progress() -> migrate.Progress:
    return migrate.describe_progress(lambda line: print(line, file=sys.stderr, flush=True))


def _target(dsn: str) -> Target:
    try:
        params = conninfo_to_dict(dsn)
    except Exception:  # the message of a parse error may quote the DSN: never echo it
        raise SystemExit("arc-eval migrate: --to is not a valid connection string or URI") from None
    return Target(dsn, "--to", params)


def migrate_command(args: argparse.Namespace) -> int:
    if not args.to:
        raise SystemExit("arc-eval migrate: give the target with --to DSN (or ARC_EVAL_MIGRATE_TO)")
    source = connection.resolve()
    target = _target(args.to)
    if source.redacted() == target.redacted():
        raise SystemExit("arc-eval migrate: the source and the target are the same database")
    print(f"migrating {source.redacted()} -> {target.redacted()}")
    checks = migrate.migrate(source, target, batch_rows=args.batch_rows, progress=_progress())
    for check in checks:
        print(f"  {check.describe()}")
    print("done: every table has the same rows and checksum; next: arc-eval dbt build on the target")
    return 0


def export_command(args: argparse.Namespace) -> int:
    source = connection.resolve()
    print(f"exporting {source.redacted()} -> {args.directory}")
    manifest = migrate.export_csv(source, args.directory, progress=_progress())
    rows = sum(t["rows"] for t in manifest["tables"].values())
    print(f"wrote {len(manifest['tables'])} tables, {rows} rows, and {migrate.MANIFEST}")
    return 0


def import_command(args: argparse.Namespace) -> int:
    target = connection.resolve()
    print(f"importing {args.directory} -> {target.redacted()}")
    checks = migrate.import_csv(target, args.directory, progress=_progress())
    for check in checks:
        print(f"  {check.describe()}")
    print("done: every table has the exported rows and checksum")
    return 0
