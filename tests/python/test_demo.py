"""`arc-eval demo` end to end on a fresh database of the server under test.

Without ``ARC_EVAL_TEST_DSN`` that server is the embedded PostgreSQL + pgvector; in CI it is TimescaleDB.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from arc_eval import dbt
from arc_eval.connection import Target
from arc_eval.demo import LOOP_RUNS, DemoResult, run_demo, simulate

pytestmark = pytest.mark.slow

SIMULATIONS = 15
MODELS_WITH_ROWS = (
    "stg_scenarios",
    "stg_configurations",
    "stg_config_versions",
    "stg_config_diffs",
    "stg_simulations",
    "stg_simulations_scenarios",
    "stg_outcomes",
    "stg_tool_usage",
    "stg_failure_patterns",
    "stg_llm_recommendation_sessions",
    "stg_recommendations",
    "simulation_performance_hourly",
    "failure_trends_daily",
    "tool_performance_daily",
    "v_llm_failure_analysis",
    "v_llm_config_performance",
    "v_llm_scenario_trends",
    "failure_clusters",
    "config_version_performance",
    "config_version_comparison",
    "scenario_tool_coverage",
    "v_dashboard_performance_trends",
    "v_dashboard_cost_analysis",
    "v_dashboard_pending_recommendations",
    "recommendation_impact_ledger",
    "recommender_calibration",
)


@pytest.fixture(scope="module")
def demo(
    make_database: Callable[[str], Target], tmp_path_factory: pytest.TempPathFactory
) -> tuple[DemoResult, str]:
    target = make_database("demo")
    out = io.StringIO()
    html_path = tmp_path_factory.mktemp("demo") / "dashboard.html"
    result = run_demo(target, seed=3, simulations=SIMULATIONS, html_path=html_path, provider="rules", out=out)
    return result, out.getvalue()


def count(target: Target, model: str) -> int:
    query = sql.SQL("select count(*) from {}.{}").format(
        sql.Identifier(dbt.analytics_schema()), sql.Identifier(model)
    )
    with psycopg.connect(target.conninfo) as conn:
        return conn.execute(query).fetchone()[0]


def test_counts(demo: tuple[DemoResult, str]) -> None:
    result, _ = demo
    target = result.target
    assert count(target, "stg_configurations") == 3
    assert 9 <= count(target, "stg_config_versions") <= 12
    assert result.applied is not None and result.applied.written["simulations"] == LOOP_RUNS
    assert count(target, "stg_simulations") == SIMULATIONS + LOOP_RUNS
    assert result.written["simulations"] == SIMULATIONS
    for kind in ("configurations", "config_versions", "outcomes", "tool_usage", "failure_patterns"):
        assert result.written[kind] > 0
    loop = result.applied.written
    assert count(target, "stg_outcomes") == result.written["outcomes"] + loop["outcomes"]
    assert count(target, "stg_tool_usage") == result.written["tool_usage"] + loop["tool_usage"]
    assert (
        count(target, "stg_failure_patterns") == result.written["failure_patterns"] + loop["failure_patterns"]
    )
    assert count(target, "stg_ingest_dead_letters") == 0
    assert result.recommendations >= 1
    assert count(target, "stg_recommendations") >= 1


def test_every_stage_produced_rows(demo: tuple[DemoResult, str]) -> None:
    result, _ = demo
    empty = [m for m in MODELS_WITH_ROWS if count(result.target, m) == 0]
    assert empty == []


def test_report_shows_every_section(demo: tuple[DemoResult, str]) -> None:
    result, printed = demo
    for heading in (
        "== Simulations",
        "== Reliability and cost per config version",
        "failure clusters (failure_clusters)",
        "== Version comparison",
        "== Impact ledger: predicted vs realised",
        "== Recommender calibration",
        "== Pending recommendations",
    ):
        assert heading in printed
        assert heading in result.report
    assert f"{SIMULATIONS} simulations" in printed
    for row in result.data["config_version_performance"]:
        assert row["config_name"] in printed
    pending = result.data["v_dashboard_pending_recommendations"]
    assert pending
    for row in pending:
        first_patch_line = row["suggested_yaml_changes"].strip().splitlines()[0]
        assert first_patch_line in printed
    for stage in (
        "database",
        "init warehouse",
        "simulate",
        "dbt build",
        "recommend",
        "review: approve and apply the top recommendation",
        "simulate version",
        "dbt build (impact ledger)",
        "report",
        "dashboard",
    ):
        assert any(line.split("] ", 1)[-1].startswith(stage) for line in printed.splitlines()), stage
    assert f"dashboard: {result.html_path}" in printed


def test_the_demo_closes_the_loop(demo: tuple[DemoResult, str]) -> None:
    result, printed = demo
    applied = result.applied
    [row] = [r for r in result.data["recommendation_impact_ledger"]]
    rec = applied.recommendation
    assert (
        row["recommendation_id"] == rec["recommendation_id"]
        and row["applied_version_id"] == applied.version_id
    )
    assert row["base_version_id"] == rec["base_version_id"] and row["expected_delta"] is not None
    assert row["state"] == "measured" and row["metric_pairs"] >= 6 and row["realised_delta"] is not None
    assert row["prediction"] in ("confirmed", "contradicted", "not significant")
    ledger = printed.split("== Impact ledger", 1)[1].split("\n\n", 1)[0]
    assert (
        rec["config_name"] in ledger
        and row["prediction"] in ledger
        and f"{row['expected_delta']:+.4g}" in ledger
    )
    assert f"{row['realised_delta']:+.4g}" in ledger


class Sections(HTMLParser):
    """Counts chart containers per section of the snapshot."""

    def __init__(self) -> None:
        super().__init__()
        self.current: str | None = None
        self.charts: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section":
            self.current = attributes.get("id")
            self.charts[self.current] = 0
        elif tag == "div" and "data-figure" in attributes and self.current:
            self.charts[self.current] += 1


def test_dashboard_snapshot_has_every_page_and_the_diffs(demo: tuple[DemoResult, str]) -> None:
    result, printed = demo
    document = Path(result.html_path).read_text()
    parser = Sections()
    parser.feed(document)
    assert parser.charts["overview"] == 5
    assert parser.charts["clusters"] == 1
    for section in ("configs", "matrix", "recommendations"):
        assert section in parser.charts, section
    assert '<pre class="diff">' in document
    assert '<span class="add">' in document
    head = document.split("<main>", 1)[0]
    assert "<script src=" not in head and "<link" not in head  # every script and style inline
    assert "arc-eval serve" in printed


def test_simulating_the_same_seed_again_adds_nothing(demo: tuple[DemoResult, str]) -> None:
    result, _ = demo
    before = {m: count(result.target, m) for m in ("stg_config_versions", "stg_simulations", "stg_outcomes")}
    again = simulate(result.target, seed=3, simulations=SIMULATIONS)
    assert again["skipped_simulations"] == SIMULATIONS
    assert again["outcomes"] == again["config_versions"] == 0
    with psycopg.connect(result.target.conninfo) as conn:
        for model in before:
            query = sql.SQL("select count(*) from {}.{}").format(
                sql.Identifier(dbt.raw_schema()), sql.Identifier(model.removeprefix("stg_"))
            )
            assert conn.execute(query).fetchone()[0] == before[model]


def test_a_second_demo_with_another_seed_adds_its_history(
    demo: tuple[DemoResult, str], tmp_path: Path
) -> None:
    result, _ = demo
    out = io.StringIO()
    second = run_demo(
        result.target, seed=4, simulations=6, html_path=tmp_path / "d.html", provider="rules", out=out
    )
    assert second.written["simulations"] == 6
    assert second.written["config_versions"] == 0  # same configurations and versions, found by content
    assert count(result.target, "stg_simulations") == SIMULATIONS + 6 + LOOP_RUNS + (
        second.applied.written["simulations"] if second.applied else 0
    )
    assert count(result.target, "stg_configurations") == 3
    assert "== Pending recommendations" in out.getvalue()
