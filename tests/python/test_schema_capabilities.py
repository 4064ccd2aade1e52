"""The capability probe: the dbt macro and the Python twin read the same values and derive the same features."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from arc_eval import dbt
from arc_eval.connection import Target
from schema_helpers import capabilities

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
    derived += ["has_policies", "has_vector"]
    assert {name: from_macro[name] for name in derived} == {name: getattr(caps, name) for name in derived}
    reasons = from_macro["reasons"]
    assert reasons["hypertables"] == caps.timescaledb_reason()
    for feature in ("compression", "continuous_aggregates", "policies"):
        assert reasons[feature] == caps.license_reason()
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
    }
    for run in (first, create_log_lines(target)):
        skipped = [m for m in run if " skipped: " in m]
        assert sorted(m.split(" skipped: ")[0].removeprefix("arc-eval: ") for m in skipped) == sorted(
            f for f, off in expected_off.items() if off
        )
        reasons = [r for r in (caps.timescaledb_reason(), caps.license_reason()) if r]
        assert all(any(r in m for r in reasons) for m in skipped)
    assert any(m.startswith("arc-eval: raw schema ") and " added " in m for m in first)
    assert any(m.endswith(" is up to date") for m in create_log_lines(target))
