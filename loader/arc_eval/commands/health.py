"""``arc-eval health``: the seed's health checks (write speed into a TEMP table, hypertable health)."""

from __future__ import annotations

import argparse
import asyncio
import json

from .. import connection


def register(subparsers: argparse._SubParsersAction) -> None:
    health = subparsers.add_parser(
        "health",
        help="time a COPY into a temporary outcomes table and report hypertable chunks/sizes/compression",
    )
    health.add_argument("--json", action="store_true", help="print the full result as JSON")
    health.set_defaults(func=health_command)


def health_command(args: argparse.Namespace) -> int:
    from ..compat import DatabaseHealthChecker

    target = connection.resolve(start_embedded=False)

    async def check() -> dict:
        async with DatabaseHealthChecker(target.conninfo) as checker:
            return await checker.check_all()

    result = asyncio.run(check())
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    print(format_report(target.redacted(), result))
    return 0


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def format_report(database: str, result: dict) -> str:
    """The health result as a short table; each reason a feature is off is said once, below it."""
    perf = result["write_performance"]
    lines = [
        f"database          {database}",
        f"write check       {perf['status']}: {perf['throughput_per_second']:,.0f} rows/s "
        f"({perf['rows']} rows in {perf['batch_write_time_ms']:.1f} ms, into a temporary table, rolled back)",
        "",
        f"{'table':<18}{'status':<10}{'storage':<12}{'chunks':>7}{'size':>11}  compression",
    ]
    reasons: dict[str, str] = {}
    for table, h in result["hypertables"].items():
        kind = "hypertable" if h.get("is_hypertable") else "table"
        chunks = str(h["chunk_count"]) if h.get("is_hypertable") else "-"
        if h.get("compression_ratio") is not None:
            compression = f"{h['compression_ratio']:.1f}x"
        elif h.get("compression_enabled"):
            compression = "on, nothing compressed yet"
        else:
            compression = "off"
        lines.append(
            f"{table:<18}{h['hypertable_status']:<10}{kind:<12}{chunks:>7}{_size(h['total_bytes']):>11}  {compression}"
        )
        for feature, why in h.get("unavailable", {}).items():
            reasons.setdefault(feature, why)
    if reasons:
        lines.append("")
        lines += [f"{feature} is off on this server: {why}" for feature, why in reasons.items()]
    return "\n".join(lines)
