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

    target = connection.resolve()

    async def check() -> dict:
        async with DatabaseHealthChecker(target.conninfo) as checker:
            return await checker.check_all()

    result = asyncio.run(check())
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    perf = result["write_performance"]
    print(f"database: {target.redacted()}")
    print(
        f"write performance: {perf['status']} ({perf['throughput_per_second']:.0f} rows/s, "
        f"{perf['rows']} rows in {perf['batch_write_time_ms']:.1f} ms; nothing written to real tables)"
    )
    for table, h in result["hypertables"].items():
        ratio = h["compression_ratio"]
        print(
            f"{table}: {h['hypertable_status']}, chunks={h['chunk_count']}, total_bytes={h['total_bytes']}, "
            f"compression_ratio={'n/a' if ratio is None else f'{ratio:.2f}'} ({h['storage_efficiency']})"
        )
        for feature, why in h["unavailable"].items():
            print(f"  {feature} unavailable: {why}")
    return 0
