"""The seed's quick start for sandbox code (section 10F), as written there, with the thin install.

    pip install arc-eval          # the loader alone: psycopg, psycopg-pool, PyYAML
    TIMESCALEDB_CONNECTION_STRING='postgresql://...' python examples/quickstart.py

The database must hold the raw schema (``arc-eval init``, from an install with the ``warehouse`` extra).
Prints the simulation id and the number of outcomes recorded; exits non-zero if any step fails.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from dataclasses import dataclass, field

from arc_eval_db import ArcEvalDBClient, ConfigurationManager

APP_ID = "arc-eval-quickstart"  # in a Modal function: the app's id


@dataclass
class ScenarioResult:
    scenario_id: str
    status: str
    score: float
    duration: float
    tokens: int
    cost: float
    trajectory: dict = field(default_factory=dict)


async def main() -> int:
    dsn = os.environ["TIMESCALEDB_CONNECTION_STRING"]
    configs = ConfigurationManager(
        dsn, config_name=f"quickstart-{uuid.uuid4().hex[:8]}", user_id=uuid.uuid4()
    )
    async with configs:
        config_id = await configs.create_config_version({"model": "gpt-4o-mini", "temperature": 0.2})
    scenario_list = ["compound_interest", "unit_conversion_recipe"]
    results = [
        ScenarioResult("compound_interest", "success", 0.95, 2400.0, 1800, 0.012, {"answer": 6847.26}),
        ScenarioResult("unit_conversion_recipe", "error", 0.2, 3100.0, 2100, 0.015, {"answer": None}),
    ]
    call_id = f"quickstart-{uuid.uuid4().hex[:12]}"  # in a Modal function: modal.current_function_call_id()

    # 2. Initialize (section 10F)
    db_client = ArcEvalDBClient(os.environ["TIMESCALEDB_CONNECTION_STRING"])
    await db_client.initialize()
    try:
        # 3. Record execution data
        simulation_id = await db_client.record_execution_start(
            {"config_version_id": config_id, "scenario_set": scenario_list, "modal_app_id": APP_ID}
        )
        for scenario_result in results:
            await db_client.record_execution_outcome(
                {
                    "simulation_id": simulation_id,
                    "scenario_id": scenario_result.scenario_id,
                    "status": scenario_result.status,
                    "reliability_score": scenario_result.score,
                    "execution_time_ms": scenario_result.duration,
                    "tokens_used": scenario_result.tokens,
                    "cost_usd": scenario_result.cost,
                    "trajectory": scenario_result.trajectory,
                    "modal_call_id": call_id,
                }
            )
        simulation = await db_client.db.get_simulation(simulation_id)
    finally:
        await db_client.close()
    print(f"quickstart: simulation {simulation_id} {simulation['status']}, {len(results)} outcomes recorded")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
