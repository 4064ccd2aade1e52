"""The README's sandbox example runs as written against a real warehouse."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from arc_eval import dbt


def test_readme_example_runs_and_lands_its_rows(warehouse, monkeypatch) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "the README has a python example"
    monkeypatch.setenv("ARC_EVAL_DSN", warehouse.conninfo)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    raw = dbt.raw_schema()
    with psycopg.connect(warehouse.conninfo) as conn:
        row = conn.execute(
            f"select o.status, o.execution_metadata, s.status, s.completed_scenarios "
            f"from {raw}.outcomes o join {raw}.simulations s using (simulation_id) where o.outcome_id = %s",
            [namespace["outcome"]],
        ).fetchone()
    assert row == ("success", {"sandbox_type": "container", "any_new_key": True}, "completed", 1)
