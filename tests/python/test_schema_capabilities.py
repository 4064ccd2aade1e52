"""The capability probe: the dbt macro and the Python twin read the same values and derive the same features."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import psycopg

from arc_eval import dbt
from arc_eval.connection import Target
from schema_helpers import RAW, capabilities

PREFIX = "arc-eval capabilities: "


def macro_probe(target: Target) -> dict[str, Any]:
    messages: list[str] = []

    def grab(event: Any) -> None:
        if event.info.name == "JinjaLogInfo" and event.info.msg.startswith(PREFIX):
            messages.append(event.info.msg)

    dbt.run(["run-operation", "arc_eval_print_capabilities"], target, callbacks=[grab])
    assert len(messages) == 1
    return json.loads(messages[0].removeprefix(PREFIX))


def test_macro_and_python_probe_agree(warehouse: Target) -> None:
    from_macro = macro_probe(warehouse)
    caps = capabilities(warehouse)
    assert {f.name: from_macro[f.name] for f in dataclasses.fields(caps)} == dataclasses.asdict(caps)
    derived = ["has_timescaledb", "has_hypertables", "has_compression", "has_continuous_aggregates"]
    derived += ["has_policies", "has_vector", "has_lz4"]
    assert {name: from_macro[name] for name in derived} == {name: getattr(caps, name) for name in derived}
    reasons = from_macro["reasons"]
    assert reasons["hypertables"] == caps.timescaledb_reason()
    for feature in ("compression", "continuous_aggregates", "policies"):
        assert reasons[feature] == caps.license_reason()
    assert reasons["lz4_compression"] == caps.lz4_reason()
    assert caps.has_vector  # every supported server has pgvector


def create_log_lines(target: Target) -> list[str]:
    messages: list[str] = []

    def grab(event: Any) -> None:
        if event.info.name == "JinjaLogInfo":
            messages.append(event.info.msg)

    dbt.run(["run-operation", "arc_eval_create_raw_schema"], target, callbacks=[grab])
    return messages


def test_each_missing_feature_is_skipped_with_one_log_line(make_database) -> None:
    target = make_database("skiplog")
    first = create_log_lines(target)
    caps = capabilities(target)
    expected_off = {
        "hypertables": not caps.has_hypertables,
        "compression": not caps.has_compression,
        "policies": not caps.has_policies,
        "lz4 compression": not caps.has_lz4,
    }
    for run in (first, create_log_lines(target)):
        skipped = [m for m in run if " skipped: " in m]
        assert sorted(m.split(" skipped: ")[0].removeprefix("arc-eval: ") for m in skipped) == sorted(
            f for f, off in expected_off.items() if off
        )
        reasons = [r for r in (caps.timescaledb_reason(), caps.license_reason(), caps.lz4_reason()) if r]
        assert all(any(r in m for r in reasons) for m in skipped)
    assert any(m.startswith("arc-eval: raw schema ") and " added " in m for m in first)
    assert any(m.endswith(" is up to date") for m in create_log_lines(target))


def test_json_and_text_columns_compress_with_lz4_where_the_server_has_it(warehouse: Target) -> None:
    caps = capabilities(warehouse)
    with psycopg.connect(warehouse.conninfo) as conn:
        methods = dict(
            conn.execute(
                "select c.relname || '.' || a.attname, a.attcompression from pg_attribute a "
                "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = %s and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped "
                "and a.atttypid in ('jsonb'::regtype, 'text'::regtype) "
                "and c.relname not in ('arc_eval_principals', 'ingest_late_hours')",
                [RAW],
            ).fetchall()
        )
    assert {"outcomes.trajectory", "outcomes.sandbox_logs", "failure_patterns.error_message"} <= set(methods)
    expected = "l" if caps.has_lz4 else ""
    assert {column for column, method in methods.items() if method != expected} == set()
