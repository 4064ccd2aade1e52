"""Patch format, prompt rendering, item validation and the rule set, on in-memory inputs (no database)."""

from __future__ import annotations

import json
import uuid
from importlib import resources

import pytest
import yaml

from arc_eval.core import prepare_config
from arc_eval.recommend import prompt as prompt_mod
from arc_eval.recommend import rules
from arc_eval.recommend.engine import validation_context
from arc_eval.recommend.patch import PatchError, apply_patch, parse_patch, parse_policy, unified_diff
from arc_eval.recommend.validate import parse_response, validate_items


def uid() -> str:
    return str(uuid.uuid4())


def test_patch_sets_nested_paths_indexes_lists_and_deletes():
    config = {
        "model": "a",
        "temperature": 0.5,
        "tools": ["x", {"name": "y"}],
        "tool_config": {"x": {"timeout_ms": 1}},
    }
    anything = parse_policy(
        "rules: [{path: model, type: string}, {path: new.deep.key, type: boolean},"
        " {path: temperature, type: number}, {path: '*.*.*', type: integer}]",
        "test",
    )
    patch = parse_patch(
        "temperature: 0.2\ntools.1.max_retries: 3\ntool_config.x.timeout_ms: 5000\nnew.deep.key: true\nmodel: b\n",
        anything,
    )
    out = apply_patch(config, patch)
    assert out["temperature"] == 0.2 and out["model"] == "b"
    assert out["tools"][1] == {"name": "y", "max_retries": 3}
    assert out["tool_config"]["x"]["timeout_ms"] == 5000
    assert out["new"] == {"deep": {"key": True}}
    assert config["tool_config"]["x"]["timeout_ms"] == 1  # input untouched
    assert "tool_config" not in apply_patch(config, {"tool_config": None})
    assert "-temperature: 0.5\n+temperature: 0.2" in unified_diff("temperature: 0.5\n", "temperature: 0.2\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("- a\n- b\n", "mapping"),
        ("a..b: 1\n", "dotted path"),
        ("temperature: [unclosed\n", "not valid YAML"),
    ],
)
def test_patch_text_errors(text, message):
    with pytest.raises(PatchError, match=message):
        parse_patch(text)


def test_patch_path_errors():
    with pytest.raises(PatchError, match="past the end"):
        apply_patch({"tools": ["a"]}, {"tools.3.x": 1})
    with pytest.raises(PatchError, match="not a mapping"):
        apply_patch({"model": "a"}, {"model.name": "b"})


def test_prompt_is_versioned_and_hash_is_deterministic():
    inputs = {
        "window": {"start": "s", "end": "e", "days": 7},
        "configurations": [{"name": "cfg-a"}],
        "z": 1,
        "a": 2,
    }
    one, two = prompt_mod.render(inputs), prompt_mod.render(dict(reversed(list(inputs.items()))))
    assert one.template_version == "recommend_v2"
    assert one.sha256 == two.sha256 and len(one.sha256) == 64
    assert "cfg-a" in one.user and '"z":1' in one.user
    assert "$max_recommendations" not in one.system and "at most 10 items" in one.system
    assert prompt_mod.render({**inputs, "z": 3}).sha256 != one.sha256
    with pytest.raises(prompt_mod.TemplateError, match="not found"):
        prompt_mod.render(inputs, "recommend_v999")


def _inputs() -> dict:
    """A small hand-made input set on which every rule has something to say."""
    cs, ra, cr = uid(), uid(), uid()
    cs1, cs2, ra1, ra2, cr1, cr2 = (uid() for _ in range(6))
    cluster_tool, cluster_timeout, diff = uid(), uid(), uid()
    sim = uid()
    base = {"tools": ["web_search", "read_url"], "timeout_ms": 120000, "max_retries": 3}
    return {
        "window": {"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-08T00:00:00+00:00", "days": 7},
        "configurations": [
            {
                "config_id": cs,
                "name": "customer-support-agent",
                "version_id": cs2,
                "version_number": 2,
                "config": {**base, "model": "gpt-4o-mini", "temperature": 0.9},
                "history": [],
            },
            {
                "config_id": ra,
                "name": "research-assistant",
                "version_id": ra2,
                "version_number": 2,
                "config": {
                    **base,
                    "model": "gpt-4o",
                    "temperature": 0.2,
                    "tool_config": {"web_search": {"timeout_ms": 2500}},
                },
                "history": [
                    {
                        "version_id": ra2,
                        "version_number": 2,
                        "config": {"tool_config": {"web_search": {"timeout_ms": 2500}}},
                    },
                    {
                        "version_id": ra1,
                        "version_number": 1,
                        "config": {"tool_config": {"web_search": {"timeout_ms": 8000}}},
                    },
                ],
            },
            {
                "config_id": cr,
                "name": "code-review-bot",
                "version_id": cr2,
                "version_number": 2,
                "config": {**base, "model": "gpt-4-turbo", "temperature": 0.1},
                "history": [],
            },
        ],
        "version_performance": [
            {
                "config_id": cs,
                "version_id": cs1,
                "version_number": 1,
                "model": "gpt-4o-mini",
                "temperature": 0.3,
                "executions": 40,
                "avg_reliability": 0.85,
                "avg_cost_usd": 0.001,
                "timeout_count": 0,
            },
            {
                "config_id": cs,
                "version_id": cs2,
                "version_number": 2,
                "model": "gpt-4o-mini",
                "temperature": 0.9,
                "executions": 40,
                "avg_reliability": 0.70,
                "avg_cost_usd": 0.001,
                "timeout_count": 8,
                "avg_execution_time_ms": 40000,
            },
            {
                "config_id": ra,
                "version_id": ra2,
                "version_number": 2,
                "model": "gpt-4o",
                "temperature": 0.2,
                "executions": 30,
                "avg_reliability": 0.7,
                "avg_cost_usd": 0.02,
                "timeout_count": 0,
            },
            {
                "config_id": cr,
                "version_id": cr1,
                "version_number": 1,
                "model": "gpt-4o",
                "temperature": 0.1,
                "executions": 30,
                "avg_reliability": 0.88,
                "avg_cost_usd": 0.01,
                "timeout_count": 0,
                "config_name": "code-review-bot",
            },
            {
                "config_id": cr,
                "version_id": cr2,
                "version_number": 2,
                "model": "gpt-4-turbo",
                "temperature": 0.1,
                "executions": 30,
                "avg_reliability": 0.885,
                "avg_cost_usd": 0.04,
                "timeout_count": 0,
            },
        ],
        "version_comparisons": [
            {
                "config_id": cs,
                "version_id": cs2,
                "previous_version_id": cs1,
                "verdict": "regression",
                "reliability_delta": -0.15,
                "p_value": 0.001,
            },
        ],
        "config_diffs": [{"diff_id": diff, "config_id": cs, "version_before": cs1, "version_after": cs2}],
        "failure_clusters": [
            {
                "pattern_cluster_id": cluster_tool,
                "failure_category": "tool_error",
                "failure_count": 12,
                "sample_error_message": "ToolTimeoutError: web_search did not answer within 2500 ms",
                "version_ids": [ra2],
            },
            {
                "pattern_cluster_id": cluster_timeout,
                "failure_category": "timeout",
                "failure_count": 8,
                "sample_error_message": "run exceeded timeout",
                "version_ids": [cs2],
            },
        ],
        "tool_performance": [
            {
                "config_id": ra,
                "version_id": ra2,
                "tool_name": "web_search",
                "usage_count": 25,
                "avg_success_rate": 0.66,
            },
            {
                "config_id": ra,
                "version_id": ra2,
                "tool_name": "read_url",
                "usage_count": 25,
                "avg_success_rate": 0.97,
            },
        ],
        "scenario_health": [
            {
                "config_id": cr,
                "scenario_id": "easy_one",
                "executions": 6,
                "failures": 0,
                "last_simulation_id": sim,
            },
            {
                "config_id": cr,
                "scenario_id": "hard_one",
                "executions": 6,
                "failures": 2,
                "last_simulation_id": sim,
            },
        ],
        "simulations": [],
        "_ids": {
            "cluster_tool": cluster_tool,
            "cluster_timeout": cluster_timeout,
            "diff": diff,
            "cr1": cr1,
            "sim": sim,
        },
    }


def test_rules_cover_each_pattern_and_pass_validation(tmp_path, monkeypatch):
    inputs = _inputs()
    ids = inputs["_ids"]
    # The default allow-list does not let a recommendation switch the model: the rule is silent.
    assert not [i for i in rules.recommend(inputs) if "model" in yaml.safe_load(i["suggested_yaml_changes"])]
    policy = tmp_path / "policy.yml"
    default = resources.files("arc_eval.recommend").joinpath("patch_policy.yml").read_text()
    policy.write_text(default + "  - {path: model, type: string, max_length: 100}\n")
    monkeypatch.setenv("ARC_EVAL_PATCH_POLICY", str(policy))
    items = rules.recommend(inputs)
    kept, dropped = validate_items(
        parse_response(json.dumps({"recommendations": items})), validation_context(inputs)
    )
    assert dropped == []
    by_type = {}
    for c in kept:
        by_type.setdefault(c.recommendation_type, []).append(c)
    assert set(by_type) == {"performance_tuning", "tool_optimization", "config_change", "scenario_addition"}
    [timeout] = by_type["performance_tuning"]
    assert timeout.patch == {"timeout_ms": 180000} and timeout.source_id == ids["cluster_timeout"]
    [tool] = by_type["tool_optimization"]
    assert tool.patch == {"tool_config.web_search.timeout_ms": 8000}
    assert (tool.source_type, tool.source_id) == ("pattern_analysis", ids["cluster_tool"])
    changes = {json.dumps(c.patch, sort_keys=True): c for c in by_type["config_change"]}
    assert set(changes) == {'{"temperature": 0.3}', '{"model": "gpt-4o"}'}
    assert changes['{"temperature": 0.3}'].source_type == "config_diff"
    assert changes['{"temperature": 0.3}'].source_id == ids["diff"]
    assert changes['{"model": "gpt-4o"}'].source_id == ids["cr1"]
    assert changes['{"model": "gpt-4o"}'].impact_estimate["expected_delta"] == pytest.approx(-0.03)
    [scenario] = by_type["scenario_addition"]
    assert scenario.patch == {"evaluation.harder_variants_of": ["easy_one"]}
    assert (scenario.source_type, scenario.source_id) == ("simulation", ids["sim"])
    for c in kept:
        cfg = next(x for x in inputs["configurations"] if x["config_id"] == c.config_id)
        prepare_config(apply_patch(cfg["config"], c.patch))  # the loader accepts every result
        assert 0 <= c.confidence <= 1 and len(c.description) >= 10


def test_quiet_data_gives_no_recommendation():
    inputs = _inputs()
    for key in ("version_comparisons", "tool_performance", "scenario_health", "failure_clusters"):
        inputs[key] = []
    inputs["version_performance"] = [
        dict(r, timeout_count=0, avg_cost_usd=0.01) for r in inputs["version_performance"]
    ]
    assert rules.recommend(inputs) == []


def test_invalid_items_are_dropped_with_reasons():
    inputs = _inputs()
    ctx = validation_context(inputs)
    cfg = inputs["configurations"][0]
    good = {
        "config_id": cfg["config_id"],
        "recommendation_type": "config_change",
        "source_type": "time_series_analysis",
        "source_id": cfg["version_id"],
        "description": "Lower the temperature to 0.3 to regain reliability.",
        "suggested_yaml_changes": "temperature: 0.3\n",
        "impact_estimate": {"metric": "avg_reliability", "expected_delta": 0.1, "basis": "v1 had 0.85"},
        "confidence": 0.8,
    }
    bad = [
        "not an object",
        {**good, "recommendation_type": "rewrite_everything"},
        {**good, "source_id": uid()},
        {**good, "config_id": uid()},
        {**good, "description": "short"},
        {**good, "confidence": 1.5},
        {**good, "confidence": "0.5"},
        {**good, "impact_estimate": {**good["impact_estimate"], "expected_delta": float("nan")}},
        {**good, "rationale": "an extra field"},
        {**good, "impact_estimate": {"metric": "x"}},
        {**good, "suggested_yaml_changes": "temperature: 7\n"},
        {**good, "suggested_yaml_changes": "temperature: 0.9\n"},
        {**good, "suggested_yaml_changes": "model: [unclosed\n"},
        good,
        {**good, "suggested_yaml_changes": "model: gpt-5\n"},
        {**good, "suggested_yaml_changes": "tools: [shell]\n"},
        {**good, "suggested_yaml_changes": "temperature: &t 0.4\ntimeout_ms: *t\n"},
        {**good, "description": "x" * 4001},
        {**good, "impact_estimate": {"metric": "m", "expected_delta": 1, "basis": "b" * 2001}},
    ]
    kept, dropped = validate_items([good, *bad], ctx)
    assert len(kept) == 1 and kept[0].patch == {"temperature": 0.3}
    reasons = [d["reason"] for d in dropped]
    assert [d["index"] for d in dropped] == list(range(1, len(bad) + 1))
    for needle in (
        "not a JSON object",
        "recommendation_type",
        "not a time_series_analysis row",
        "not a configuration in scope",
        "description: String should have at least 10 characters",
        "confidence: Input should be less than or equal to 1",
        "impact_estimate.expected_delta: Field required",
        "patch path 'temperature': must be at most 2 (got 7)",
        "patch path 'model' is not in the patch allow-list",
        "patch path 'tools' is not in the patch allow-list",
        "anchors (&name) are not allowed (line 1, column 14)",
        "description: String should have at most 4000 characters",
        "impact_estimate.basis: String should have at most 2000 characters",
        "does not change",
        "not valid YAML",
        "duplicate",
        "confidence: Input should be a valid number",
        "impact_estimate.expected_delta: Input should be a finite number",
        "rationale: Extra inputs are not permitted",
    ):
        assert any(needle in r for r in reasons), needle


def test_temperature_rule_accepts_a_falling_but_not_significant_comparison_with_lower_confidence():
    inputs = _inputs()
    inputs["version_comparisons"][0].update(
        verdict="no_significant_change", p_value=0.34, scenarios_regressed=7, scenarios_improved=3
    )
    [item] = [i for i in rules.recommend(inputs) if "temperature" in i["suggested_yaml_changes"]]
    assert item["confidence"] == 0.55 and "not significant" in item["description"]
    inputs["version_comparisons"][0].update(scenarios_regressed=3, scenarios_improved=7)
    assert not [i for i in rules.recommend(inputs) if "temperature" in i["suggested_yaml_changes"]]


def test_timeout_rule_fires_on_a_scenario_that_often_times_out():
    inputs = _inputs()
    inputs["version_performance"] = [dict(r, timeout_count=0) for r in inputs["version_performance"]]
    cr = inputs["configurations"][2]["config_id"]
    inputs["scenario_health"].append(
        {"config_id": cr, "scenario_id": "slow_one", "executions": 10, "failures": 3, "timeouts": 3}
    )
    items = [i for i in rules.recommend(inputs) if i["recommendation_type"] == "performance_tuning"]
    assert [(i["config_id"], i["suggested_yaml_changes"]) for i in items] == [(cr, "timeout_ms: 180000\n")]
    assert "slow_one timed out 3 of 10 times" in items[0]["description"]


def test_timeout_search_skips_tool_settings_and_finds_nested_run_timeouts():
    assert rules._find_timeout({"tool_config": {"web_search": {"timeout_ms": 2500}}}) is None
    assert rules._find_timeout({"tool_config": {"x": {"timeout_ms": 1}}, "runtime": {"timeout_s": 30}}) == (
        "runtime.timeout_s",
        30.0,
    )
