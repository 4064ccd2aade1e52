"""The impact ledger and the version comparison on a real PostgreSQL, built by dbt.

- Soft-deleted versions are skipped: with v1, a deleted v2 and v3, v3 is compared with v1 and no row of
  config_version_comparison or of the ledger names v2.
- The loop closed: recommendations from an OpenAI-compatible server (the fake, over real HTTP) predict
  effects that are right for some and wrong for others; after apply and runs of the new versions, the
  ledger classifies each, calibration counts them, ``recommendations show`` prints both, and the next
  prompt carries the ledger.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Callable

import psycopg
import pytest
import yaml
from psycopg.rows import dict_row

from arc_eval import cli, dbt
from arc_eval.client import ArcEval
from arc_eval.connection import Target
from arc_eval.recommend import engine, review
from fake_llm import FakeLLM, recommendations_reply
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


# ---------------------------------------------------------------------------------------------------------
# The loop closed: an OpenAI-compatible provider (the fake, over real HTTP) predicts; apply; runs; ledger.

SCENARIOS = 8


def _yaml(**overrides: object) -> str:
    config = {
        "model": "gpt-4o",
        "temperature": 0.9,
        "tools": ["kb_search"],
        "timeout_ms": 120000,
        **overrides,
    }
    return yaml.safe_dump(config, sort_keys=False)


def _play(
    db: ArcEval,
    version_id: uuid.UUID,
    scenarios: list[str],
    start: dt.datetime,
    outcome: Callable[[int, int], tuple[str, float, float]],
    runs: int = 2,
) -> None:
    """``runs`` runs of each scenario; ``outcome(scenario index, run)`` gives (status, reliability, cost)."""
    sim = db.start_simulation(version_id, scenarios, "ledger test", started_at=start)
    for run in range(runs):
        for i, scenario in enumerate(scenarios):
            at = start + dt.timedelta(seconds=1 + run * len(scenarios) + i)
            status, reliability, cost = outcome(i, run)
            db.record_outcome(
                simulation_id=sim,
                scenario_id=scenario,
                status=status,
                reliability_score=reliability,
                execution_time_ms=1000.0,
                tokens_used=500,
                cost_usd=cost,
                trajectory={"start_time": at.isoformat(), "status": status},
                execution_time=at,
            )
    db.flush()
    db.finish_simulation(sim, "completed", completed_at=start + dt.timedelta(minutes=5))


def test_the_ledger_classifies_right_and_wrong_predictions(
    make_database: Callable[[str], Target],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path,
) -> None:
    target = make_database("loop")
    # This team lets recommendations change the model (the default allow-list does not): its own policy.
    from importlib import resources

    shipped = resources.files("arc_eval.recommend").joinpath("patch_policy.yml").read_text("utf-8")
    policy = tmp_path / "policy.yml"
    policy.write_text(
        shipped.replace("rules:\n", "rules:\n  - {path: model, type: string, max_length: 100}\n", 1)
    )
    monkeypatch.setenv("ARC_EVAL_PATCH_POLICY", str(policy))
    dbt.init_warehouse(target)
    past = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=2)
    with psycopg.connect(target.conninfo) as conn:
        scenarios = scenario_ids(conn)[:SCENARIOS]
    owner = uuid.UUID("33333333-3333-4333-8333-333333333333")
    base: dict[str, uuid.UUID] = {}
    configs: dict[str, uuid.UUID] = {}
    with ArcEval(target.conninfo, flush_interval=None, pool_min=1, pool_max=2) as db:
        for name in ("warm-bot", "pricey-bot", "slow-bot", "quiet-bot"):
            configs[name] = db.create_configuration(name, owner)
            base[name] = db.create_config_version(configs[name], _yaml(), user_id=owner).version_id
            slow = name == "slow-bot"
            _play(
                db,
                base[name],
                scenarios,
                past,
                lambda i, run, slow=slow: (
                    ("timeout", 0.2, 0.01) if slow and run == 0 else ("success", 0.6, 0.01)
                ),
            )
    dbt.run(["run"], target, quiet=True)

    def item(name: str, rec_type: str, patch: str, metric: str, delta: float, confidence: float) -> dict:
        return {
            "config_id": str(configs[name]),
            "recommendation_type": rec_type,
            "source_type": "time_series_analysis",
            "source_id": str(base[name]),
            "description": f"{name}: change {patch.strip()} to move {metric}",
            "suggested_yaml_changes": patch,
            "impact_estimate": {"metric": metric, "expected_delta": delta, "basis": "test"},
            "confidence": confidence,
        }

    items = [
        item("warm-bot", "config_change", "temperature: 0.3\n", "avg_reliability", 0.2, 0.9),  # right
        item("pricey-bot", "config_change", "model: gpt-4o-mini\n", "avg_cost_usd", -0.005, 0.4),  # wrong
        item("slow-bot", "performance_tuning", "timeout_ms: 180000\n", "timeout_rate", -0.25, 0.7),  # right
        item("quiet-bot", "config_change", "temperature: 0.5\n", "avg_reliability", 0.1, 0.6),  # too few runs
    ]
    monkeypatch.setenv("ARC_EVAL_DSN", target.conninfo)
    monkeypatch.setenv("ARC_EVAL_LLM_API_KEY", "sk-ledger-test")
    monkeypatch.setenv("ARC_EVAL_LLM_MODEL", "gpt-4o-mini")
    with FakeLLM([recommendations_reply(items)]) as fake:
        monkeypatch.setenv("ARC_EVAL_LLM_BASE_URL", fake.base_url)
        with psycopg.connect(target.conninfo) as conn:
            result = engine.recommend(conn, provider="openai", user_id=owner)
    assert result.status == "completed" and len(result.recommendation_ids) == 4, result.dropped
    rec_of = {
        c.config_id: rec_id for c, rec_id in zip(result.candidates, result.recommendation_ids, strict=True)
    }
    with psycopg.connect(target.conninfo) as conn:
        for rec_id in result.recommendation_ids:
            assert review.approve(conn, rec_id, owner).changed
            assert review.apply(conn, rec_id, owner).created
        new = {
            name: review.get_recommendation(conn, rec_of[str(configs[name])])["applied_version_id"]
            for name in configs
        }
    after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    with ArcEval(target.conninfo, flush_interval=None, pool_min=1, pool_max=2) as db:
        _play(db, new["warm-bot"], scenarios, after, lambda i, run: ("success", 0.8 + 0.01 * i, 0.01))
        _play(db, new["pricey-bot"], scenarios, after, lambda i, run: ("success", 0.6, 0.03))
        _play(db, new["slow-bot"], scenarios, after, lambda i, run: ("success", 0.6, 0.01))
        _play(db, new["quiet-bot"], scenarios[:2], after, lambda i, run: ("success", 0.9, 0.01))
    dbt.run(["run"], target, quiet=True)

    with psycopg.connect(target.conninfo, row_factory=dict_row) as conn:
        ledger = {
            r["config_name"]: r
            for r in conn.execute(f"select * from {_model('recommendation_impact_ledger')}")
        }
        calibration = {
            r["recommendation_type"]: r
            for r in conn.execute(f"select * from {_model('recommender_calibration')}")
        }
    warm, pricey, slow, quiet = (ledger[n] for n in ("warm-bot", "pricey-bot", "slow-bot", "quiet-bot"))
    assert (warm["state"], warm["verdict"], warm["prediction"], warm["sign_correct"]) == (
        "measured",
        "improvement",
        "confirmed",
        True,
    )
    assert warm["metric_pairs"] == SCENARIOS and warm["realised_delta"] == pytest.approx(0.235, abs=1e-6)
    assert warm["ci_low"] == pytest.approx(0.2) and warm["ci_high"] == pytest.approx(0.27)
    assert warm["absolute_error"] == pytest.approx(0.035, abs=1e-6) and warm["p_value"] == pytest.approx(
        2 / 2**8
    )
    assert (pricey["verdict"], pricey["prediction"], pricey["sign_correct"]) == (
        "regression",
        "contradicted",
        False,
    )
    assert pricey["realised_delta"] == pytest.approx(0.02) and pricey[
        "cost_per_run_delta_usd"
    ] == pytest.approx(0.02)
    assert (slow["verdict"], slow["prediction"], slow["sign_correct"]) == ("improvement", "confirmed", True)
    assert slow["realised_delta"] == pytest.approx(-0.5) and slow["success_rate_delta"] == pytest.approx(0.5)
    assert (quiet["state"], quiet["metric_pairs"], quiet["prediction"]) == ("awaiting data", 2, None)
    assert {r["provider"] for r in ledger.values()} == {"openai"}

    changes = calibration["config_change"]
    assert (changes["provider"], changes["llm_model"]) == ("openai", "gpt-4o-mini")
    assert (changes["applied"], changes["measured"], changes["awaiting_data"]) == (3, 2, 1)
    assert (
        changes["sign_right"],
        changes["sign_accuracy"],
        changes["confirmed"],
        changes["contradicted"],
    ) == (
        1,
        0.5,
        1,
        1,
    )
    assert changes["confidence_tracks_accuracy"] is True
    assert calibration["performance_tuning"]["sign_accuracy"] == 1.0

    assert cli.main(["recommendations", "show", str(rec_of[str(configs["warm-bot"])])]) == 0
    shown = capsys.readouterr().out
    assert "predicted: avg_reliability +0.2" in shown
    assert "realised: avg_reliability +0.235 [+0.2, +0.27] (v2 vs v1, 8 paired scenarios" in shown
    assert "improvement, prediction confirmed" in shown
    assert cli.main(["recommendations", "show", str(rec_of[str(configs["quiet-bot"])])]) == 0
    assert "realised: awaiting data (v2 vs v1: 2 paired scenarios so far" in capsys.readouterr().out

    # The next analysis sees which of its recommendations worked.
    with FakeLLM([recommendations_reply([])]) as fake:
        monkeypatch.setenv("ARC_EVAL_LLM_BASE_URL", fake.base_url)
        with psycopg.connect(target.conninfo) as conn:
            engine.recommend(conn, provider="openai", user_id=owner)
        prompt = fake.requests[0].body["messages"][1]["content"]
    assert '"impact_ledger":[' in prompt and '"prediction":"contradicted"' in prompt
    assert str(rec_of[str(configs["pricey-bot"])]) in prompt and '"calibration":[' in prompt
