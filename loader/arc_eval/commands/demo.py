"""``arc-eval demo`` (the whole system end to end) and ``arc-eval simulate`` (the simulated sandbox only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import connection, simulator


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _size_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed", type=int, default=simulator.DEFAULT_SEED, help="random seed (default %(default)s)"
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--simulations",
        type=_positive,
        default=None,
        help=f"number of simulations, each over ~10 scenarios (default {simulator.DEFAULT_SIMULATIONS})",
    )
    size.add_argument("--scale", type=float, default=None, help="multiply the default number of simulations")


def _simulations(args: argparse.Namespace) -> int:
    if args.simulations:
        return args.simulations
    if args.scale is not None:
        if args.scale <= 0:
            raise SystemExit("--scale must be positive")
        return max(1, round(simulator.DEFAULT_SIMULATIONS * args.scale))
    return simulator.DEFAULT_SIMULATIONS


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run everything on the chosen database (embedded by default): init, simulate, dbt build, "
        "recommend, then print a report and write an HTML dashboard",
    )
    _size_options(demo)
    demo.add_argument("--html", type=Path, default=None, help="where to write the dashboard")
    demo.add_argument(
        "--provider", default=None, help="recommendation provider (default: rules unless an API key is set)"
    )
    demo.set_defaults(func=demo_command)

    simulate = subparsers.add_parser(
        "simulate",
        help="write a simulated history (configs, simulations, outcomes, tools, failures) via the loader",
    )
    _size_options(simulate)
    simulate.set_defaults(func=simulate_command)


def demo_command(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    run_demo(seed=args.seed, simulations=_simulations(args), html_path=args.html, provider=args.provider)
    return 0


def simulate_command(args: argparse.Namespace) -> int:
    from ..demo import Progress, simulate

    target = connection.resolve(start_embedded=False)
    progress = Progress(sys.stdout)
    with progress.stage(f"simulate on {target.source} database") as note:
        written = simulate(target, seed=args.seed, simulations=_simulations(args), progress=progress)
        note["result"] = ", ".join(f"{v} {k}" for k, v in written.items())
    return 0
