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
from arc_eval.demo import DemoResult, run_demo

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
    assert count(target, "stg_simulations") == SIMULATIONS
    assert result.written["simulations"] == SIMULATIONS
    for kind in ("configurations", "config_versions", "outcomes", "tool_usage", "failure_patterns"):
        assert result.written[kind] > 0
    assert count(target, "stg_outcomes") == result.written["outcomes"]
    assert count(target, "stg_tool_usage") == result.written["tool_usage"]
    assert count(target, "stg_failure_patterns") == result.written["failure_patterns"]
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
    for stage in ("database", "init warehouse", "simulate", "dbt build", "recommend", "report", "dashboard"):
        assert any(line.split("] ", 1)[-1].startswith(stage) for line in printed.splitlines()), stage
    assert f"dashboard: {result.html_path}" in printed


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
    head = document.split("<main>", 1)[0]
    assert "<script src=" not in head and "<link" not in head  # every script and style inline
    assert "arc-eval serve" in printed
