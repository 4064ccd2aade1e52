"""``arc-eval doctor``: which server, what it offers, and what is on or off here and why."""

from __future__ import annotations

import argparse

import psycopg

from .. import connection, dbt
from ..capabilities import Capabilities, features, probe
from ..maintain import RETENTION

RAW_TABLES = (
    "configurations",
    "config_versions",
    "config_diffs",
    "scenarios",
    "simulations",
    "simulations_scenarios",
    "outcomes",
    "failure_patterns",
    "tool_usage",
    "recommendations",
    "llm_recommendation_sessions",
    "audit_log",
    "ingest_dead_letters",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="print the server's capabilities and what they imply")
    parser.set_defaults(func=doctor_command)


def probe_lines(caps: Capabilities) -> list[str]:
    """The probe's values, one per line."""
    ts = "not installed"
    if caps.has_timescaledb:
        ts = caps.edition
    elif caps.timescaledb_available:
        ts = f"not created in this database (server has {caps.timescaledb_available}"
        ts += ", preloaded)" if caps.timescaledb_preloaded else ", not in shared_preload_libraries)"
    vector = caps.vector_version or (
        f"not created in this database (server has {caps.vector_available})"
        if caps.vector_available
        else "not installed"
    )
    return [f"PostgreSQL:  {caps.server_version}", f"TimescaleDB: {ts}", f"pgvector:    {vector}"]


def feature_lines(caps: Capabilities) -> list[str]:
    """One line per feature: ``name: on|off — detail``."""
    return [f"{f.name}: {'on' if f.on else 'off'} — {f.detail}" for f in features(caps)]


def warehouse_lines(conn: psycopg.Connection, caps: Capabilities, schema: str) -> list[str]:
    """What the raw schema holds on this database (tables, hypertables, jobs)."""
    present = {
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s", [schema]
        ).fetchall()
    }
    found = [t for t in RAW_TABLES if t in present]
    if not found:
        return [f"raw schema {schema}: not initialised — run `arc-eval init`"]
    lines = [f"raw schema {schema}: {len(found)} of {len(RAW_TABLES)} tables"]
    missing = [t for t in RAW_TABLES if t not in present]
    if missing:
        lines.append(f"  missing: {', '.join(missing)} — run `arc-eval init` to migrate")
    if caps.has_timescaledb:
        rows = conn.execute(
            """
            select h.hypertable_name, d.time_interval::text, h.compression_enabled
            from timescaledb_information.hypertables h
            join timescaledb_information.dimensions d using (hypertable_schema, hypertable_name)
            where h.hypertable_schema = %s order by 1
            """,
            [schema],
        ).fetchall()
        shown = ", ".join(f"{n} ({i}{', compression enabled' if c else ''})" for n, i, c in rows) or "none"
        lines.append(f"  hypertables: {shown}")
    if caps.has_policies:
        rows = conn.execute(
            """
            select coalesce(hypertable_name, proc_name), proc_name, config
            from timescaledb_information.jobs
            where hypertable_schema = %s or proc_schema = %s order by 1, 2
            """,
            [schema, schema],
        ).fetchall()
        jobs = [
            f"{name} {proc.removeprefix('policy_')}" if proc.startswith("policy_") else f"{proc} (job)"
            for name, proc, _ in rows
        ]
        lines.append(f"  jobs: {', '.join(jobs) or 'none'}")
    else:
        windows = ", ".join(f"{t} {w}" for t, (_, w) in RETENTION.items())
        lines.append(f"  retention by `arc-eval maintain`: {windows}")
    return lines


def doctor_command(args: argparse.Namespace) -> int:
    target = connection.resolve(start_embedded=False)
    schema = dbt.raw_schema()
    print(f"server: {target.redacted()} (from {target.source})")
    with psycopg.connect(target.conninfo) as conn:
        caps = probe(conn)
        lines = probe_lines(caps) + [""] + feature_lines(caps) + [""] + warehouse_lines(conn, caps, schema)
    for line in lines:
        print(line)
    return 0
