"""The impact ledger and the version comparison on a real PostgreSQL, built by dbt.

- Soft-deleted versions are skipped: with v1, a deleted v2 and v3, v3 is compared with v1 and no row of
  config_version_comparison or of the ledger names v2.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Callable

import psycopg
import pytest
from psycopg.rows import dict_row

from arc_eval import dbt
from arc_eval.connection import Target
from models_helpers import (
    USER_ID,
    copy_rows,
    create_configuration,
    create_simulation,
    outcome_row,
    scenario_ids,
)

pytestmark = pytest.mark.slow


def _raw(name: str) -> str:
    return f'"{dbt.raw_schema()}".{name}'


def _model(name: str) -> str:
    return f'"{dbt.analytics_schema()}".{name}'


def _run_version(
    conn: psycopg.Connection,
    rng: random.Random,
    version_id: uuid.UUID,
    scenarios: list[str],
    at: dt.datetime,
    reliability: float,
) -> None:
    sim = create_simulation(conn, rng, version_id, scenarios, status="completed", created=at)
    copy_rows(
        conn,
        "outcomes",
        [
            outcome_row(rng, sim, s, at + dt.timedelta(minutes=i), status="success", reliability=reliability)
            for i, s in enumerate(scenarios)
        ],
    )


def test_comparison_and_ledger_skip_soft_deleted_versions(make_database: Callable[[str], Target]) -> None:
    target = make_database("softdel")
    dbt.init_warehouse(target)
    rng = random.Random(11)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    created = now - dt.timedelta(days=5)
    with psycopg.connect(target.conninfo) as conn:
        scenarios = scenario_ids(conn)[:6]
        specs = [{"model": "gpt-4o-mini", "temperature": t} for t in (0.2, 0.9, 0.4)]
        v1, v2, v3 = create_configuration(conn, rng, "soft-deleted", specs, created)
        _run_version(conn, rng, v1, scenarios, now - dt.timedelta(days=4), 0.5)
        _run_version(conn, rng, v2, scenarios, now - dt.timedelta(days=3), 0.9)
        _run_version(conn, rng, v3, scenarios, now - dt.timedelta(days=1), 0.75)
        conn.execute(f"update {_raw('config_versions')} set is_deleted = true where version_id = %s", (v2,))
        config_id = conn.execute(
            f"select config_id from {_raw('config_versions')} where version_id = %s", (v1,)
        ).fetchone()[0]
        session_id = uuid.uuid4()
        conn.execute(
            f"insert into {_raw('llm_recommendation_sessions')} (session_id, user_id, analysis_start_time,"
            " analysis_end_time, data_window_start, data_window_end, llm_model, total_outcomes_analyzed, provider)"
            " values (%s, %s, %s, %s, %s, %s, 'm', 0, 'openai')",
            (session_id, USER_ID, now, now, now - dt.timedelta(days=7), now),
        )
        rec_id = uuid.uuid4()
        conn.execute(
            f"insert into {_raw('recommendations')} (recommendation_id, source_type, source_id,"
            " recommendation_type, description, impact_estimate, confidence, llm_model_used, session_id, config_id,"
            " base_version_id, review_status, applied, applied_at, applied_version_id)"
            " values (%s, 'time_series_analysis', %s, 'config_change', 'lower the temperature again', %s, 0.8,"
            " 'm', %s, %s, %s, 'approved', true, %s, %s)",
            (
                rec_id,
                v2,
                json.dumps({"metric": "avg_reliability", "expected_delta": 0.2, "basis": "test"}),
                session_id,
                config_id,
                v2,
                now - dt.timedelta(days=2),
                v3,
            ),
        )
    dbt.run(["run", "--select", "+config_version_comparison", "+recommender_calibration"], target, quiet=True)
    with psycopg.connect(target.conninfo, row_factory=dict_row) as conn:
        comparison = conn.execute(
            f"select * from {_model('config_version_comparison')} where config_id = %s", (config_id,)
        ).fetchall()
        ledger = conn.execute(f"select * from {_model('recommendation_impact_ledger')}").fetchall()
        calibration = conn.execute(f"select * from {_model('recommender_calibration')}").fetchall()
    assert [(r["version_id"], r["previous_version_id"]) for r in comparison] == [(v3, v1)]
    assert comparison[0]["paired_scenarios"] == 6 and comparison[0]["reliability_delta"] == pytest.approx(
        0.25
    )
    [row] = ledger
    assert (row["recommendation_id"], row["base_version_id"], row["applied_version_id"]) == (rec_id, v1, v3)
    assert (row["base_version_number"], row["applied_version_number"]) == (1, 3)
    assert row["state"] == "measured" and row["metric_pairs"] == 6
    assert row["realised_delta"] == pytest.approx(0.25) and row["prediction"] == "confirmed"
    assert row["verdict"] == "improvement" and row["sign_correct"]
    assert row["absolute_error"] == pytest.approx(0.05)
    for r in [*comparison, *ledger]:
        assert v2 not in r.values()
    [cal] = calibration
    assert (cal["provider"], cal["llm_model"], cal["recommendation_type"]) == ("openai", "m", "config_change")
    assert cal["sign_right"] == 1 and cal["sign_accuracy"] == 1.0
