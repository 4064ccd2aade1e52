"""The dbt models return what the seed's own SQL (its defects fixed) returns over the same raw rows.

One database per module: raw schema, a deterministic history (plain SQL inserts), then `dbt build`
(which also runs every schema test, unit test and singular test of the project).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from arc_eval import dbt
from arc_eval.connection import Target
from models_helpers import assert_same_rows, load_history
from models_seed_views import SEED_SQL

pytestmark = pytest.mark.slow

# Model columns compared with the seed's columns, in the seed's order.
MODEL_COLUMNS = {
    "v_llm_config_performance": "config_id, version_number, parsed_config, day, total_executions, avg_reliability,"
    " avg_execution_time, daily_cost, error_count",
    "v_dashboard_active_simulations": "simulation_id, simulation_name, status, completed_scenarios, total_scenarios,"
    " progress_pct, runtime_seconds, modal_app_id, model_name, outcomes_recorded",
    "v_dashboard_pending_recommendations": "recommendation_id, recommendation_type, description, confidence,"
    " impact_estimate, suggested_yaml_changes, generated_by_model, data_window_start, data_window_end, created_at",
}


@pytest.fixture(scope="module")
def built(make_database: Callable[[str], Target]) -> Target:
    target = make_database("models")
    dbt.init_warehouse(target)
    counts = load_history(target.conninfo)
    assert counts["outcomes"] > 100
    dbt.run(["build"], target, quiet=True)
    return target


def _rows(conn: psycopg.Connection, sql: str) -> list[tuple]:
    return conn.execute(sql).fetchall()


@pytest.mark.parametrize("name", sorted(SEED_SQL))
def test_model_returns_the_seed_views_rows(built: Target, name: str) -> None:
    with psycopg.connect(built.conninfo) as conn:
        conn.execute("set time zone 'UTC'")
        cursor = conn.execute(SEED_SQL[name].format(raw=dbt.raw_schema()))
        seed_rows = cursor.fetchall()
        columns = MODEL_COLUMNS.get(name) or ", ".join(d.name for d in cursor.description)
        model_rows = _rows(conn, f"select {columns} from {dbt.analytics_schema()}.{name}")
    if name == "v_llm_failure_analysis":  # the model keeps the first var('llm_sample_errors') = 5 messages
        seed_rows = [(*r[:4], None if r[4] is None else r[4][:5], r[5]) for r in seed_rows]
    assert seed_rows, f"the test history should give {name} some rows"
    # runtime_seconds moves with now(): both queries ran within the same few seconds.
    assert_same_rows(
        model_rows, seed_rows, rel=1e-5, abs_tol=5.0 if name.endswith("simulations") else 1e-9, label=name
    )


def test_views_see_new_rows_without_a_rebuild(built: Target) -> None:
    """Dashboard and LLM models are views: a new outcome shows up at once."""
    schema = dbt.analytics_schema()
    with psycopg.connect(built.conninfo) as conn:
        before = conn.execute(
            f"select coalesce(sum(total_executions), 0) from {schema}.v_dashboard_performance_trends"
        ).fetchone()[0]
        sim, scenario = conn.execute(
            f"select simulation_id, scenario_id from {dbt.raw_schema()}.outcomes limit 1"
        ).fetchone()
        conn.execute(
            f"insert into {dbt.raw_schema()}.outcomes (simulation_id, scenario_id, execution_time, status,"
            " reliability_score, execution_time_ms, tokens_used, cost_usd, trajectory) values"
            " (%s, %s, now() - interval '1 hour', 'success', 1, 10, 10, 0, '{\"start_time\": 0, \"status\": 1}')",
            (sim, scenario),
        )
        after = conn.execute(
            f"select sum(total_executions) from {schema}.v_dashboard_performance_trends"
        ).fetchone()[0]
        conn.rollback()
    assert after == before + 1
