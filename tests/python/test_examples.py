"""The sandbox examples run as shipped: the seed's quick start (10F) and the Modal app (8B), on the test server.

The Modal function's body runs locally through Modal's ``.local()``: no Modal account, no network. Both
read the DSN from ``TIMESCALEDB_CONNECTION_STRING`` (the Modal secret's variable), with every other
connection variable removed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from arc_eval import ArcEval
from loader_helpers import YAML_V1, query, scalar, t, unique_name

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONNECTION_VARIABLES = (
    "ARC_EVAL_DSN",
    "PGHOST",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGSERVICE",
    "TIMESCALEDB_HOST",
)


def only_connection_string(monkeypatch: pytest.MonkeyPatch, conninfo: str) -> None:
    for name in CONNECTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TIMESCALEDB_CONNECTION_STRING", conninfo)


def test_seed_quick_start_runs_with_timescaledb_connection_string(warehouse, monkeypatch) -> None:
    only_connection_string(monkeypatch, warehouse.conninfo)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found = re.search(r"simulation ([0-9a-f-]{36}) (\w+), 2 outcomes recorded", done.stdout)
    assert found, done.stdout
    sim = uuid.UUID(found.group(1))
    rows = query(
        warehouse,
        f"SELECT scenario_id, status, modal_call_id FROM {t('outcomes')} WHERE simulation_id = %s ORDER BY 1",
        [sim],
    )
    assert [(r["scenario_id"], r["status"]) for r in rows] == [
        ("compound_interest", "success"),
        ("unit_conversion_recipe", "error"),
    ]
    assert len({r["modal_call_id"] for r in rows}) == 1 and rows[0]["modal_call_id"].startswith("quickstart-")
    # Both scenarios are final, one failed: the simulation finished as failed.
    assert found.group(2) == "failed"
    assert (
        scalar(warehouse, f"SELECT status FROM {t('simulations')} WHERE simulation_id = %s", [sim])
        == "failed"
    )


@pytest.fixture(scope="module")
def modal_app():
    pytest.importorskip("modal", reason="the 'modal' extra is not installed (pip install 'arc-eval[modal]')")
    spec = importlib.util.spec_from_file_location("modal_app", EXAMPLES / "modal_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_modal_function_body_records_a_simulation(warehouse, modal_app, monkeypatch) -> None:
    with ArcEval(warehouse.conninfo, flush_interval=None) as db:
        config_id = db.create_configuration(unique_name("modal"), uuid.uuid4())
        version = db.create_config_version(config_id, YAML_V1)
    only_connection_string(monkeypatch, warehouse.conninfo)
    assert "TIMESCALEDB_CONNECTION_STRING" in os.environ

    scenarios = ["compound_interest", "unit_conversion_recipe"]
    result = asyncio.run(modal_app.run_scenario_evaluation.local(str(version.version_id), scenarios))

    sim = uuid.UUID(result["simulation_id"])
    assert result["modal_call_id"].startswith("local-")
    simulation = query(
        warehouse,
        f"SELECT status, overall_score, modal_app_id, config_version_id FROM {t('simulations')} "
        "WHERE simulation_id = %s",
        [sim],
    )
    assert len(simulation) == 1
    assert simulation[0]["status"] == "completed"
    assert simulation[0]["modal_app_id"] == modal_app.APP_NAME
    assert simulation[0]["config_version_id"] == version.version_id
    assert float(simulation[0]["overall_score"]) == pytest.approx(1.0)
    outcomes = query(
        warehouse,
        f"SELECT outcome_id, scenario_id, status, modal_call_id FROM {t('outcomes')} WHERE simulation_id = %s "
        "ORDER BY scenario_id",
        [sim],
    )
    assert [(o["scenario_id"], o["status"]) for o in outcomes] == [(s, "success") for s in sorted(scenarios)]
    assert {o["modal_call_id"] for o in outcomes} == {result["modal_call_id"]}
    assert sorted(str(o["outcome_id"]) for o in outcomes) == sorted(result["outcome_ids"])
    tools = scalar(
        warehouse,
        f"SELECT count(*) FROM {t('tool_usage')} WHERE tool_name = 'calculator' AND outcome_id = ANY(%s)",
        [[o["outcome_id"] for o in outcomes]],
    )
    assert tools == 2


def test_modal_calculator_refuses_anything_but_arithmetic(modal_app) -> None:
    assert modal_app.calculator("2 ** 10 / 4") == 256.0
    with pytest.raises(ValueError, match="unsupported expression"):
        modal_app.calculator("__import__('os').getcwd()")
