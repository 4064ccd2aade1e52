"""Audit triggers and trigger_llm_recommendation_analysis() on the initialised warehouse."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.types.json import Jsonb

from arc_eval.connection import Target
from schema_helpers import RAW


@pytest.fixture()
def conn(warehouse: Target) -> Iterator[psycopg.Connection]:
    with psycopg.connect(warehouse.conninfo) as connection:
        yield connection
        connection.rollback()


def new_config(conn: psycopg.Connection) -> uuid.UUID:
    config_id = uuid.uuid4()
    conn.execute(
        f"insert into {RAW}.configurations (config_id, name, user_id) values (%s, 'audited config', %s)",
        [config_id, uuid.uuid4()],
    )
    return config_id


def audit_rows(conn: psycopg.Connection, key: str, value: uuid.UUID) -> list[tuple]:
    return conn.execute(
        f"""select table_name, operation, user_id, old_data, new_data from {RAW}.audit_log
            where coalesce(new_data, old_data) ->> %s = %s
            order by array_position(array['INSERT', 'UPDATE', 'DELETE'], operation)""",
        [key, str(value)],
    ).fetchall()


def test_audit_rows_carry_operation_data_and_session_user(conn: psycopg.Connection) -> None:
    user = uuid.uuid4()
    conn.execute("select set_config('arc_eval.user_id', %s, true)", [str(user)])
    config_id = new_config(conn)
    conn.execute(f"update {RAW}.configurations set is_active = false where config_id = %s", [config_id])
    conn.execute(f"delete from {RAW}.configurations where config_id = %s", [config_id])
    rows = audit_rows(conn, "config_id", config_id)
    assert [(t, op, u) for t, op, u, _, _ in rows] == [
        ("configurations", "INSERT", user),
        ("configurations", "UPDATE", user),
        ("configurations", "DELETE", user),
    ]
    insert, update, delete = rows
    assert insert[3] is None and insert[4]["is_active"] is True
    assert update[3]["is_active"] is True and update[4]["is_active"] is False
    assert delete[3]["is_active"] is False and delete[4] is None


def test_audit_user_is_null_when_setting_unset_or_empty(conn: psycopg.Connection) -> None:
    first = new_config(conn)
    conn.execute("select set_config('arc_eval.user_id', '', true)")
    second = new_config(conn)
    assert [r[2] for r in audit_rows(conn, "config_id", first)] == [None]
    assert [r[2] for r in audit_rows(conn, "config_id", second)] == [None]


def test_config_version_audit_leaves_out_the_embedding(conn: psycopg.Connection) -> None:
    config_id = new_config(conn)
    version_id = uuid.uuid4()
    conn.execute(
        f"""insert into {RAW}.config_versions (version_id, config_id, version_number, raw_yaml, parsed_config,
            config_hash, embedding) values (%s, %s, 1, 'model: m', %s, repeat('e', 64),
            array_fill(0.5::real, array[1536])::vector)""",
        [version_id, config_id, Jsonb({"model": "m", "temperature": 0.3})],
    )
    [(table, op, _, _, new)] = audit_rows(conn, "version_id", version_id)
    assert (table, op) == ("config_versions", "INSERT")
    assert "embedding" not in new and new["raw_yaml"] == "model: m"


@pytest.mark.parametrize("table", ["config_diffs", "recommendations"])
def test_other_audited_tables_have_the_trigger(conn: psycopg.Connection, table: str) -> None:
    (count,) = conn.execute(
        "select count(*) from pg_trigger where tgname = 'arc_eval_audit' and tgrelid = %s::regclass",
        [f"{RAW}.{table}"],
    ).fetchone()
    assert count == 1


def test_trigger_analysis_records_a_requested_session_with_window_counts(conn: psycopg.Connection) -> None:
    config_id = new_config(conn)
    version_id, sim_id = uuid.uuid4(), uuid.uuid4()
    conn.execute(
        f"""insert into {RAW}.config_versions (version_id, config_id, version_number, raw_yaml, parsed_config,
            config_hash) values (%s, %s, 1, 'm', %s, repeat('f', 64))""",
        [version_id, config_id, Jsonb({"model": "m", "temperature": 0.3})],
    )
    conn.execute(
        f"""insert into {RAW}.simulations (simulation_id, config_version_id, scenario_set, total_scenarios)
            values (%s, %s, '{{compound_interest}}', 1)""",
        [sim_id, version_id],
    )
    (before_outcomes,) = conn.execute(
        f"select count(*) from {RAW}.outcomes where execution_time > now() - interval '3 days'"
    ).fetchone()
    for age in ("1 hour", "2 days", "10 days"):
        conn.execute(
            f"""insert into {RAW}.outcomes (simulation_id, scenario_id, execution_time, status, reliability_score,
                execution_time_ms, tokens_used, cost_usd, trajectory)
                values (%s, 'compound_interest', now() - %s::interval, 'error', 0.1, 1, 1, 0,
                        '{{"start_time": "t", "status": "error"}}')""",
            [sim_id, age],
        )
    requester = uuid.uuid4()
    (session_id,) = conn.execute(
        f"select {RAW}.trigger_llm_recommendation_analysis(interval '3 days', %s)", [requester]
    ).fetchone()
    row = conn.execute(
        f"""select session_status, llm_model, user_id, total_outcomes_analyzed, data_window_end - data_window_start
            from {RAW}.llm_recommendation_sessions where session_id = %s""",
        [session_id],
    ).fetchone()
    assert row[:4] == ("requested", "pending", requester, before_outcomes + 2)
    assert str(row[4]) == "3 days, 0:00:00"
