"""The simulator's generated history, on pure data (no database): determinism and distributions."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from datetime import datetime, timezone

import pytest
import yaml

from arc_eval import simulator
from arc_eval.recommend.pricing import DEFAULT_PRICES

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)
TOOLS = sorted(simulator.TOOLS)


def scenarios(count: int = 24) -> list[simulator.Scenario]:
    rng = random.Random(3)
    levels = ("easy", "medium", "hard")
    return [
        simulator.Scenario(f"scenario_{i:02d}", levels[i % 3], tuple(rng.sample(TOOLS, 2)))
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def plan() -> simulator.Plan:
    return simulator.generate_plan(scenarios(), seed=11, simulations=90, now=NOW)


def outcomes(plan: simulator.Plan):
    return [(sim, o) for sim in plan.simulations for o in sim.outcomes]


def test_same_seed_gives_identical_records() -> None:
    a = simulator.generate_plan(scenarios(), seed=5, simulations=30, now=NOW)
    b = simulator.generate_plan(scenarios(), seed=5, simulations=30, now=NOW)
    assert dataclasses.asdict(a) == dataclasses.asdict(b)
    assert simulator.stable_digest(a) == simulator.stable_digest(b)


def test_another_seed_gives_other_records() -> None:
    a = simulator.generate_plan(scenarios(), seed=5, simulations=30, now=NOW)
    b = simulator.generate_plan(scenarios(), seed=6, simulations=30, now=NOW)
    assert simulator.stable_digest(a) != simulator.stable_digest(b)


def test_size_is_settable() -> None:
    small = simulator.generate_plan(scenarios(), seed=5, simulations=6, now=NOW)
    assert small.counts()["simulations"] == 6
    assert all(len(s.outcomes) == len(s.scenario_ids) for s in small.simulations)


def test_scenario_rows_are_accepted_in_their_database_shape() -> None:
    rows = [
        {
            "scenario_id": "a_1",
            "difficulty_level": "hard",
            "expected_tools": ["web_search", {"name": "read_url"}],
        },
        {"scenario_id": "b_2", "difficulty_level": "easy", "expected_tools": {"kb_search": {}}},
        {"scenario_id": "c_3", "difficulty_level": "medium", "expected_tools": None},
    ]
    plan = simulator.generate_plan(rows, seed=1, simulations=3, now=NOW)
    parsed = {s.scenario_id: s for s in map(simulator.Scenario.from_row, rows)}
    assert parsed["a_1"].expected_tools == ("web_search", "read_url")
    assert parsed["b_2"].expected_tools == ("kb_search",)
    assert {o.scenario_id for _, o in outcomes(plan)} == {"a_1", "b_2", "c_3"}


def test_configurations_and_versions(plan: simulator.Plan) -> None:
    assert len(plan.configurations) == 3
    for config in plan.configurations:
        assert 3 <= len(config.versions) <= 4
        models = {v["model"] for v in config.versions}
        temps = {v["temperature"] for v in config.versions}
        toolsets = {tuple(v["tools"]) for v in config.versions}
        assert len(models) + len(temps) + len(toolsets) > 3  # versions really differ
        for version in config.versions:
            parsed = yaml.safe_load(simulator.yaml_text(version))
            assert parsed == version
            assert {
                "model",
                "temperature",
                "system_prompt",
                "tools",
                "timeout_ms",
                "max_retries",
            } <= parsed.keys()
            assert 0 <= parsed["temperature"] <= 2
    assert len({v["model"] for c in plan.configurations for v in c.versions}) >= 3


def test_history_spans_the_last_thirty_days_in_version_order(plan: simulator.Plan) -> None:
    times = [o.execution_time for _, o in outcomes(plan)]
    assert min(times) >= NOW - simulator.timedelta(days=simulator.WINDOW_DAYS)
    assert max(times) <= NOW
    assert (max(times) - min(times)).days >= 25
    for config in plan.configurations:
        sims = [s for s in plan.simulations if s.config_name == config.name]
        indexes = [s.version_index for s in sorted(sims, key=lambda s: s.started_at)]
        assert indexes == sorted(indexes)
        assert set(indexes) == set(range(len(config.versions)))
    for sim in plan.simulations:
        last = sim.outcomes[-1]
        assert sim.started_at <= sim.outcomes[0].execution_time
        assert (
            last.execution_time + simulator.timedelta(milliseconds=last.execution_time_ms) <= sim.completed_at
        )
        assert sim.completed_at <= NOW


def test_hard_scenarios_time_out_more(plan: simulator.Plan) -> None:
    runs = Counter(o.difficulty for _, o in outcomes(plan))
    timeouts = Counter(o.difficulty for _, o in outcomes(plan) if o.status == "timeout")
    hard = timeouts["hard"] / runs["hard"]
    assert hard > 0.1
    assert hard > 3 * timeouts["medium"] / runs["medium"]
    assert hard > 3 * timeouts["easy"] / runs["easy"]
    for _, o in outcomes(plan):
        if o.status == "timeout":
            assert o.error_category == "timeout"
            assert any(f.failure_category == "timeout" for f in o.failures)


def tool_error_rate(plan: simulator.Plan, config: str, tool: str, versions: set[int]) -> float:
    calls = errors = 0.0
    for sim, o in outcomes(plan):
        if sim.config_name != config or sim.version_index not in versions:
            continue
        for usage in o.tools:
            if usage.tool_name == tool:
                calls += usage.call_count
                errors += usage.call_count * (1 - usage.success_rate)
    assert calls > 20
    return errors / calls


def test_flaky_tool_error_rate_rises_after_the_version_change(plan: simulator.Plan) -> None:
    config = next(c for c in plan.configurations if c.name == "research-assistant")
    timeouts = [
        v.get("tool_config", {}).get(simulator.FLAKY_TOOL, {}).get("timeout_ms") for v in config.versions
    ]
    change = next(i for i, t in enumerate(timeouts) if t < simulator.FLAKY_TIMEOUT_THRESHOLD_MS)
    before = tool_error_rate(plan, config.name, simulator.FLAKY_TOOL, set(range(change)))
    after = tool_error_rate(plan, config.name, simulator.FLAKY_TOOL, set(range(change, len(timeouts))))
    assert before < 0.1
    assert after > 2.5 * before
    messages = [
        f.error_message
        for sim, o in outcomes(plan)
        if sim.config_name == config.name and sim.version_index >= change
        for f in o.failures
        if f.failure_type == f"{simulator.FLAKY_TOOL}_error"
    ]
    assert len(messages) > 5
    # Messages cluster: one template, varying ids.
    assert len({m.split("(query")[0] for m in messages}) == 1
    assert len(set(messages)) > 1


def test_latency_tokens_and_cost_depend_on_the_model(plan: simulator.Plan) -> None:
    per_model: dict[str, list] = {}
    for _sim, o in outcomes(plan):
        model = o.trajectory["model"]
        per_model.setdefault(model, []).append(o)
    for model, runs in per_model.items():
        for o in runs:
            inputs, output = o.metrics["input_tokens"], o.metrics["output_tokens"]
            price = DEFAULT_PRICES[model]
            token_cost = (inputs * price.prompt_per_1k + output * price.completion_per_1k) / 1000
            assert o.tokens_used == inputs + output
            assert o.cost_usd >= token_cost - 1e-6
    per_token = {m: sum(o.cost_usd for o in r) / sum(o.tokens_used for o in r) for m, r in per_model.items()}
    assert per_token["gpt-4-turbo"] > 2 * per_token["gpt-4o"]
    assert per_token["gpt-4o"] > 5 * per_token["gpt-4o-mini"]
    success = {
        m: [o for o in r if o.status == "success" and o.difficulty == "easy"] for m, r in per_model.items()
    }
    ms_per_step = {
        m: sum(o.execution_time_ms / o.metrics["steps"] for o in r) / len(r) for m, r in success.items() if r
    }
    assert ms_per_step["gpt-4o-mini"] < ms_per_step["gpt-4o"]


def test_model_errors_and_retries(plan: simulator.Plan) -> None:
    retried = [o for _, o in outcomes(plan) if o.retry_count > 0]
    assert retried
    model_failures = [f for _, o in outcomes(plan) for f in o.failures if f.failure_category == "model_error"]
    assert any(f.recovery_successful for f in model_failures)
    assert all(
        f.recovery_attempted or not f.recovery_successful for _, o in outcomes(plan) for f in o.failures
    )


def test_temperature_increase_lowers_reliability(plan: simulator.Plan) -> None:
    def mean_reliability(index: int) -> float:
        scores = [
            o.reliability_score
            for sim, o in outcomes(plan)
            if sim.config_name == "office-assistant" and sim.version_index == index
        ]
        return sum(scores) / len(scores)

    assert mean_reliability(2) < mean_reliability(1) - 0.05


def test_records_satisfy_the_raw_tables_rules(plan: simulator.Plan) -> None:
    categories = {"timeout", "tool_error", "model_error", "validation_error", "system_error", "sandbox_error"}
    for _, o in outcomes(plan):
        assert o.status in {"success", "error", "timeout"}
        assert 0 <= o.reliability_score <= 1
        assert o.execution_time_ms >= 0 and o.tokens_used >= 0 and o.cost_usd >= 0
        assert {"start_time", "status", "steps"} <= o.trajectory.keys()
        assert (o.error_category is None) == (o.status == "success")
        assert o.error_category is None or o.error_category in categories
        steps = o.trajectory["steps"]
        assert [s["index"] for s in steps] == list(range(len(steps)))
        for usage in o.tools:
            assert usage.call_count > 0 and 0 <= usage.success_rate <= 1
            assert all(steps[i]["tool"] == usage.tool_name for i in usage.tool_sequence)
        for failure in o.failures:
            assert failure.failure_category in categories
            assert len(failure.failure_type) <= 100 and failure.error_message
