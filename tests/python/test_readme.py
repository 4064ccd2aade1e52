"""The README's sandbox example runs as written against a real warehouse."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from arc_eval import dbt


def test_readme_example_runs_twice_and_lands_its_rows(make_database, monkeypatch) -> None:
    target = make_database("readme")
    dbt.init_warehouse(target)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "the README has a python example"
    monkeypatch.setenv("ARC_EVAL_DSN", target.conninfo)
    runs = []
    for _ in range(2):  # a newcomer runs it again: the configuration and its version are found, not refused
        namespace: dict = {}
        exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
        runs.append(namespace)
    assert runs[0]["config_id"] == runs[1]["config_id"]
    assert runs[0]["version"].version_id == runs[1]["version"].version_id
    assert runs[0]["sim"] != runs[1]["sim"]
    raw = dbt.raw_schema()
    with psycopg.connect(target.conninfo) as conn:
        for namespace in runs:
            row = conn.execute(
                f"select o.status, o.execution_metadata, s.status, s.completed_scenarios from {raw}.outcomes o "
                f"join {raw}.simulations s using (simulation_id) where o.outcome_id = %s",
                [namespace["outcome"]],
            ).fetchone()
            assert row == ("success", {"sandbox_type": "container", "any_new_key": True}, "completed", 1)
        assert conn.execute(f"select count(*) from {raw}.configurations").fetchone()[0] == 1
        assert conn.execute(f"select count(*) from {raw}.config_versions").fetchone()[0] == 1
