"""Every validation rule: bad input raises ValidationError naming the field and the rule; nothing is written."""

from __future__ import annotations

import math
import uuid

import pytest

from arc_eval import ArcEval, ValidationError
from loader_helpers import YAML_V1, outcome_kwargs, scalar, scenario_ids, t, unique_name

SIM = uuid.uuid4()  # never reaches the database: every case below is refused by the client


def _outcome(**over):
    return outcome_kwargs(SIM, "some_scenario") | over


OUTCOME_CASES = [
    ("simulation_id", _outcome(simulation_id=None), "is required"),
    ("simulation_id", _outcome(simulation_id="not-a-uuid"), "must be a UUID"),
    ("scenario_id", _outcome(scenario_id="Bad-Id"), "must match"),
    ("scenario_id", _outcome(scenario_id="a" * 101), "at most 100"),
    ("scenario_id", _outcome(scenario_id=7), "must be a string"),
    ("status", _outcome(status="done"), "must be one of success, error, timeout, cancelled"),
    ("reliability_score", _outcome(reliability_score=1.5), "between 0 and 1"),
    ("reliability_score", _outcome(reliability_score=-0.1), "between 0 and 1"),
    ("reliability_score", _outcome(reliability_score=math.nan), "finite"),
    ("reliability_score", _outcome(reliability_score="0.5"), "must be a number"),
    ("reliability_score", _outcome(reliability_score=True), "must be a number"),
    ("execution_time_ms", _outcome(execution_time_ms=-1), ">= 0"),
    ("tokens_used", _outcome(tokens_used=-1), ">= 0"),
    ("tokens_used", _outcome(tokens_used=1.5), "must be an integer"),
    ("tokens_used", _outcome(tokens_used=2**31), "<= 2147483647"),
    ("cost_usd", _outcome(cost_usd=-0.01), ">= 0"),
    ("trajectory", _outcome(trajectory=["start_time", "status"]), "JSON object"),
    ("trajectory", _outcome(trajectory={"status": "success"}), "'start_time' and 'status'"),
    ("trajectory", _outcome(trajectory={"start_time": "t"}), "'start_time' and 'status'"),
    (
        "trajectory",
        _outcome(trajectory={"start_time": "t", "status": "x", "o": object()}),
        "JSON-serialisable",
    ),
    ("trajectory", _outcome(trajectory={"start_time": "t", "status": "x\x00"}), "NUL"),
    ("metrics", _outcome(metrics={"x": math.inf}), "JSON-serialisable"),
    ("retry_count", _outcome(retry_count=-1), ">= 0"),
    ("error_category", _outcome(error_category="oops"), "must be one of timeout, tool_error"),
    ("execution_metadata", _outcome(execution_metadata=["not", "a", "dict"]), "JSON object"),
    ("execution_time", _outcome(execution_time="yesterday"), "datetime"),
    ("sandbox_logs", _outcome(sandbox_logs="a\x00b"), "NUL"),
    ("trajectory_embedding", _outcome(trajectory_embedding=[0.1] * 3), "1536 dimensions"),
    ("created_by", _outcome(created_by="me"), "is not a column of outcomes"),
]


@pytest.fixture(scope="module")
def db(warehouse):
    with ArcEval(warehouse.conninfo, flush_interval=None) as client:
        yield client


def _refused(call, field: str, rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        call()
    assert info.value.field == field, str(info.value)
    assert rule in info.value.rule, str(info.value)
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("field", "values", "rule"), OUTCOME_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(OUTCOME_CASES)]
)
def test_outcome_rules(db, field, values, rule) -> None:
    _refused(lambda: db.record_outcome(**values), field, rule)
    assert db.pending() == 0


TOOL = {
    "outcome_id": uuid.uuid4(),
    "execution_time": "2026-01-01T00:00:00+00:00",
    "tool_name": "web_search",
    "call_count": 1,
    "avg_duration_ms": 1.0,
    "success_rate": 1.0,
}
TOOL_CASES = [
    ("outcome_id", TOOL | {"outcome_id": "x"}, "must be a UUID"),
    ("tool_name", TOOL | {"tool_name": "t" * 101}, "at most 100"),
    ("tool_name", TOOL | {"tool_name": ""}, "at least 1"),
    ("call_count", TOOL | {"call_count": 0}, ">= 1"),
    ("avg_duration_ms", TOOL | {"avg_duration_ms": -5}, ">= 0"),
    ("success_rate", TOOL | {"success_rate": 1.01}, "between 0 and 1"),
    ("total_cost_usd", TOOL | {"total_cost_usd": -1}, ">= 0"),
    ("error_types", TOOL | {"error_types": "timeout"}, "list of strings"),
    ("error_types[1]", TOOL | {"error_types": ["a", 2]}, "must be a string"),
    ("tool_sequence", TOOL | {"tool_sequence": object()}, "JSON-serialisable"),
    (
        "execution_time",
        {k: v for k, v in TOOL.items() if k != "execution_time"},
        "execution_time of the outcome",
    ),
]


@pytest.mark.parametrize(
    ("field", "values", "rule"), TOOL_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(TOOL_CASES)]
)
def test_tool_usage_rules(db, field, values, rule) -> None:
    _refused(lambda: db.record_tool_usage(**values), field, rule)
    assert db.pending() == 0


FAIL = {
    "outcome_id": uuid.uuid4(),
    "execution_time": "2026-01-01T00:00:00Z",
    "failure_type": "KeyError",
    "failure_category": "tool_error",
    "error_message": "boom",
}
FAILURE_CASES = [
    ("failure_type", FAIL | {"failure_type": "x" * 101}, "at most 100"),
    ("failure_category", FAIL | {"failure_category": "bad"}, "must be one of"),
    ("error_message", FAIL | {"error_message": "e" * 10001}, "at most 10000"),
    ("cluster_confidence", FAIL | {"cluster_confidence": 2}, "between 0 and 1"),
    ("similar_failures_count", FAIL | {"similar_failures_count": -1}, ">= 0"),
    ("recovery_attempted", FAIL | {"recovery_attempted": "yes"}, "boolean"),
    ("recovery_successful", FAIL | {"recovery_successful": True}, "only when recovery_attempted"),
    ("llm_analysis", FAIL | {"llm_analysis": object()}, "JSON-serialisable"),
    ("pattern_cluster_id", FAIL | {"pattern_cluster_id": 12}, "must be a UUID"),
]


@pytest.mark.parametrize(
    ("field", "values", "rule"), FAILURE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(FAILURE_CASES)]
)
def test_failure_rules(db, field, values, rule) -> None:
    _refused(lambda: db.record_failure(**values), field, rule)
    assert db.pending() == 0


CONFIG_CASES = [
    ("name", {"name": "ab"}, "at least 3"),
    ("name", {"name": "n" * 101}, "at most 100"),
    ("name", {"name": "bad/name!"}, "must match"),
    ("user_id", {"user_id": "someone"}, "must be a UUID"),
    ("sandbox_config", {"sandbox_config": "gpu"}, "JSON object"),
    ("modal_app_id", {"modal_app_id": 5}, "must be a string"),
]


@pytest.mark.parametrize(
    ("field", "over", "rule"), CONFIG_CASES, ids=[c[0] + str(i) for i, c in enumerate(CONFIG_CASES)]
)
def test_configuration_rules(db, warehouse, field, over, rule) -> None:
    before = scalar(warehouse, f"SELECT count(*) FROM {t('configurations')}")
    args = {
        "name": unique_name(),
        "user_id": uuid.uuid4(),
        "sandbox_config": None,
        "modal_app_id": None,
    } | over
    _refused(lambda: db.create_configuration(**args), field, rule)
    assert scalar(warehouse, f"SELECT count(*) FROM {t('configurations')}") == before


VERSION_CASES = [
    ("raw_yaml", "model: [unclosed\n", "valid YAML"),
    ("raw_yaml", "model: x\ntemperature: 1\npad: '" + "x" * 1_048_576 + "'\n", "1 MB"),
    ("config", "- just\n- a list\n", "mapping"),
    ("raw_yaml", "!!python/object:os.system {}\n", "must be plain YAML: explicit tags"),
    ("raw_yaml", "model: &m gpt-4o\ntemperature: 0.2\nfallback: *m\n", "must be plain YAML: anchors"),
    ("model", "temperature: 0.5\n", "is required"),
    ("model", "model: ''\ntemperature: 0.5\n", "non-empty string"),
    ("model", {"model": 4, "temperature": 0.5}, "non-empty string"),
    ("temperature", "model: gpt-4o\n", "is required"),
    ("temperature", "model: gpt-4o\ntemperature: 2.5\n", "between 0 and 2"),
    ("temperature", "model: gpt-4o\ntemperature: -0.1\n", "between 0 and 2"),
    ("temperature", "model: gpt-4o\ntemperature: hot\n", "must be a number"),
    ("config.when", {"model": "m", "temperature": 1, "when": object()}, "JSON-compatible"),
]


@pytest.mark.parametrize(
    ("field", "content", "rule"), VERSION_CASES, ids=[c[0] + str(i) for i, c in enumerate(VERSION_CASES)]
)
def test_config_version_rules(db, warehouse, field, content, rule) -> None:
    cid = db.create_configuration(unique_name("val"), uuid.uuid4())
    _refused(lambda: db.create_config_version(cid, content), field, rule)
    assert scalar(warehouse, f"SELECT count(*) FROM {t('config_versions')} WHERE config_id = %s", [cid]) == 0


def test_config_version_enum_rules(db, warehouse) -> None:
    cid = db.create_configuration(unique_name("val"), uuid.uuid4())
    _refused(
        lambda: db.create_config_version(cid, YAML_V1, "modal_sandbox"),
        "generated_by",
        "must be one of manual",
    )
    _refused(
        lambda: db.create_config_version(cid, YAML_V1, approval_status="maybe"),
        "approval_status",
        "must be one of",
    )
    _refused(lambda: db.create_config_version(cid, YAML_V1, user_id="x"), "user_id", "UUID")
    _refused(lambda: db.create_config_version("bad!name", YAML_V1), "config", "must match")
    assert scalar(warehouse, f"SELECT count(*) FROM {t('config_versions')} WHERE config_id = %s", [cid]) == 0


def test_simulation_rules(db, warehouse) -> None:
    cid = db.create_configuration(unique_name("val"), uuid.uuid4())
    v = db.create_config_version(cid, YAML_V1).version_id
    scen = scenario_ids(warehouse, 2)
    before = scalar(warehouse, f"SELECT count(*) FROM {t('simulations')}")
    _refused(lambda: db.start_simulation(v, []), "scenario_ids", "must not be empty")
    _refused(lambda: db.start_simulation(v, "abc"), "scenario_ids", "list of scenario ids")
    _refused(lambda: db.start_simulation(v, [scen[0], scen[0]]), "scenario_ids", "must not repeat")
    _refused(lambda: db.start_simulation(v, ["Bad Id"]), "scenario_ids[0]", "must match")
    _refused(lambda: db.start_simulation("v1", scen), "version_id", "UUID")
    _refused(lambda: db.start_simulation(v, scen, "n" * 201), "simulation_name", "at most 200")
    _refused(lambda: db.start_simulation(v, scen, priority=11), "priority", "<= 10")
    _refused(lambda: db.start_simulation(v, scen, metadata=[1]), "metadata", "JSON object")
    _refused(lambda: db.start_simulation(v, scen, started_at=12), "started_at", "datetime")
    assert scalar(warehouse, f"SELECT count(*) FROM {t('simulations')}") == before
    sim = db.start_simulation(v, scen)
    _refused(lambda: db.set_scenario_status(sim, scen[0], "done"), "status", "must be one of running")
    _refused(lambda: db.set_scenario_status(sim, scen[0], "running", retry_count=-1), "retry_count", ">= 0")
    _refused(
        lambda: db.finish_simulation(sim, "paused"), "status", "must be one of completed, failed, cancelled"
    )
    _refused(lambda: db.finish_simulation(sim, overall_score=1.2), "overall_score", "between 0 and 1")
    assert db.get_simulation(sim)["status"] == "running"


def test_limits_are_configurable() -> None:
    import datetime as dt

    from arc_eval import Limits
    from arc_eval.core import OUTCOMES, encode_row

    tight = Limits(
        identifier_chars=8, text_bytes=16, json_bytes=200, json_depth=2, max_future=dt.timedelta(0)
    )
    ok = _outcome()
    encode_row(OUTCOMES, ok | {"modal_call_id": "c" * 8, "sandbox_logs": "é" * 8}, limits=tight)
    for field, value, rule in [
        ("modal_call_id", "c" * 9, "at most 8 characters"),
        ("sandbox_logs", "é" * 9, "at most 16 bytes"),
        ("metrics", {"k": "v" * 200}, "at most 200 bytes"),
        ("metrics", {"a": {"b": {}}}, "nest at most 2 levels"),
        ("execution_time", dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5), "ahead of now"),
    ]:
        with pytest.raises(ValidationError) as info:
            encode_row(OUTCOMES, ok | {field: value}, limits=tight)
        assert (info.value.field, rule in info.value.rule) == (field, True), str(info.value)
    # the defaults allow each of these
    encode_row(OUTCOMES, ok | {"modal_call_id": "c" * 256, "metrics": {"a": {"b": {}}}})
