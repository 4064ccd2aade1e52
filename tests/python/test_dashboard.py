"""The HTML dashboard renderer, over plain rows shaped like the dbt models."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from arc_eval import dashboard

VOID = {
    "meta",
    "link",
    "br",
    "img",
    "input",
    "hr",
    "col",
    "area",
    "base",
    "wbr",
    "source",
    "track",
    "embed",
    "param",
}
# Elements that the SVG and HTML here close with "/>".
SELF_CLOSING_OK = {"rect", "line", "circle", "polyline", "path"}

DIFF = "--- current\n+++ patched\n@@ -1,2 +1,2 @@\n model: gpt-4o\n-temperature: 0.9\n+temperature: 0.3\n"


class Tree(HTMLParser):
    """Checks that every element is closed in order; collects ids and the sections' tags."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self.section: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.section = attrs.get("id")
            self.sections[self.section] = []
        if self.section:
            self.sections[self.section].append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        if tag not in VOID and tag not in SELF_CLOSING_OK:
            self.errors.append(f"unexpected self-closing <{tag}/>")
        if self.section:
            self.sections[self.section].append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag == "section":
            self.section = None

    def handle_data(self, data):
        self.text.append(data)


def parse(document: str) -> Tree:
    tree = Tree()
    tree.feed(document)
    tree.close()
    assert tree.errors == []
    assert tree.stack == []
    return tree


def sample_data() -> dict[str, list[dict]]:
    start = date(2026, 6, 1)
    days = [start + timedelta(days=i) for i in range(10)]
    cid = "11111111-1111-4111-8111-111111111111"
    return {
        "config_version_performance": [
            {
                "config_id": cid,
                "config_name": "support-agent",
                "version_id": f"v{n}",
                "version_number": n,
                "model": "gpt-4o-mini",
                "temperature": 0.3 * n,
                "executions": 40,
                "avg_reliability": 0.8 - 0.1 * n,
                "success_rate": 0.9,
                "total_cost_usd": 1.2,
                "avg_cost_usd": 0.03,
                "avg_execution_time_ms": 12000.0,
                "error_count": 3,
                "timeout_count": 1,
                "first_execution": datetime(2026, 6, 1 + 4 * (n - 1), tzinfo=timezone.utc),
            }
            for n in (1, 2)
        ],
        "v_llm_config_performance": [
            {"config_id": cid, "version_number": 1, "day": d, "total_executions": 8, "avg_reliability": 0.7}
            for d in days
        ],
        "v_dashboard_performance_trends": [
            {
                "day": d,
                "total_executions": 10,
                "avg_reliability": 0.7,
                "error_count": i % 3,
                "timeout_count": 1,
            }
            for i, d in enumerate(days)
        ],
        "v_dashboard_cost_analysis": [
            {"day": d, "model": m, "total_cost": 0.5 + i * 0.1}
            for i, d in enumerate(days)
            for m in ("gpt-4o", "gpt-4o-mini")
        ],
        "failure_trends_daily": [
            {"day": d, "failure_category": c, "failure_count": 2}
            for d in days
            for c in ("timeout", "tool_error")
        ],
        "tool_performance_daily": [
            {"day": d, "tool_name": "web_search", "avg_success_rate": 0.95 - 0.05 * i, "usage_count": 5}
            for i, d in enumerate(days)
        ],
        "config_version_comparison": [
            {
                "config_name": "support-agent",
                "version_number": 2,
                "previous_version_number": 1,
                "paired_scenarios": 10,
                "reliability_delta": -0.1,
                "verdict": "regression",
                "p_value": 0.02,
                "test_name": "sign test",
            }
        ],
        "failure_clusters": [
            {
                "failure_category": "tool_error",
                "failure_count": 12,
                "sample_error_message": "ToolError: <b>x</b>",
            }
        ],
        "v_dashboard_pending_recommendations": [
            {
                "recommendation_type": "config_change",
                "config_name": "support-agent",
                "description": "Lower the temperature back to 0.3",
                "confidence": 0.82,
                "suggested_yaml_changes": "temperature: 0.3\n",
                "diff": DIFF,
            }
        ],
    }


@pytest.fixture(scope="module")
def document() -> str:
    return dashboard.render(sample_data(), subtitle="test")


def test_well_formed_with_one_svg_per_chart_section(document: str) -> None:
    tree = parse(document)
    for section_id in dashboard.chart_section_ids():
        assert tree.sections[section_id].count("svg") == 1, section_id


def test_recommendation_diff_is_shown_line_by_line(document: str) -> None:
    tree = parse(document)
    assert "recommendations" in tree.sections
    assert '<span class="del">-temperature: 0.9</span>' in document
    assert '<span class="add">+temperature: 0.3</span>' in document
    assert "Lower the temperature back to 0.3" in "".join(tree.text)


def test_self_contained(document: str) -> None:
    assert "<script" not in document
    assert "http://" not in document.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in document


def test_text_from_data_is_escaped(document: str) -> None:
    assert "ToolError: &lt;b&gt;x&lt;/b&gt;" in document
    assert "<b>x</b>" not in document


def test_empty_models_give_a_well_formed_page_without_charts() -> None:
    tree = parse(dashboard.render({}))
    for section_id in dashboard.chart_section_ids():
        assert "svg" not in tree.sections[section_id]
    assert "No pending recommendations." in dashboard.render({})


def test_line_chart_plots_every_point_inside_the_plot() -> None:
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(5)]
    svg = dashboard.line_chart("t", {"a": [(d, 0.5) for d in days], "b": [(days[0], 2.0)]}, y_max=1.0)
    assert svg.count("<circle") == 6
    parse(svg)
    assert dashboard._nice_max(0.36) == pytest.approx(0.4)
    assert dashboard._nice_max(7.0) == pytest.approx(8.0)
