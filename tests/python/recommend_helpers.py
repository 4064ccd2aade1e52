"""A small, deterministic evaluation history written through the loader API, with the demo's patterns.

- ``support-bot``: v2 raises temperature 0.3 -> 0.9 and every one of 6 scenarios loses reliability.
- ``research-bot``: v2 cuts ``tool_config.web_search.timeout_ms`` 8000 -> 2500; web_search then fails.
- ``review-bot``: v2 switches gpt-4o -> gpt-4-turbo at four times the cost and equal reliability, and one
  scenario times out on v2; another scenario never fails.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg
import yaml

from arc_eval import dbt
from arc_eval.client import ArcEval

OWNER = uuid.UUID("11111111-1111-4111-8111-111111111111")


def _config(model: str, temperature: float, tools: list[str], **extra: Any) -> str:
    return yaml.safe_dump(
        {
            "model": model,
            "temperature": temperature,
            "tools": tools,
            "timeout_ms": 120000,
            "max_retries": 3,
            **extra,
        },
        sort_keys=False,
    )


def scenario_ids(conninfo: str, n: int) -> list[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            f'select scenario_id from "{dbt.raw_schema()}".scenarios where is_active order by scenario_id limit %s',
            (n,),
        ).fetchall()
    return [r[0] for r in rows]


def build_history(conninfo: str) -> dict[str, Any]:
    """Write the history; returns config ids and version ids by name."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    scenarios = scenario_ids(conninfo, 6)
    ids: dict[str, Any] = {}
    with ArcEval(conninfo, flush_interval=None, pool_min=1, pool_max=2) as db:

        def run(version_id, scen: list[str], day: float, outcome) -> None:
            started = now - dt.timedelta(days=day)
            sim = db.start_simulation(version_id, scen, f"sim {day}", started_at=started)
            for i, scenario in enumerate(scen):
                at = started + dt.timedelta(minutes=i + 1)
                status, reliability, cost, tools, failure = outcome(i, scenario)
                oid = db.record_outcome(
                    simulation_id=sim,
                    scenario_id=scenario,
                    status=status,
                    reliability_score=reliability,
                    execution_time_ms=30000.0,
                    tokens_used=1000,
                    cost_usd=cost,
                    trajectory={"start_time": at.isoformat(), "status": status},
                    execution_time=at,
                    error_category=failure[0] if failure else None,
                )
                for name, rate in tools:
                    db.record_tool_usage(
                        outcome_id=oid,
                        execution_time=at,
                        tool_name=name,
                        call_count=2,
                        avg_duration_ms=800.0,
                        success_rate=rate,
                    )
                if failure:
                    db.record_failure(
                        outcome_id=oid,
                        execution_time=at,
                        failure_type=failure[0],
                        failure_category=failure[0],
                        error_message=failure[1],
                    )
            db.flush()
            db.finish_simulation(sim, "completed", completed_at=started + dt.timedelta(minutes=len(scen) + 1))

        # support-bot: temperature increase, reliability down on all six scenarios.
        support = db.create_configuration("support-bot", OWNER)
        s1 = db.create_config_version(support, _config("gpt-4o-mini", 0.3, ["kb_search"]), user_id=OWNER)
        s2 = db.create_config_version(support, _config("gpt-4o-mini", 0.9, ["kb_search"]), user_id=OWNER)
        for day in (6, 5.5):
            run(
                s1.version_id,
                scenarios,
                day,
                lambda i, s: ("success", 0.9 - i * 0.01, 0.002, [("kb_search", 1.0)], None),
            )
        for day in (3, 2.5):
            run(
                s2.version_id,
                scenarios,
                day,
                lambda i, s: (
                    "error" if i % 2 else "success",
                    0.5 - i * 0.01,
                    0.002,
                    [("kb_search", 1.0)],
                    ("validation_error", "ValidationError: answer is not valid JSON") if i % 2 else None,
                ),
            )

        # research-bot: web_search timeout cut, then the tool fails.
        research = db.create_configuration("research-bot", OWNER)
        cfg = {"web_search": {"timeout_ms": 8000}}
        r1 = db.create_config_version(
            research, _config("gpt-4o", 0.2, ["web_search"], tool_config=cfg), user_id=OWNER
        )
        cfg = {"web_search": {"timeout_ms": 2500}}
        r2 = db.create_config_version(
            research, _config("gpt-4o", 0.2, ["web_search"], tool_config=cfg), user_id=OWNER
        )
        four = scenarios[:4]
        for day in (6, 5):
            run(r1.version_id, four, day, lambda i, s: ("success", 0.85, 0.01, [("web_search", 0.97)], None))
        for day in (3, 2):
            run(
                r2.version_id,
                four,
                day,
                lambda i, s: (
                    "error",
                    0.4,
                    0.01,
                    [("web_search", 0.5)],
                    ("tool_error", "ToolTimeoutError: web_search did not answer within 2500 ms"),
                ),
            )

        # review-bot: four times the cost for the same reliability; one scenario times out on v2.
        review = db.create_configuration("review-bot", OWNER)
        v1 = db.create_config_version(review, _config("gpt-4o", 0.1, ["repo_read"]), user_id=OWNER)
        v2 = db.create_config_version(review, _config("gpt-4-turbo", 0.1, ["repo_read"]), user_id=OWNER)
        for day in (6, 5.8, 5.6):
            run(v1.version_id, four, day, lambda i, s: ("success", 0.88, 0.01, [("repo_read", 1.0)], None))
        for day in (3, 2.8, 2.6):
            run(
                v2.version_id,
                four,
                day,
                lambda i, s: (
                    ("timeout", 0.0, 0.04, [("repo_read", 1.0)], ("timeout", "run exceeded 120000 ms"))
                    if i == 3
                    else ("success", 0.89, 0.04, [("repo_read", 1.0)], None)
                ),
            )
    ids.update(
        support=support,
        research=research,
        review=review,
        support_v1=s1.version_id,
        support_v2=s2.version_id,
        research_v1=r1.version_id,
        research_v2=r2.version_id,
        review_v1=v1.version_id,
        review_v2=v2.version_id,
        scenarios=scenarios,
    )
    return ids
