"""``arc-eval maintain``: apply the retention windows (drop_chunks on hypertables, batched DELETE elsewhere)."""

from __future__ import annotations

import argparse

from .. import connection, dbt
from ..maintain import apply_retention
from ..raw_rules import describe_retention


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "maintain",
        help=f"apply retention: {describe_retention(short=True)}",
    )
    parser.add_argument("--dry-run", action="store_true", help="count what would be removed; change nothing")
    parser.add_argument(
        "--batch-size", type=int, default=10_000, help="rows per DELETE batch (default 10000)"
    )
    parser.set_defaults(func=maintain_command)


def maintain_command(args: argparse.Namespace) -> int:
    target = connection.resolve(start_embedded=False)
    schema = dbt.raw_schema()
    verb = "would remove (dry run)" if args.dry_run else "retention"
    print(f"maintaining {schema} on {target.redacted()} ({verb})")
    for action in apply_retention(target.conninfo, schema, batch_size=args.batch_size, dry_run=args.dry_run):
        print(f"  {action.describe()}")
    return 0
