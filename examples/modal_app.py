"""A Modal sandbox that records its run in arc-eval: the seed's sections 8B and 10F with the real ``modal`` SDK.

One Modal function runs a configuration version over scenarios and reports each step as the seed's
events (``ExecutionEventHandler``): the simulation starts, each scenario's outcome is recorded with its
tool calls and the Modal call id, and the simulation finishes. The DSN comes from a Modal secret.

Deploy and run (a Modal account; the image installs the thin ``arc-eval`` package, the loader alone)::

    modal secret create timescaledb-credentials TIMESCALEDB_CONNECTION_STRING='postgresql://...'
    # through PgBouncer in transaction mode, add: ARC_EVAL_POOLER=transaction
    modal run examples/modal_app.py --config-version-id <uuid> --scenarios compound_interest,unit_conversion_recipe

The function body needs no Modal account: ``run_scenario_evaluation.local(...)`` runs it in this process
(the test suite does, against its test server), with ``TIMESCALEDB_CONNECTION_STRING`` in the environment.
"""

from __future__ import annotations

import ast
import datetime as dt
import operator
import os
import time
import uuid

import modal

APP_NAME = "arc-eval-sandbox"
SECRET_NAME = "timescaledb-credentials"  # holds TIMESCALEDB_CONNECTION_STRING (seed section 4B)

app = modal.App(APP_NAME)
image = modal.Image.debian_slim(python_version="3.11").pip_install("arc-eval")

# What each scenario asks of the agent here: an arithmetic expression and its expected value.
TASKS = {
    "compound_interest": ("5000 * (1 + 0.045 / 12) ** (12 * 7)", 6847.26),
    "unit_conversion_recipe": ("200 * 10 / 4 / 120", 4.17),
}
_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


def calculator(expression: str) -> float:
    """The agent's one tool: evaluates + - * / ** over numbers (no names, no calls)."""

    def visit(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return visit(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](visit(node.left), visit(node.right))
        raise ValueError(f"unsupported expression: {ast.dump(node)}")

    return visit(ast.parse(expression, mode="eval"))


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@app.function(image=image, secrets=[modal.Secret.from_name(SECRET_NAME)], timeout=300, retries=3)
async def run_scenario_evaluation(config_version_id: str, scenario_ids: list[str]) -> dict:
    """Run the scenarios and record the simulation; returns its id, the Modal call id and the outcome ids."""
    from arc_eval_db import ExecutionEventHandler

    call_id = modal.current_function_call_id() or f"local-{uuid.uuid4()}"
    simulation_id = str(uuid.uuid4())
    handler = ExecutionEventHandler(connection_string=os.environ["TIMESCALEDB_CONNECTION_STRING"])
    outcome_ids = []
    scores = []
    try:
        await handler.handle_execution_started(
            {
                "simulation_id": simulation_id,
                "config_version_id": config_version_id,
                "scenario_set": scenario_ids,
                "modal_app_id": app.app_id or APP_NAME,
                "timestamp": now(),
            }
        )
        for scenario_id in scenario_ids:
            expression, expected = TASKS[scenario_id]
            started = time.perf_counter()
            answer = calculator(expression)
            duration_ms = (time.perf_counter() - started) * 1000
            ok = abs(answer - expected) <= 0.01 * abs(expected)
            await handler.handle_tool_called(
                {
                    "simulation_id": simulation_id,
                    "scenario_id": scenario_id,
                    "tool_name": "calculator",
                    "duration_ms": duration_ms,
                    "success": True,
                }
            )
            score = 1.0 if ok else 0.0
            scores.append(score)
            outcome_ids.append(
                await handler.handle_scenario_completed(
                    {
                        "simulation_id": simulation_id,
                        "scenario_id": scenario_id,
                        "timestamp": now(),
                        "status": "success" if ok else "error",
                        "reliability_score": score,
                        "tokens_used": 0,
                        "cost_usd": 0.0,
                        "trajectory": {
                            "steps": [{"tool": "calculator", "input": expression, "output": answer}],
                            "answer": round(answer, 2),
                        },
                        "modal_call_id": call_id,
                    }
                )
            )
        await handler.handle_execution_completed(
            {
                "simulation_id": simulation_id,
                "status": "completed",
                "timestamp": now(),
                "overall_score": sum(scores) / len(scores),
            }
        )
    finally:
        await handler.close()
    return {"simulation_id": simulation_id, "modal_call_id": call_id, "outcome_ids": outcome_ids}


@app.local_entrypoint()
def main(config_version_id: str, scenarios: str = "compound_interest,unit_conversion_recipe") -> None:
    result = run_scenario_evaluation.remote(config_version_id, scenarios.split(","))
    print(result)
