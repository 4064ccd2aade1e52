"""seeds/scenarios.csv is realistic and valid, and the seed upsert inserts or updates raw scenarios
without ever deleting one or breaking an outcome's foreign key."""

from __future__ import annotations

import csv
import json
import re
import uuid
from pathlib import Path

import psycopg

from arc_eval import dbt
from arc_eval.connection import Target
from schema_helpers import RAW

CSV = Path(dbt.project_dir()) / "seeds" / "scenarios.csv"
TOOLS = {
    "web_search",
    "code_interpreter",
    "file_reader",
    "sql_query",
    "calculator",
    "http_request",
    "email_sender",
    "calendar",
}


def csv_rows() -> list[dict[str, str]]:
    with CSV.open(newline="") as f:
        return list(csv.DictReader(f))


def test_csv_holds_at_least_24_valid_scenarios_across_difficulties() -> None:
    rows = csv_rows()
    assert len(rows) >= 24
    assert len({r["scenario_id"] for r in rows}) == len(rows)
    assert {r["difficulty_level"] for r in rows} == {"easy", "medium", "hard"}
    for r in rows:
        assert re.fullmatch(r"[a-z0-9_]+", r["scenario_id"]), r["scenario_id"]
        assert isinstance(json.loads(r["ground_truth"]), dict)
        tools = json.loads(r["expected_tools"])
        assert tools and set(tools) <= TOOLS, r["scenario_id"]
        assert re.fullmatch(r"\{[a-z0-9_,]+\}", r["tags"]), r["tags"]
        assert int(r["estimated_duration_ms"]) > 0
        assert len(r["task_prompt"]) >= 10


def test_seed_loaded_every_row_into_the_raw_table(warehouse: Target) -> None:
    with psycopg.connect(warehouse.conninfo) as conn:
        raw = dict(
            conn.execute(
                f"select scenario_id, expected_tools from {RAW}.scenarios where scenario_id = any(%s)",
                [[r["scenario_id"] for r in csv_rows()]],
            ).fetchall()
        )
    assert {k: v for k, v in raw.items()} == {
        r["scenario_id"]: json.loads(r["expected_tools"]) for r in csv_rows()
    }


def test_reseeding_updates_edited_rows_and_keeps_outcomes_and_extra_scenarios(make_database) -> None:
    target = make_database("reseed")
    dbt.init_warehouse(target)
    first = csv_rows()[0]
    sim_id, version_id, config_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        # A row edited in place, a scenario that is not in the CSV, and an outcome referring to each.
        conn.execute(
            f"update {RAW}.scenarios set name = 'Edited by hand' where scenario_id = %s",
            [first["scenario_id"]],
        )
        conn.execute(
            f"insert into {RAW}.scenarios (scenario_id, name, task_prompt) values ('local_only', 'Local', 'Kept forever?')"
        )
        conn.execute(
            f"insert into {RAW}.configurations (config_id, name, user_id) values (%s, 'cfg', %s)",
            [config_id, uuid.uuid4()],
        )
        conn.execute(
            f"""insert into {RAW}.config_versions (version_id, config_id, version_number, raw_yaml, parsed_config, config_hash)
                values (%s, %s, 1, 'm', '{{"model": "m", "temperature": 0}}', repeat('d', 64))""",
            [version_id, config_id],
        )
        conn.execute(
            f"insert into {RAW}.simulations (simulation_id, config_version_id, scenario_set, total_scenarios) values (%s, %s, %s, 2)",
            [sim_id, version_id, [first["scenario_id"], "local_only"]],
        )
        for scenario in (first["scenario_id"], "local_only"):
            conn.execute(
                f"""insert into {RAW}.outcomes (simulation_id, scenario_id, execution_time, status, reliability_score,
                    execution_time_ms, tokens_used, cost_usd, trajectory)
                    values (%s, %s, now(), 'success', 1, 1, 1, 0, '{{"start_time": "t", "status": "success"}}')""",
                [sim_id, scenario],
            )

    dbt.run(["seed"], target, quiet=True)

    with psycopg.connect(target.conninfo) as conn:
        name = conn.execute(
            f"select name from {RAW}.scenarios where scenario_id = %s", [first["scenario_id"]]
        ).fetchone()
        assert name == (first["name"],)
        assert conn.execute(
            f"select count(*) from {RAW}.scenarios where scenario_id = 'local_only'"
        ).fetchone() == (1,)
        assert conn.execute(
            f"select count(*) from {RAW}.outcomes where simulation_id = %s", [sim_id]
        ).fetchone() == (2,)
        assert conn.execute(f"select count(*) from {RAW}.scenarios").fetchone() == (len(csv_rows()) + 1,)


def test_upsert_from_an_edited_copy_updates_only_changed_rows(make_database) -> None:
    target = make_database("upsert")
    dbt.init_warehouse(target)
    first, second = csv_rows()[:2]
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute("create schema curated")
        conn.execute(
            f"create table curated.scenarios as select * from {dbt.analytics_schema()}_seeds.scenarios"
        )
        conn.execute(
            "update curated.scenarios set difficulty_level = 'hard', estimated_duration_ms = 99999 where scenario_id = %s",
            [first["scenario_id"]],
        )
        conn.execute(
            """insert into curated.scenarios (scenario_id, name, task_prompt, ground_truth, difficulty_level, tags,
               expected_tools, is_active, estimated_duration_ms)
               values ('brand_new', 'Brand new scenario', 'A freshly added scenario prompt', '{}', 'easy', '{new}',
                       '["calculator"]', true, 1000)"""
        )
        xmin_before = conn.execute(
            f"select xmin::text from {RAW}.scenarios where scenario_id = %s", [second["scenario_id"]]
        ).fetchone()

    dbt.run(
        [
            "run-operation",
            "arc_eval_upsert_scenarios_from",
            "--args",
            '{"schema": "curated", "identifier": "scenarios"}',
        ],
        target,
        quiet=True,
    )

    with psycopg.connect(target.conninfo) as conn:
        edited = conn.execute(
            f"select difficulty_level, estimated_duration_ms from {RAW}.scenarios where scenario_id = %s",
            [first["scenario_id"]],
        ).fetchone()
        assert edited == ("hard", 99999)
        assert conn.execute(
            f"select tags from {RAW}.scenarios where scenario_id = 'brand_new'"
        ).fetchone() == (["new"],)
        untouched = conn.execute(
            f"select xmin::text from {RAW}.scenarios where scenario_id = %s", [second["scenario_id"]]
        ).fetchone()
        assert untouched == xmin_before  # an unchanged row is not rewritten
