"""Helpers for the loader tests: a client on the session warehouse, fresh configurations and simulations."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from arc_eval.connection import Target
from arc_eval.dbt import raw_schema

RAW = raw_schema()


def t(table: str) -> str:
    return f'"{RAW}"."{table}"'


def query(target: Target, sql: str, params: Any = None) -> list[dict[str, Any]]:
    with psycopg.connect(target.conninfo, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def scalar(target: Target, sql: str, params: Any = None) -> Any:
    with psycopg.connect(target.conninfo) as conn:
        row = conn.execute(sql, params).fetchone()
        return None if row is None else row[0]


def scenario_ids(target: Target, n: int = 3) -> list[str]:
    rows = query(
        target, f"SELECT scenario_id FROM {t('scenarios')} WHERE is_active ORDER BY scenario_id LIMIT %s", [n]
    )
    assert len(rows) == n, "the warehouse fixture seeds scenarios"
    return [r["scenario_id"] for r in rows]


def unique_name(prefix: str = "cfg") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


YAML_V1 = """\
model: gpt-4o
temperature: 0.2
system_prompt: You are careful.
tools: [web_search, calculator]
tool_config:
  web_search:
    timeout_ms: 8000
"""


def trajectory(status: str = "success", size: int = 0) -> dict[str, Any]:
    return {
        "start_time": dt.datetime.now(dt.timezone.utc).isoformat(),
        "status": status,
        "steps": ["x" * size],
    }


def outcome_kwargs(simulation_id: uuid.UUID, scenario_id: str, **over: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "simulation_id": simulation_id,
        "scenario_id": scenario_id,
        "status": "success",
        "reliability_score": 0.9,
        "execution_time_ms": 1200.0,
        "tokens_used": 321,
        "cost_usd": 0.012,
        "trajectory": trajectory(),
    }
    values.update(over)
    return values


def wait_until(condition: Callable[[], bool], deadline_s: float = 30.0, step: float = 0.05) -> bool:
    """Poll ``condition`` until true or the deadline passes (no assertion on speed)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return condition()
