"""Every CHECK, foreign key, UNIQUE and NOT NULL rule of the seed's section 2 (and the contract's additions)
is enforced by the raw tables, and the database's error names the rule; a valid row of each table is accepted.

Each case runs in a transaction that is rolled back, on the session's initialised warehouse.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.types.json import Jsonb

from arc_eval.connection import Target
from schema_helpers import RAW

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SEEDED_SCENARIO = "compound_interest"


@dataclass
class Parents:
    """Rows a child row can point at, inserted inside the case's transaction."""

    config_id: uuid.UUID
    version_1: uuid.UUID
    version_2: uuid.UUID
    simulation_id: uuid.UUID
    session_id: uuid.UUID


def insert(conn: psycopg.Connection, table: str, row: dict[str, Any]) -> None:
    query = sql.SQL("insert into {} ({}) values ({})").format(
        sql.Identifier(RAW, table),
        sql.SQL(", ").join(map(sql.Identifier, row)),
        sql.SQL(", ").join(sql.Placeholder() * len(row)),
    )
    conn.execute(query, list(row.values()))


def make_parents(conn: psycopg.Connection) -> Parents:
    p = Parents(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    insert(
        conn, "configurations", {"config_id": p.config_id, "name": "parent config", "user_id": uuid.uuid4()}
    )
    for number, version in ((1, p.version_1), (2, p.version_2)):
        insert(
            conn,
            "config_versions",
            {**VALID["config_versions"](p), "version_id": version, "version_number": number},
        )
    insert(conn, "simulations", {**VALID["simulations"](p), "simulation_id": p.simulation_id})
    insert(
        conn,
        "llm_recommendation_sessions",
        {**VALID["llm_recommendation_sessions"](p), "session_id": p.session_id},
    )
    return p


VALID: dict[str, Callable[[Parents], dict[str, Any]]] = {
    "configurations": lambda p: {
        "config_id": uuid.uuid4(),
        "name": "support-agent v1",
        "user_id": uuid.uuid4(),
    },
    "config_versions": lambda p: {
        "version_id": uuid.uuid4(),
        "config_id": p.config_id,
        "version_number": 3,
        "raw_yaml": "model: gpt-4o\ntemperature: 0.2\n",
        "parsed_config": Jsonb({"model": "gpt-4o", "temperature": 0.2}),
        "config_hash": "a" * 64,
        "generated_by": "api",
    },
    "config_diffs": lambda p: {
        "diff_id": uuid.uuid4(),
        "config_id": p.config_id,
        "version_before": p.version_1,
        "version_after": p.version_2,
        "diff_yaml": "- temperature: 0.2\n+ temperature: 0.4\n",
    },
    "scenarios": lambda p: {
        "scenario_id": f"test_{uuid.uuid4().hex[:12]}",
        "name": "A test scenario",
        "task_prompt": "Add two numbers and explain.",
        "difficulty_level": "easy",
        "tags": ["math"],
        "expected_tools": Jsonb(["calculator"]),
        "estimated_duration_ms": 1000,
    },
    "simulations": lambda p: {
        "simulation_id": uuid.uuid4(),
        "config_version_id": p.version_1,
        "scenario_set": [SEEDED_SCENARIO],
        "total_scenarios": 1,
        "created_at": NOW - timedelta(minutes=5),
        "started_at": NOW - timedelta(minutes=4),
    },
    "simulations_scenarios": lambda p: {
        "simulation_id": p.simulation_id,
        "scenario_id": SEEDED_SCENARIO,
        "execution_order": 1,
    },
    "outcomes": lambda p: {
        "outcome_id": uuid.uuid4(),
        "simulation_id": p.simulation_id,
        "scenario_id": SEEDED_SCENARIO,
        "execution_time": NOW,
        "status": "success",
        "reliability_score": 0.9,
        "execution_time_ms": 1234.0,
        "tokens_used": 500,
        "cost_usd": 0.01,
        "trajectory": Jsonb({"start_time": NOW.isoformat(), "status": "success"}),
    },
    "failure_patterns": lambda p: {
        "pattern_id": uuid.uuid4(),
        "outcome_id": uuid.uuid4(),
        "execution_time": NOW,
        "failure_type": "ToolTimeoutError",
        "failure_category": "timeout",
    },
    "tool_usage": lambda p: {
        "usage_id": uuid.uuid4(),
        "outcome_id": uuid.uuid4(),
        "execution_time": NOW,
        "tool_name": "web_search",
        "call_count": 2,
        "avg_duration_ms": 120.0,
        "success_rate": 1.0,
    },
    "recommendations": lambda p: {
        "recommendation_id": uuid.uuid4(),
        "source_type": "time_series_analysis",
        "source_id": uuid.uuid4(),
        "recommendation_type": "config_change",
        "description": "Raise the web_search timeout to 8000 ms.",
        "confidence": 0.8,
        "session_id": p.session_id,
        "config_id": p.config_id,
        "base_version_id": p.version_2,
    },
    "llm_recommendation_sessions": lambda p: {
        "session_id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "analysis_start_time": NOW,
        "analysis_end_time": NOW,
        "data_window_start": NOW - timedelta(days=7),
        "data_window_end": NOW,
        "llm_model": "offline-rules",
        "total_outcomes_analyzed": 0,
        "session_status": "requested",
        "prompt_sha256": "b" * 64,
    },
    "audit_log": lambda p: {"log_id": uuid.uuid4(), "table_name": "configurations", "operation": "INSERT"},
    "arc_eval_principals": lambda p: {"role_name": f"probe_{uuid.uuid4().hex[:8]}", "kind": "reader"},
    "ingest_late_hours": lambda p: {
        "source_table": f"{RAW}.outcomes",
        "time_column": "execution_time",
        "kind": "late rows",
        "hour": NOW,
    },
    "ingest_dead_letters": lambda p: {
        "dead_letter_id": uuid.uuid4(),
        "target_table": "outcomes",
        "payload": Jsonb({"status": "weird"}),
        "error_message": "violates check constraint",
    },
}


@dataclass(frozen=True)
class Same:
    """A value copied from another column of the same row."""

    column: str


@dataclass(frozen=True)
class Case:
    """A row of ``table`` that breaks the rule ``rule`` (a constraint name, or a column for NOT NULL)."""

    table: str
    rule: str
    change: dict[str, Any] = field(default_factory=dict)
    duplicate_of: tuple[str, ...] = ()  # UNIQUE / PK: insert a valid row, then one sharing these columns
    deferred: bool = False

    @property
    def id(self) -> str:
        return f"{self.table}:{self.rule}"


def not_null(table: str, *columns: str) -> list[Case]:
    return [Case(table, column, {column: None}) for column in columns]


def fk(table: str, column: str, rule: str, **kw: Any) -> Case:
    return Case(table, rule, {column: uuid.uuid4()}, **kw)


LONG = "x" * 1_048_577
CASES: list[Case] = [
    # 1. configurations
    *not_null("configurations", "name", "user_id"),
    Case("configurations", "configurations_name_check", {"name": "ab"}),
    Case("configurations", "valid_name", {"name": "bad/name!"}),
    Case("configurations", "valid_timestamps", {"created_at": NOW, "updated_at": NOW - timedelta(seconds=1)}),
    fk("configurations", "latest_version_id", "fk_latest_version", deferred=True),
    Case("configurations", "configurations_pkey", duplicate_of=("config_id",)),
    # 2. config_versions
    *not_null("config_versions", "config_id", "version_number", "raw_yaml", "parsed_config", "config_hash"),
    Case("config_versions", "config_versions_version_number_check", {"version_number": 0}),
    Case("config_versions", "config_versions_raw_yaml_check", {"raw_yaml": LONG}),
    Case("config_versions", "config_versions_config_hash_check", {"config_hash": "abc"}),
    Case("config_versions", "config_versions_generated_by_check", {"generated_by": "modal_sandbox"}),
    Case("config_versions", "valid_parsed_config", {"parsed_config": Jsonb({"temperature": 0.2})}),
    Case(
        "config_versions", "valid_parsed_config", {"parsed_config": Jsonb({"model": "m", "temperature": 2.5})}
    ),
    fk("config_versions", "config_id", "config_versions_config_id_fkey"),
    Case("config_versions", "config_versions_pkey", duplicate_of=("version_id",)),
    Case(
        "config_versions",
        "config_versions_config_id_version_number_key",
        duplicate_of=("config_id", "version_number"),
    ),
    # 3. config_diffs
    *not_null("config_diffs", "config_id", "version_before", "version_after", "diff_yaml"),
    Case("config_diffs", "config_diffs_diff_yaml_check", {"diff_yaml": "x" * 524_289}),
    Case("config_diffs", "config_diffs_approval_status_check", {"approval_status": "maybe"}),
    fk("config_diffs", "config_id", "config_diffs_config_id_fkey"),
    fk("config_diffs", "version_before", "config_diffs_version_before_fkey"),
    fk("config_diffs", "version_after", "config_diffs_version_after_fkey"),
    Case("config_diffs", "different_versions", {"version_after": Same("version_before")}),
    Case("config_diffs", "config_diffs_pkey", duplicate_of=("diff_id",)),
    # 4. scenarios
    *not_null("scenarios", "scenario_id", "name", "task_prompt"),
    Case("scenarios", "scenarios_scenario_id_check", {"scenario_id": "s" * 101}),
    Case("scenarios", "scenarios_name_check", {"name": "ab"}),
    Case("scenarios", "scenarios_task_prompt_check", {"task_prompt": "too short"}),
    Case("scenarios", "scenarios_difficulty_level_check", {"difficulty_level": "extreme"}),
    Case("scenarios", "scenarios_tags_check", {"tags": [f"t{i}" for i in range(21)]}),
    Case("scenarios", "scenarios_estimated_duration_ms_check", {"estimated_duration_ms": 0}),
    Case("scenarios", "valid_scenario_id", {"scenario_id": "Bad-Id"}),
    Case("scenarios", "scenarios_pkey", duplicate_of=("scenario_id",)),
    # 5. simulations
    *not_null("simulations", "config_version_id", "scenario_set", "total_scenarios"),
    Case("simulations", "simulations_scenario_set_check", {"scenario_set": []}),
    Case("simulations", "simulations_simulation_name_check", {"simulation_name": "n" * 201}),
    Case("simulations", "simulations_status_check", {"status": "paused"}),
    Case("simulations", "simulations_total_scenarios_check", {"total_scenarios": 0}),
    Case("simulations", "simulations_completed_scenarios_check", {"completed_scenarios": -1}),
    Case("simulations", "simulations_overall_score_check", {"overall_score": 1.5}),
    Case("simulations", "simulations_execution_time_ms_check", {"execution_time_ms": -1}),
    Case("simulations", "simulations_total_cost_usd_check", {"total_cost_usd": -0.01}),
    Case("simulations", "simulations_priority_check", {"priority": 11}),
    fk("simulations", "config_version_id", "simulations_config_version_id_fkey"),
    Case("simulations", "simulations_pkey", duplicate_of=("simulation_id",)),
    Case("simulations", "valid_completion", {"status": "completed"}),
    Case("simulations", "valid_completion", {"status": "failed", "completed_at": NOW}),
    Case("simulations", "completed_scenarios_limit", {"completed_scenarios": 2}),
    Case("simulations", "valid_timestamps", {"started_at": NOW - timedelta(hours=1)}),
    # 6. simulations_scenarios
    *not_null("simulations_scenarios", "simulation_id", "scenario_id", "execution_order"),
    Case("simulations_scenarios", "simulations_scenarios_execution_order_check", {"execution_order": 0}),
    Case("simulations_scenarios", "simulations_scenarios_status_check", {"status": "done"}),
    Case("simulations_scenarios", "simulations_scenarios_retry_count_check", {"retry_count": -1}),
    fk("simulations_scenarios", "simulation_id", "simulations_scenarios_simulation_id_fkey"),
    Case(
        "simulations_scenarios", "simulations_scenarios_scenario_id_fkey", {"scenario_id": "no_such_scenario"}
    ),
    Case("simulations_scenarios", "valid_execution_timestamps", {"completed_at": NOW}),
    Case(
        "simulations_scenarios", "simulations_scenarios_pkey", duplicate_of=("simulation_id", "scenario_id")
    ),
    # 7. outcomes
    *not_null(
        "outcomes",
        "simulation_id",
        "scenario_id",
        "execution_time",
        "status",
        "reliability_score",
        "execution_time_ms",
        "tokens_used",
        "cost_usd",
        "trajectory",
    ),
    Case("outcomes", "outcomes_status_check", {"status": "ok"}),
    Case("outcomes", "outcomes_reliability_score_check", {"reliability_score": 1.01}),
    Case("outcomes", "outcomes_execution_time_ms_check", {"execution_time_ms": -1.0}),
    Case("outcomes", "outcomes_tokens_used_check", {"tokens_used": -1}),
    Case("outcomes", "outcomes_cost_usd_check", {"cost_usd": -0.5}),
    Case("outcomes", "outcomes_retry_count_check", {"retry_count": -1}),
    Case("outcomes", "outcomes_error_category_check", {"error_category": "cosmic_ray"}),
    fk("outcomes", "simulation_id", "outcomes_simulation_id_fkey"),
    Case("outcomes", "outcomes_scenario_id_fkey", {"scenario_id": "no_such_scenario"}),
    Case("outcomes", "valid_trajectory", {"trajectory": Jsonb({"status": "success"})}),
    Case("outcomes", "outcomes_pkey", duplicate_of=("outcome_id", "execution_time")),
    # 8. failure_patterns
    *not_null("failure_patterns", "outcome_id", "execution_time", "failure_type", "failure_category"),
    Case("failure_patterns", "failure_patterns_failure_type_check", {"failure_type": "f" * 101}),
    Case("failure_patterns", "failure_patterns_failure_category_check", {"failure_category": "gremlins"}),
    Case("failure_patterns", "failure_patterns_error_message_check", {"error_message": "e" * 10_001}),
    Case("failure_patterns", "failure_patterns_cluster_confidence_check", {"cluster_confidence": 1.2}),
    Case("failure_patterns", "failure_patterns_similar_failures_count_check", {"similar_failures_count": -1}),
    Case("failure_patterns", "valid_recovery", {"recovery_successful": True, "recovery_attempted": False}),
    Case("failure_patterns", "failure_patterns_pkey", duplicate_of=("pattern_id", "execution_time")),
    # 9. tool_usage
    *not_null(
        "tool_usage",
        "outcome_id",
        "execution_time",
        "tool_name",
        "call_count",
        "avg_duration_ms",
        "success_rate",
    ),
    Case("tool_usage", "tool_usage_tool_name_check", {"tool_name": "t" * 101}),
    Case("tool_usage", "tool_usage_call_count_check", {"call_count": 0}),
    Case("tool_usage", "tool_usage_avg_duration_ms_check", {"avg_duration_ms": -1.0}),
    Case("tool_usage", "tool_usage_success_rate_check", {"success_rate": 1.5}),
    Case("tool_usage", "tool_usage_total_cost_usd_check", {"total_cost_usd": -1.0}),
    Case("tool_usage", "tool_usage_pkey", duplicate_of=("usage_id", "execution_time")),
    # 10. recommendations (seed rules plus the contract's review columns and foreign keys)
    *not_null(
        "recommendations",
        "source_type",
        "source_id",
        "recommendation_type",
        "description",
        "confidence",
        "review_status",
    ),
    Case("recommendations", "recommendations_source_type_check", {"source_type": "gut_feeling"}),
    Case("recommendations", "recommendations_recommendation_type_check", {"recommendation_type": "vibes"}),
    Case("recommendations", "recommendations_description_check", {"description": "too short"}),
    Case("recommendations", "recommendations_confidence_check", {"confidence": 1.1}),
    Case("recommendations", "recommendations_feedback_score_check", {"feedback_score": 6}),
    Case("recommendations", "recommendations_review_reason_check", {"review_reason": "x" * 2001}),
    Case("recommendations", "recommendations_review_status_check", {"review_status": "maybe"}),
    Case("recommendations", "valid_application", {"applied": True}),
    Case("recommendations", "valid_application", {"applied": False, "applied_at": NOW}),
    Case("recommendations", "recommendations_pkey", duplicate_of=("recommendation_id",)),
    fk("recommendations", "session_id", "recommendations_session_id_fkey"),
    fk("recommendations", "config_id", "recommendations_config_id_fkey"),
    fk("recommendations", "base_version_id", "recommendations_base_version_id_fkey"),
    fk("recommendations", "applied_version_id", "recommendations_applied_version_id_fkey"),
    fk("recommendations", "approved_base_version_id", "recommendations_approved_base_version_id_fkey"),
    Case("recommendations", "recommendations_review_reason_check", {"review_reason": "x" * 2001}),
    Case("recommendations", "recommendations_approved_patch_sha256_check", {"approved_patch_sha256": "abc"}),
    Case("recommendations", "recommendations_approved_base_sha256_check", {"approved_base_sha256": "abc"}),
    # 11. llm_recommendation_sessions
    *not_null(
        "llm_recommendation_sessions",
        "user_id",
        "analysis_start_time",
        "analysis_end_time",
        "data_window_start",
        "data_window_end",
        "llm_model",
        "total_outcomes_analyzed",
    ),
    Case(
        "llm_recommendation_sessions",
        "llm_recommendation_sessions_total_outcomes_analyzed_check",
        {"total_outcomes_analyzed": -1},
    ),
    Case(
        "llm_recommendation_sessions",
        "llm_recommendation_sessions_analysis_cost_usd_check",
        {"analysis_cost_usd": -1.0},
    ),
    Case(
        "llm_recommendation_sessions",
        "llm_recommendation_sessions_session_status_check",
        {"session_status": "done"},
    ),
    Case(
        "llm_recommendation_sessions",
        "llm_recommendation_sessions_prompt_sha256_check",
        {"prompt_sha256": "abc"},
    ),
    Case(
        "llm_recommendation_sessions",
        "valid_analysis_window",
        {"analysis_end_time": NOW - timedelta(seconds=1)},
    ),
    Case("llm_recommendation_sessions", "valid_data_window", {"data_window_start": NOW + timedelta(days=1)}),
    Case("llm_recommendation_sessions", "llm_recommendation_sessions_pkey", duplicate_of=("session_id",)),
    # 12. audit_log
    *not_null("audit_log", "table_name", "operation"),
    Case("audit_log", "audit_log_operation_check", {"operation": "TRUNCATE"}),
    Case("audit_log", "audit_log_pkey", duplicate_of=("log_id",)),
    # contract: ingest_dead_letters
    *not_null("ingest_dead_letters", "target_table", "payload", "error_message", "failed_at"),
    Case("ingest_dead_letters", "ingest_dead_letters_pkey", duplicate_of=("dead_letter_id",)),
    # contract: arc_eval_principals (docs/security.md)
    Case("arc_eval_principals", "arc_eval_principals_pkey", duplicate_of=("role_name",)),
    Case("arc_eval_principals", "arc_eval_principals_kind_check", {"kind": "admin"}),
    Case("arc_eval_principals", "arc_eval_principals_user_check", {"kind": "writer"}),
    # contract: ingest_late_hours (the rollups' ingest log)
    *not_null("ingest_late_hours", "source_table", "time_column", "kind", "created_at"),
    Case("ingest_late_hours", "ingest_late_hours_kind_check", {"kind": "early rows"}),
]


@pytest.fixture(scope="module")
def conn(warehouse: Target) -> Iterator[psycopg.Connection]:
    with psycopg.connect(warehouse.conninfo, autocommit=True) as connection:
        yield connection


def resolve(change: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[v.column] if isinstance(v, Same) else v for k, v in change.items()}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_violating_row_is_refused_naming_the_rule(conn: psycopg.Connection, case: Case) -> None:
    with conn.transaction(force_rollback=True):
        parents = make_parents(conn)
        row = VALID[case.table](parents)
        if case.duplicate_of:
            insert(conn, case.table, row)
            fresh = VALID[case.table](parents)
            row = {**fresh, **{k: row[k] for k in case.duplicate_of}}
        row = {**row, **resolve(case.change, row)}
        with pytest.raises(errors.IntegrityError) as raised, conn.transaction():
            insert(conn, case.table, row)
            if case.deferred:
                conn.execute("set constraints all immediate")
    error = raised.value
    if case.rule in row and case.change.get(case.rule, 0) is None:
        assert isinstance(error, errors.NotNullViolation), error
        # TimescaleDB raises its own error for the time column: the message names it, diag may not.
        assert error.diag.column_name in (case.rule, None)
        assert f'"{case.rule}"' in str(error)
    else:
        # On a hypertable the chunk's copy of the constraint reports as "<chunk ids>_<name>".
        assert re.fullmatch(rf"(\d+_\d+_)?{case.rule}", error.diag.constraint_name or ""), str(error)
        assert case.rule in str(error)


def test_every_constraint_of_the_raw_schema_has_a_case(conn: psycopg.Connection) -> None:
    """No rule goes untested: each CHECK/FK/UNIQUE/PK constraint in the schema is named by a case."""
    rows = conn.execute(
        """
        select c.relname, con.conname from pg_constraint con
        join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and con.contype in ('c', 'f', 'u', 'p')
        """,
        [RAW],
    ).fetchall()
    tested = {(c.table, c.rule) for c in CASES}
    assert sorted(set(rows) - tested) == []


@pytest.mark.parametrize("table", sorted(VALID))
def test_valid_row_is_accepted(conn: psycopg.Connection, table: str) -> None:
    with conn.transaction(force_rollback=True):
        parents = make_parents(conn)
        insert(conn, table, VALID[table](parents))
        conn.execute("set constraints all immediate")
        (count,) = conn.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier(RAW, table))
        ).fetchone()
        assert count >= 1
