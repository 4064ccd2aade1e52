"""``arc-eval serve`` (the live dashboard and review app) and ``arc-eval dashboard`` (its static export)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import connection

DEFAULT_PORT = 8765


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="the live dashboard: explore runs down to a trajectory, review recommendations (127.0.0.1 by default)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s)")
    serve.add_argument(
        "--add-reviewer",
        metavar="NAME",
        default=None,
        help="add an account and print its sign-in token once (stored hashed in the data folder), then exit",
    )
    serve.add_argument(
        "--role",
        choices=("reviewer", "reader"),
        default="reviewer",
        help="role of the account --add-reviewer adds: reviewer (approve, reject, apply) or reader",
    )
    serve.set_defaults(func=serve_command)

    export = subparsers.add_parser(
        "dashboard", help="write a self-contained HTML snapshot of the dashboard (same pages as serve)"
    )
    export.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    export.add_argument(
        "--days", type=int, default=30, choices=(7, 14, 30, 90, 0), help="time range in days, 0 for all"
    )
    export.set_defaults(func=dashboard_command)


def serve_command(args: argparse.Namespace) -> int:
    from ..web import auth

    store = auth.AccountStore(connection.data_dir())
    if args.add_reviewer:
        token = store.add(args.add_reviewer, args.role)
        print(f"added {args.role} {args.add_reviewer}; sign-in token (shown once, stored hashed):")
        print(token)
        return 0
    import uvicorn

    from ..web.app import create_app

    target = connection.resolve()
    app = create_app(target.conninfo, connection.data_dir())
    print(f"arc-eval serve: http://{args.host}:{args.port}/ on the {target.source} database; Ctrl-C stops it")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def dashboard_command(args: argparse.Namespace) -> int:
    import psycopg

    from ..web.export import render_snapshot

    target = connection.resolve()
    with psycopg.connect(target.conninfo, **connection.reader_kwargs(read_only=True)) as conn:
        html = render_snapshot(conn, days=args.days, subtitle=f"{target.source} database")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    connection.write_private(args.out, html)
    print(f"dashboard: {args.out} ({len(html) // 1024} KiB)", file=sys.stdout)
    return 0
