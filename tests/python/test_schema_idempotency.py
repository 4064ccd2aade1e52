"""The create macro is idempotent (a second run leaves the catalog unchanged) and migrates an older
database forward without losing a row."""

from __future__ import annotations

import uuid

import psycopg

from arc_eval import dbt
from schema_helpers import RAW, catalog_snapshot, create_raw_schema


def test_second_run_changes_nothing(make_database) -> None:
    target = make_database("idem")
    dbt.init_warehouse(target)  # run-operation, then dbt seed (whose on-run-start runs the macro again)
    before = catalog_snapshot(target)
    assert len([r for r in before["relations"] if r.endswith(":r")]) == 15
    dbt.init_warehouse(target)
    create_raw_schema(target)
    after = catalog_snapshot(target)
    assert {k: len(v) for k, v in after.items()} == {k: len(v) for k, v in before.items()}
    assert after == before


def test_on_run_start_alone_creates_the_schema_before_seeding(make_database) -> None:
    """`dbt seed` on an empty database: on-run-start creates the raw tables, then the seed's post-hook fills them."""
    target = make_database("hook")
    dbt.run(["seed"], target, quiet=True)
    snapshot = catalog_snapshot(target)
    assert len([r for r in snapshot["relations"] if r.endswith(":r")]) == 15
    with psycopg.connect(target.conninfo) as conn:
        (count,) = conn.execute(f"select count(*) from {RAW}.scenarios").fetchone()
    assert count >= 24


def test_older_database_is_migrated_forward(make_database) -> None:
    """A database whose tables lack later columns, constraints, indexes and triggers gains them; rows stay."""
    target = make_database("migrate")
    create_raw_schema(target)
    config_id, version_id, simulation_id, outcome_id = (uuid.uuid4() for _ in range(4))
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        # Make it look like an older version of the macro made it: later additions missing.
        conn.execute(f"alter table {RAW}.simulations drop column sandbox_metadata")
        conn.execute(f"alter table {RAW}.recommendations drop column review_status")
        conn.execute(f"alter table {RAW}.llm_recommendation_sessions drop constraint valid_data_window")
        conn.execute(f"drop trigger arc_eval_audit on {RAW}.recommendations")
        conn.execute(f"drop index {RAW}.idx_outcomes_modal_call")
        conn.execute(f"alter table {RAW}.outcomes drop column execution_metadata")
        conn.execute(
            f"insert into {RAW}.configurations (config_id, name, user_id) values (%s, 'old config', %s)",
            [config_id, uuid.uuid4()],
        )
        conn.execute(
            f"""insert into {RAW}.config_versions (version_id, config_id, version_number, raw_yaml, parsed_config,
                config_hash) values (%s, %s, 1, 'model: m', '{{"model": "m", "temperature": 0.1}}', repeat('c', 64))""",
            [version_id, config_id],
        )
        conn.execute(
            f"""insert into {RAW}.scenarios (scenario_id, name, task_prompt)
                values ('old_scenario', 'Old scenario', 'An old scenario prompt')"""
        )
        conn.execute(
            f"""insert into {RAW}.simulations (simulation_id, config_version_id, scenario_set, total_scenarios)
                values (%s, %s, '{{old_scenario}}', 1)""",
            [simulation_id, version_id],
        )
        conn.execute(
            f"""insert into {RAW}.outcomes (outcome_id, simulation_id, scenario_id, execution_time, status,
                reliability_score, execution_time_ms, tokens_used, cost_usd, trajectory)
                values (%s, %s, 'old_scenario', now(), 'success', 1, 10, 1, 0,
                        '{{"start_time": "t", "status": "success"}}')""",
            [outcome_id, simulation_id],
        )
        counts_before = {
            t: conn.execute(f"select count(*) from {RAW}.{t}").fetchone()[0]
            for t in ("configurations", "config_versions", "simulations", "outcomes", "audit_log")
        }

    create_raw_schema(target)

    with psycopg.connect(target.conninfo) as conn:
        counts_after = {
            t: conn.execute(f"select count(*) from {RAW}.{t}").fetchone()[0] for t in counts_before
        }
        assert counts_after == counts_before
        assert conn.execute(
            f"select sandbox_metadata from {RAW}.simulations where simulation_id = %s", [simulation_id]
        ).fetchone() == ({},)
        assert conn.execute(
            f"select execution_metadata from {RAW}.outcomes where outcome_id = %s", [outcome_id]
        ).fetchone() == ({},)
        constraint = conn.execute(
            "select pg_get_constraintdef(oid) from pg_constraint where conname = 'valid_data_window'"
        ).fetchone()
        assert constraint == ("CHECK ((data_window_end >= data_window_start))",)
        triggers = conn.execute(
            "select count(*) from pg_trigger where tgname = 'arc_eval_audit' and tgrelid = %s::regclass",
            [f"{RAW}.recommendations"],
        ).fetchone()
        assert triggers == (1,)
        assert conn.execute(
            "select count(*) from pg_indexes where indexname = 'idx_outcomes_modal_call'"
        ).fetchone() == (1,)
        review = conn.execute(
            """select column_default, is_nullable from information_schema.columns
                where table_schema = %s and table_name = 'recommendations' and column_name = 'review_status'""",
            [RAW],
        ).fetchone()
        assert review == ("'pending'::text", "NO")


def test_the_rollups_former_ingest_log_gives_way_to_the_raw_schemas(make_database) -> None:
    """A database where the rollup materialization kept its own ingest log (a table and trigger function in
    the analytics schema, `arc_eval_late_rows_<schema>_<column>` triggers on the raw tables) gets the raw
    schema's log instead: the old triggers, function and table go, the new triggers start logging."""
    target = make_database("oldlog")
    create_raw_schema(target)
    tables = ("failure_patterns", "outcomes", "tool_usage")
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute(f"drop table {RAW}.ingest_late_hours")
        conn.execute(f"drop function {RAW}.arc_eval_log_late_hours() cascade")
        conn.execute("create schema old_analytics")
        conn.execute("create table old_analytics.arc_eval_rollup_ingest_log (source_table text)")
        conn.execute(
            "create function old_analytics.arc_eval_log_late_rows() returns trigger language plpgsql"
            " as $$ begin return null; end $$"
        )
        for table in tables:
            conn.execute(
                f"create trigger arc_eval_late_rows_old_analytics_execution_time after insert on {RAW}.{table}"
                " referencing new table as new_rows for each statement"
                " execute function old_analytics.arc_eval_log_late_rows('execution_time')"
            )

    create_raw_schema(target)

    with psycopg.connect(target.conninfo) as conn:
        triggers = conn.execute(
            "select tgname, tgrelid::regclass::text from pg_trigger where tgname like 'arc_eval_late%' order by 2"
        ).fetchall()
        assert triggers == [("arc_eval_late_hours", f"{RAW}.{t}") for t in tables]
        leftovers = conn.execute(
            "select to_regclass('old_analytics.arc_eval_rollup_ingest_log'),"
            " to_regprocedure('old_analytics.arc_eval_log_late_rows()')"
        ).fetchone()
        assert leftovers == (None, None)
        marks = conn.execute(
            f"select source_table from {RAW}.ingest_late_hours where kind = 'logging started' order by 1"
        ).fetchall()
        assert marks == [(f"{RAW}.{t}",) for t in tables]
