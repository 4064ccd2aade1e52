"""The seed's interfaces, running the seed's own example code (sections 8A, 8B, 10D and 10E).

The example snippets below are the seed's text; only the connection string differs (10D), or comes
from ``ARC_EVAL_DSN`` where the seed passes none (8A, 8B). The names the examples take from the sandbox
(``run_scenario_in_sandbox``, ``classify_error``, ``modal``, ...) are supplied as plain stand-ins: they
are the sandbox's code, not the database's.
"""

from __future__ import annotations

import asyncio
import textwrap
import types
import uuid
from datetime import datetime

import pytest

from arc_eval import (
    ArcEval,
    ArcEvalDBClient,
    BatchExecutionRecorder,
    ConfigurationManager,
    DatabaseHealthChecker,
    ExecutionEventHandler,
    NotFoundError,
)
from loader_helpers import YAML_V1, query, scalar, t, unique_name

SEED_8A_EXAMPLE = """
async def execute_scenario(scenario_id: str, config_id: str):
    db_client = ArcEvalDBClient()

    # Start execution tracking
    execution_id = await db_client.record_execution_start({
        "scenario_id": scenario_id,
        "config_id": config_id,
        "modal_call_id": current_modal_call_id(),
        "started_at": datetime.utcnow()
    })

    try:
        # Run scenario in sandbox
        result = await run_scenario_in_sandbox(scenario_id, config_id)

        # Record outcome
        await db_client.record_execution_outcome({
            "execution_id": execution_id,
            "status": "success" if result.success else "error",
            "reliability_score": result.score,
            "trajectory": result.trajectory,
            "cost_usd": result.cost,
            "execution_time_ms": result.duration_ms
        })

    except Exception as e:
        # Record failure
        await db_client.record_failure_pattern({
            "execution_id": execution_id,
            "error_type": type(e).__name__,
            "error_message": str(e),
            "failure_category": classify_error(e)
        })
"""

SEED_8B_EXAMPLE = """
@modal.function
async def run_scenario_evaluation(scenario_id: str, config_id: str):
    event_handler = ExecutionEventHandler()

    # Emit events that database layer can handle
    await event_handler.handle_execution_started({
        "simulation_id": simulation_id,
        "modal_app_id": modal.current_app_id(),
        "timestamp": datetime.utcnow()
    })

    # ... run scenario ...

    await event_handler.handle_scenario_completed({
        "outcome_id": outcome_id,
        "simulation_id": simulation_id,
        "scenario_id": scenario_id,
        "timestamp": datetime.utcnow(),
        "status": result.status,
        "trajectory": result.trajectory,
        "modal_call_id": modal.current_call_id()
    })
"""

SEED_10D_EXAMPLE = """
async def main():
    client = ArcEvalDBClient(
        "postgresql://tsdbadmin:password@host:5432/database"
    )
    await client.initialize()

    # Modal team can use this interface
    simulation_id = await client.record_execution_start({
        "config_version_id": "uuid-here",
        "scenario_set": ["scenario1", "scenario2"],
        "modal_app_id": "arc-eval-sandbox"
    })

    # Record outcome after scenario completes
    await client.record_execution_outcome({
        "simulation_id": simulation_id,
        "scenario_id": "scenario1",
        "status": "success",
        "reliability_score": 0.95,
        "execution_time_ms": 2500,
        "tokens_used": 1500,
        "cost_usd": 0.02,
        "trajectory": {"steps": [...], "result": "success"},
        "modal_call_id": "modal-call-123"
    })
"""

SEED_10E_EXAMPLE = '''
async def test_execution_recording():
    """Test that Modal sandbox integration works end-to-end"""
    client = ArcEvalDBClient("your-connection-string")
    await client.initialize()

    # Test simulation creation
    simulation_id = await client.record_execution_start({
        "config_version_id": "test-config-uuid",
        "scenario_set": ["test_scenario_1", "test_scenario_2"],
        "modal_app_id": "test-app"
    })

    assert simulation_id is not None

    # Test outcome recording
    outcome_id = await client.record_execution_outcome({
        "simulation_id": simulation_id,
        "scenario_id": "test_scenario_1",
        "status": "success",
        "reliability_score": 0.9,
        "execution_time_ms": 1000,
        "tokens_used": 100,
        "cost_usd": 0.01,
        "trajectory": {"test": True}
    })

    assert outcome_id is not None
'''


def _exec(source: str, namespace: dict) -> dict:
    exec(compile(textwrap.dedent(source), "<seed example>", "exec"), namespace)  # noqa: S102 - the seed's text
    return namespace


def _add_scenarios(target, *ids: str) -> None:
    with ArcEval(target.conninfo, flush_interval=None) as db:
        sql = f"INSERT INTO {db.sql.t('scenarios')} (scenario_id, name, task_prompt) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"

        def flow():
            from arc_eval import core

            for sid in ids:
                yield core.Execute(sql, [sid, f"Scenario {sid}", f"Do the task called {sid} carefully."])

        db.run(flow)


@pytest.fixture
def config(warehouse):
    with ArcEval(warehouse.conninfo, flush_interval=None) as db:
        name = unique_name("seed")
        cid = db.create_configuration(name, uuid.uuid4())
        version = db.create_config_version(cid, YAML_V1)
    return types.SimpleNamespace(name=name, config_id=cid, version=version)


@pytest.fixture
def dsn_env(warehouse, monkeypatch):
    monkeypatch.setenv("ARC_EVAL_DSN", warehouse.conninfo)
    return warehouse


def test_seed_8a_execute_scenario_success_and_failure(dsn_env, config) -> None:
    warehouse = dsn_env
    scenario = "seed_8a_scenario"
    _add_scenarios(warehouse, scenario)

    class Result:
        success, score, cost, duration_ms = True, 0.8, 0.03, 1500
        trajectory = {"steps": ["search", "answer"], "result": "ok"}

    async def run_scenario_in_sandbox(scenario_id, config_id):
        if scenario_id == "boom":
            raise TimeoutError("sandbox did not answer within 300000 ms")
        return Result()

    namespace = _exec(
        SEED_8A_EXAMPLE,
        {
            "ArcEvalDBClient": ArcEvalDBClient,
            "datetime": datetime,
            "current_modal_call_id": lambda: "modal-call-8a",
            "run_scenario_in_sandbox": run_scenario_in_sandbox,
            "classify_error": lambda e: "timeout" if isinstance(e, TimeoutError) else "unknown",
        },
    )
    asyncio.run(namespace["execute_scenario"](scenario, str(config.config_id)))
    rows = query(
        warehouse,
        f"SELECT o.*, s.status AS sim_status, s.config_version_id FROM {t('outcomes')} o "
        f"JOIN {t('simulations')} s USING (simulation_id) WHERE o.scenario_id = %s",
        [scenario],
    )
    assert len(rows) == 1
    row = rows[0]
    assert (row["status"], row["reliability_score"], row["modal_call_id"]) == (
        "success",
        pytest.approx(0.8),
        "modal-call-8a",
    )
    assert row["trajectory"]["steps"] == ["search", "answer"] and "start_time" in row["trajectory"]
    assert row["config_version_id"] == config.version.version_id and row["sim_status"] == "completed"

    _add_scenarios(warehouse, "boom")
    asyncio.run(namespace["execute_scenario"]("boom", str(config.config_id)))
    failures = query(
        warehouse,
        f"SELECT f.failure_type, f.failure_category, f.error_message, o.status FROM {t('failure_patterns')} f "
        f"JOIN {t('outcomes')} o ON o.outcome_id = f.outcome_id AND o.execution_time = f.execution_time "
        "WHERE o.scenario_id = 'boom'",
    )
    assert failures == [
        {
            "failure_type": "TimeoutError",
            "failure_category": "timeout",
            "error_message": "sandbox did not answer within 300000 ms",
            "status": "timeout",
        }
    ]


def test_seed_8b_event_handler_example(dsn_env, config, monkeypatch) -> None:
    warehouse = dsn_env
    monkeypatch.setenv("ARC_EVAL_CONFIG", config.name)
    scenario = "seed_8b_scenario"
    _add_scenarios(warehouse, scenario)
    modal = types.SimpleNamespace(
        function=lambda f: f, current_app_id=lambda: "arc-eval-app", current_call_id=lambda: "modal-call-8b"
    )
    sim_id, outcome_id = uuid.uuid4(), uuid.uuid4()
    result = types.SimpleNamespace(status="success", trajectory={"steps": ["plan", "act"]})
    namespace = _exec(
        SEED_8B_EXAMPLE,
        {
            "modal": modal,
            "ExecutionEventHandler": ExecutionEventHandler,
            "datetime": datetime,
            "simulation_id": str(sim_id),
            "outcome_id": str(outcome_id),
            "result": result,
        },
    )
    asyncio.run(namespace["run_scenario_evaluation"](scenario, str(config.config_id)))
    sim = query(warehouse, f"SELECT * FROM {t('simulations')} WHERE simulation_id = %s", [sim_id])[0]
    assert sim["modal_app_id"] == "arc-eval-app" and sim["scenario_set"] == [scenario]
    assert sim["config_version_id"] == config.version.version_id and sim["status"] == "completed"
    out = query(warehouse, f"SELECT * FROM {t('outcomes')} WHERE outcome_id = %s", [outcome_id])[0]
    assert (
        out["simulation_id"] == sim_id
        and out["modal_call_id"] == "modal-call-8b"
        and out["status"] == "success"
    )


def test_seed_10d_and_10e_examples(warehouse, config) -> None:
    _add_scenarios(warehouse, "scenario1", "scenario2", "test_scenario_1", "test_scenario_2")
    with ArcEval(warehouse.conninfo, flush_interval=None) as db:  # the names the examples use as config refs
        for name in ("uuid-here", "test-config-uuid"):
            cid = db.create_configuration(name, uuid.UUID(int=1))
            db.create_config_version(cid, YAML_V1)
    source = SEED_10D_EXAMPLE.replace(
        "postgresql://tsdbadmin:password@host:5432/database", warehouse.conninfo
    )
    namespace = _exec(source, {"ArcEvalDBClient": ArcEvalDBClient})
    asyncio.run(namespace["main"]())
    rows = query(
        warehouse,
        f"SELECT o.trajectory, o.tokens_used, o.modal_call_id, s.modal_app_id, s.status FROM {t('outcomes')} o "
        f"JOIN {t('simulations')} s USING (simulation_id) WHERE o.scenario_id = 'scenario1'",
    )
    assert len(rows) == 1
    assert rows[0]["trajectory"]["steps"] == ["..."] and rows[0]["tokens_used"] == 1500
    assert (rows[0]["modal_call_id"], rows[0]["modal_app_id"], rows[0]["status"]) == (
        "modal-call-123",
        "arc-eval-sandbox",
        "running",  # scenario2 has not run yet
    )
    source = SEED_10E_EXAMPLE.replace('"your-connection-string"', repr(warehouse.conninfo))
    namespace = _exec(source, {"ArcEvalDBClient": ArcEvalDBClient})
    asyncio.run(namespace["test_execution_recording"]())
    stored = query(
        warehouse,
        f"SELECT o.reliability_score, s.scenario_set, s.modal_app_id FROM {t('outcomes')} o "
        f"JOIN {t('simulations')} s USING (simulation_id) WHERE o.scenario_id = 'test_scenario_1'",
    )
    assert len(stored) == 1 and stored[0]["scenario_set"] == ["test_scenario_1", "test_scenario_2"]
    assert stored[0]["modal_app_id"] == "test-app" and stored[0]["reliability_score"] == pytest.approx(0.9)


def test_configuration_manager_and_active_configurations(warehouse, config) -> None:
    async def main():
        async with ConfigurationManager(warehouse.conninfo, user_id=uuid.uuid4()) as manager:
            active = await manager.get_active_config(config.name)
            assert (
                active["version_id"] == str(config.version.version_id)
                and active["config"]["model"] == "gpt-4o"
            )
            assert "modal_deployment_id" in active
            same = await manager.create_config_version(dict(active["config"]), config.name)
            assert same == str(config.version.version_id)  # dedupe by hash, per configuration
            new = await manager.create_config_version(
                {"model": "gpt-4o-mini", "temperature": 0.3}, config.name
            )
            fresh_name = unique_name("mgr")
            created = await manager.create_config_version({"model": "m", "temperature": 0}, fresh_name)
            with pytest.raises(NotFoundError):
                await ConfigurationManager(warehouse.conninfo).create_config_version(
                    {"model": "m", "temperature": 0}, unique_name("none")
                )
        async with ArcEvalDBClient(warehouse.conninfo) as client:
            listed = await client.get_active_configurations()
        return new, created, fresh_name, listed

    new, created, fresh_name, listed = asyncio.run(main())
    by_name = {c["config_name"]: c for c in listed}
    assert by_name[config.name]["version_id"] == new and by_name[fresh_name]["version_id"] == created
    assert isinstance(by_name[config.name]["config_id"], str)


def test_batch_execution_recorder(warehouse, config) -> None:
    _add_scenarios(warehouse, "seed_9a_scenario")

    async def main():
        with ArcEval(warehouse.conninfo, flush_interval=None) as db:
            sim = db.start_simulation(config.version.version_id, ["seed_9a_scenario"])
        recorder = BatchExecutionRecorder(
            batch_size=3, flush_interval=30, connection_string=warehouse.conninfo
        )
        ids = []
        for i in range(4):
            ids.append(
                await recorder.record_outcome(
                    {
                        "outcome_id": uuid.uuid4(),
                        "simulation_id": sim,
                        "scenario_id": "seed_9a_scenario",
                        "execution_time": datetime.utcnow(),
                        "status": "success",
                        "reliability_score": 0.5 + i / 10,
                        "execution_time_ms": 100,
                        "tokens_used": 10,
                        "cost_usd": 0.001,
                        "trajectory": {"start_time": "t", "status": "success"},
                        "modal_call_id": f"call-{i}",
                        "sandbox_id": "sb-1",
                        "execution_metadata": {"modal_version": "0.2.0", "resource_usage": {"cpu": 0.5}},
                    }
                )
            )
        stored_after_batch = scalar(
            warehouse, f"SELECT count(*) FROM {t('outcomes')} WHERE simulation_id = %s", [sim]
        )
        await recorder.flush_outcomes()
        stored = scalar(warehouse, f"SELECT count(*) FROM {t('outcomes')} WHERE simulation_id = %s", [sim])
        await recorder.close()
        return stored_after_batch, stored

    assert asyncio.run(main()) == (3, 4)


def test_event_handler_dispatch_tools_and_failures(warehouse, config) -> None:
    _add_scenarios(warehouse, "seed_ev_a", "seed_ev_b")

    async def main():
        async with ExecutionEventHandler(connection_string=warehouse.conninfo, config=config.name) as handler:
            with pytest.raises(ValueError, match="unknown event type 'scenario_exploded'"):
                await handler.handle("scenario_exploded", {})
            sim = uuid.uuid4()
            await handler.handle_event(
                {
                    "type": "execution_started",
                    "simulation_id": sim,
                    "scenario_set": ["seed_ev_a", "seed_ev_b"],
                    "timestamp": datetime.utcnow(),
                }
            )
            for ok, ms in ((True, 10), (False, 30), (True, 20)):
                await handler.handle(
                    "tool_called",
                    {
                        "simulation_id": sim,
                        "scenario_id": "seed_ev_a",
                        "tool_name": "web_search",
                        "duration_ms": ms,
                        "success": ok,
                        "error_type": None if ok else "Timeout",
                    },
                )
            await handler.handle(
                "tool_called",
                {
                    "simulation_id": sim,
                    "scenario_id": "seed_ev_a",
                    "tool_name": "calculator",
                    "duration_ms": 1,
                },
            )
            oid = await handler.handle(
                "scenario_completed",
                {
                    "simulation_id": sim,
                    "scenario_id": "seed_ev_a",
                    "status": "success",
                    "trajectory": {"x": 1},
                    "reliability_score": 0.7,
                    "tokens_used": 50,
                    "cost_usd": 0.01,
                },
            )
            failed = await handler.handle(
                "execution_failed",
                {
                    "simulation_id": sim,
                    "scenario_id": "seed_ev_b",
                    "error_type": "RateLimitError",
                    "error_message": "429 Too Many Requests",
                    "failure_category": "model_error",
                },
            )
            return sim, oid, failed

    sim, oid, failed = asyncio.run(main())
    tools = {
        r["tool_name"]: r
        for r in query(warehouse, f"SELECT * FROM {t('tool_usage')} WHERE outcome_id = %s", [oid])
    }
    assert tools["web_search"]["call_count"] == 3 and tools["web_search"]["success_rate"] == pytest.approx(
        2 / 3
    )
    assert tools["web_search"]["avg_duration_ms"] == pytest.approx(20) and tools["web_search"][
        "error_types"
    ] == ["Timeout"]
    assert tools["calculator"]["call_count"] == 1
    assert failed["status"] == "failed" and failed["completed_scenarios"] == 1
    fp = query(
        warehouse,
        f"SELECT f.failure_type, o.scenario_id FROM {t('failure_patterns')} f JOIN {t('outcomes')} o "
        "USING (outcome_id, execution_time) WHERE o.simulation_id = %s",
        [sim],
    )
    assert fp == [{"failure_type": "RateLimitError", "scenario_id": "seed_ev_b"}]


def test_health_checks_write_nothing_and_report_what_is_unavailable(warehouse) -> None:
    before = scalar(warehouse, f"SELECT count(*) FROM {t('outcomes')}")

    async def main():
        async with DatabaseHealthChecker(warehouse.conninfo) as checker:
            return (
                await checker.check_write_performance(),
                await checker.check_all(),
                await checker.capabilities(),
            )

    perf, everything, caps = asyncio.run(main())
    assert (
        perf["rows"] == 100
        and perf["status"] in ("healthy", "degraded")
        and perf["throughput_per_second"] > 0
    )
    assert scalar(warehouse, f"SELECT count(*) FROM {t('outcomes')}") == before
    assert scalar(warehouse, "SELECT count(*) FROM pg_class WHERE relname = 'arc_eval_health_outcomes'") == 0
    health = everything["hypertables"]["outcomes"]
    assert health["total_bytes"] > 0
    if caps.has_hypertables:
        assert health["hypertable_status"] == "healthy" and health["chunk_count"] is not None
        assert "hypertables" not in health["unavailable"]
    else:
        assert health["hypertable_status"] == "unavailable" and health["chunk_count"] is None
        assert "TimescaleDB" in health["unavailable"]["hypertables"]
    if not caps.has_compression:
        assert health["compression_ratio"] is None and health["storage_efficiency"] == "unknown"
        assert health["unavailable"]["compression"]


def test_seed_interface_errors_name_the_seed_field(warehouse) -> None:
    async def main():
        async with ArcEvalDBClient(connection_string=warehouse.conninfo) as client:
            for key in ("config_version_id", "config_id"):
                with pytest.raises(
                    NotFoundError, match=f"^{key}: no configuration version found for 'nope-{key}'"
                ):
                    await client.record_execution_start({key: f"nope-{key}", "scenario_id": "s"})

    asyncio.run(main())
