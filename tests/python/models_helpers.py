"""Deterministic history for the dbt model tests, written with plain SQL, and result-set comparison.

Every generator takes a ``random.Random`` so the same seed writes the same rows (ids included). Times
are relative to a reference ``now`` and keep clear of the models' window edges (30, 90 and ~183 days),
so a view and a query evaluated a few seconds apart see the same rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal

import psycopg

from arc_eval import dbt

USER_ID = uuid.UUID("00000000-0000-0000-0000-0000000000aa")
STATUSES = ("success", "error", "timeout", "cancelled")
TOOLS = ("web_search", "http_request", "calculator", "code_interpreter", "file_reader")
CATEGORY_OF_STATUS = {"error": ("tool_error", "model_error", "validation_error"), "timeout": ("timeout",)}
MESSAGES = ("ToolTimeoutError: no answer", "RateLimitError: slow down", "ValidationError: bad output")
# dbt vars of the tests that compare rollups with the rows just written: the statistics rollups merge late
# rows and hold exactly the rows created before their watermark, which stays rollup_commit_margin behind
# the run (without the margin a run right after a write holds it too); rollup_statistics_reconcile then
# checks the whole history, not the last week.
NO_MARGIN = {"rollup_commit_margin": "0 seconds", "rollup_reconcile_window": "100 years"}
# Day offsets (from now) that data may use: clear of the 30/90/183-day window edges.
DAY_OFFSETS = (*range(0, 28), 40, 55, 70, 100, 130, 200, 260)


def raw() -> str:
    return dbt.raw_schema()


def new_uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def scenario_ids(conn: psycopg.Connection) -> list[str]:
    """The seeded scenarios, sorted."""
    return [r[0] for r in conn.execute(f"select scenario_id from {raw()}.scenarios order by scenario_id")]


def create_configuration(
    conn: psycopg.Connection, rng: random.Random, name: str, specs: Sequence[dict], created: dt.datetime
) -> list[uuid.UUID]:
    """Insert a configuration and one version per spec (numbered from 1); returns the version ids."""
    config_id = new_uuid(rng)
    conn.execute(
        f"insert into {raw()}.configurations (config_id, name, user_id, created_at, updated_at)"
        " values (%s, %s, %s, %s, %s)",
        (config_id, name, USER_ID, created, created),
    )
    version_ids = []
    for number, spec in enumerate(specs, start=1):
        version_id = new_uuid(rng)
        text = json.dumps(spec, sort_keys=True)
        conn.execute(
            f"insert into {raw()}.config_versions (version_id, config_id, version_number, raw_yaml,"
            " parsed_config, config_hash, created_at) values (%s, %s, %s, %s, %s::jsonb, %s, %s)",
            (version_id, config_id, number, text, text, hashlib.sha256(text.encode()).hexdigest(), created),
        )
        version_ids.append(version_id)
    return version_ids


def create_simulation(
    conn: psycopg.Connection,
    rng: random.Random,
    version_id: uuid.UUID,
    scenarios: Sequence[str],
    *,
    status: str,
    created: dt.datetime,
    completed: int | None = None,
) -> uuid.UUID:
    """Insert a simulation (completed ones get completed_at one hour after creation)."""
    simulation_id = new_uuid(rng)
    started = None if status == "pending" else created + dt.timedelta(seconds=5)
    finished = created + dt.timedelta(hours=1) if status == "completed" else None
    done = len(scenarios) if status == "completed" else (completed or 0)
    conn.execute(
        f"insert into {raw()}.simulations (simulation_id, config_version_id, scenario_set, simulation_name,"
        " status, total_scenarios, completed_scenarios, created_at, started_at, completed_at)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            simulation_id,
            version_id,
            list(scenarios),
            f"sim {simulation_id.hex[:6]}",
            status,
            len(scenarios),
            done,
            created,
            started,
            finished,
        ),
    )
    return simulation_id


def outcome_row(
    rng: random.Random,
    simulation_id: uuid.UUID,
    scenario_id: str,
    at: dt.datetime,
    *,
    status: str | None = None,
    reliability: float | None = None,
) -> dict:
    status = status or rng.choices(STATUSES, weights=(70, 15, 10, 5))[0]
    if reliability is None:
        reliability = round(rng.uniform(0.6, 1.0) if status == "success" else rng.uniform(0.0, 0.6), 3)
    return {
        "outcome_id": new_uuid(rng),
        "simulation_id": simulation_id,
        "scenario_id": scenario_id,
        "execution_time": at,
        "status": status,
        "reliability_score": reliability,
        "execution_time_ms": round(rng.uniform(200, 9000), 1),
        "tokens_used": rng.randint(100, 5000),
        "cost_usd": round(rng.uniform(0.001, 0.2), 4),
        "trajectory": json.dumps({"start_time": at.isoformat(), "status": status}),
        "retry_count": rng.choice((0, 0, 0, 1)),
    }


def tool_rows(rng: random.Random, outcome: dict) -> list[dict]:
    return [
        {
            "usage_id": new_uuid(rng),
            "outcome_id": outcome["outcome_id"],
            "execution_time": outcome["execution_time"],
            "tool_name": tool,
            "call_count": rng.randint(1, 6),
            "avg_duration_ms": round(rng.uniform(10, 3000), 1),
            "success_rate": rng.choice((1.0, 1.0, 0.75, 0.5, 0.0)),
            "total_cost_usd": round(rng.uniform(0, 0.01), 5),
        }
        for tool in rng.sample(TOOLS, rng.randint(1, 3))
    ]


def failure_row(rng: random.Random, outcome: dict, clusters: Sequence[uuid.UUID]) -> dict | None:
    categories = CATEGORY_OF_STATUS.get(outcome["status"])
    if not categories:
        return None
    clustered = bool(clusters) and rng.random() < 0.7
    return {
        "pattern_id": new_uuid(rng),
        "outcome_id": outcome["outcome_id"],
        "execution_time": outcome["execution_time"],
        "failure_type": "SimulatedFailure",
        "failure_category": rng.choice(categories),
        "error_message": rng.choice((*MESSAGES, None)),
        "pattern_cluster_id": rng.choice(clusters) if clustered else None,
        "cluster_confidence": round(rng.uniform(0.5, 1.0), 3) if clustered else None,
    }


def copy_rows(conn: psycopg.Connection, table: str, rows: Sequence[dict]) -> None:
    """COPY ``rows`` (dicts with the same keys) into the raw ``table``."""
    if not rows:
        return
    columns = list(rows[0])
    with conn.cursor().copy(f"copy {raw()}.{table} ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def write_outcomes(
    conn: psycopg.Connection, rng: random.Random, outcomes: Sequence[dict], clusters: Sequence[uuid.UUID]
) -> None:
    """Write outcomes with their tool usage and failures (same execution_time as the outcome)."""
    tools: list[dict] = []
    failures: list[dict] = []
    for outcome in outcomes:
        tools += tool_rows(rng, outcome)
        failure = failure_row(rng, outcome, clusters)
        if failure:
            failures.append(failure)
    copy_rows(conn, "outcomes", outcomes)
    copy_rows(conn, "tool_usage", tools)
    copy_rows(conn, "failure_patterns", failures)


def load_history(conninfo: str, *, seed: int = 7, now: dt.datetime | None = None) -> dict:
    """Write a small mixed history: 3 configurations x 3 versions, completed, running and pending
    simulations, outcomes over ~260 days with tools and failures, and a recommender session with
    recommendations in every review state. Returns counts of what it wrote."""
    rng = random.Random(seed)
    now = now or dt.datetime.now(dt.timezone.utc)
    start = now - dt.timedelta(days=300)
    clusters = [new_uuid(rng) for _ in range(4)]
    outcomes: list[dict] = []
    with psycopg.connect(conninfo) as conn:
        scenarios = scenario_ids(conn)[:10]
        version_ids: list[uuid.UUID] = []
        for c, model in enumerate(("gpt-4o", "gpt-4o-mini", "claude-3-5-haiku")):
            specs = [
                {"model": model, "temperature": round(0.2 + 0.3 * v, 1), "tools": list(TOOLS[:3])}
                for v in range(3)
            ]
            version_ids += create_configuration(conn, rng, f"agent_{c}", specs, start)
        for version_id in version_ids:
            for _ in range(2):
                sim = create_simulation(conn, rng, version_id, scenarios, status="completed", created=start)
                for scenario in scenarios:
                    day = rng.choice(DAY_OFFSETS)
                    at = now - dt.timedelta(days=day, hours=rng.uniform(1, 20))
                    outcomes.append(outcome_row(rng, sim, scenario, at))
        for status, done in (("running", 3), ("running", 1), ("pending", 0)):
            sim = create_simulation(
                conn,
                rng,
                version_ids[0],
                scenarios[:5],
                status=status,
                created=now - dt.timedelta(hours=rng.uniform(2, 5)),
                completed=done,
            )
            for scenario in scenarios[:done]:
                outcomes.append(
                    outcome_row(rng, sim, scenario, now - dt.timedelta(minutes=rng.uniform(5, 60)))
                )
        write_outcomes(conn, rng, outcomes, clusters)
        session_id = new_uuid(rng)
        conn.execute(
            f"insert into {raw()}.llm_recommendation_sessions (session_id, user_id, analysis_start_time,"
            " analysis_end_time, data_window_start, data_window_end, llm_model, total_outcomes_analyzed)"
            " values (%s, %s, %s, %s, %s, %s, 'rules', %s)",
            (
                session_id,
                USER_ID,
                now - dt.timedelta(days=2),
                now - dt.timedelta(days=2),
                now - dt.timedelta(days=9),
                now - dt.timedelta(days=2),
                len(outcomes),
            ),
        )
        for i in range(16):
            applied = i % 7 == 3
            conn.execute(
                f"insert into {raw()}.recommendations (recommendation_id, source_type, source_id,"
                " recommendation_type, description, confidence, applied, applied_at, created_at, session_id,"
                " review_status) values (%s, 'time_series_analysis', %s, 'config_change', %s, %s, %s, %s, %s,"
                " %s, %s)",
                (
                    new_uuid(rng),
                    session_id,
                    f"recommendation number {i}",
                    round(rng.uniform(0.5, 1.0), 2),
                    applied,
                    now if applied else None,
                    now - dt.timedelta(days=2, minutes=i),
                    None if i % 5 == 4 else session_id,
                    "approved" if applied else ("rejected" if i % 6 == 5 else "pending"),
                ),
            )
    return {"outcomes": len(outcomes), "versions": len(version_ids)}


def normalise(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def _sort_key(row: Sequence[object]) -> tuple:
    return tuple("" if isinstance(v, float) or v is None else str(v) for v in row)


def assert_same_rows(
    actual: Iterable[Sequence[object]],
    expected: Iterable[Sequence[object]],
    *,
    rel: float = 1e-5,
    abs_tol: float = 1e-9,
    label: str = "",
) -> None:
    """The two row sets are equal, order ignored; numbers compared with a relative tolerance."""
    a = sorted(([normalise(v) for v in row] for row in actual), key=_sort_key)
    e = sorted(([normalise(v) for v in row] for row in expected), key=_sort_key)
    assert len(a) == len(e), f"{label}: {len(a)} rows from the model, {len(e)} from the reference"
    for got, want in zip(a, e, strict=True):
        assert len(got) == len(want), f"{label}: column count differs: {got} vs {want}"
        for x, y in zip(got, want, strict=True):
            if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
                assert math.isclose(x, y, rel_tol=rel, abs_tol=abs_tol), f"{label}: {got} != {want}"
            else:
                assert x == y, f"{label}: {got} != {want}"
