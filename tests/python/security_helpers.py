"""A warehouse with the four roles in use: two writer logins of two tenants, a reader and a reviewer.

Tenant A's and tenant B's histories are written through the loader, each by its own writer login;
recommendations on tenant A's configuration are written by the owner (as the recommender does).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from arc_eval import dbt, roles
from arc_eval.client import ArcEval
from arc_eval.connection import Target

RAW = dbt.raw_schema()
USER_A = uuid.UUID("aaaaaaaa-1111-4111-8111-111111111111")
USER_B = uuid.UUID("bbbbbbbb-2222-4222-8222-222222222222")
REVIEWER_USER = uuid.UUID("cccccccc-3333-4333-8333-333333333333")


@dataclasses.dataclass
class Tenant:
    dsn: str
    config_id: uuid.UUID
    config_name: str
    version_id: uuid.UUID
    simulation_id: uuid.UUID
    outcome_id: uuid.UUID
    scenario_id: str


@dataclasses.dataclass
class World:
    owner: Target
    logins: dict[str, str]  # principal -> conninfo
    names: dict[str, str]  # principal -> login name
    a: Tenant
    b: Tenant
    recommendation_id: uuid.UUID


def login_dsn(target: Target, principal: roles.Principal) -> str:
    params = dict(conninfo_to_dict(target.conninfo))
    params["user"] = principal.name
    params["password"] = principal.password or ""
    return make_conninfo(**params)


def write_history(dsn: str, name: str, user: uuid.UUID, scenarios: list[str]) -> Tenant:
    """A configuration, a version, a finished simulation with one failed outcome, through the loader."""
    with ArcEval(dsn, flush_interval=None, pool_min=1, pool_max=2) as db:
        config_id = db.create_configuration(name, user)
        db.create_config_version(config_id, {"model": "gpt-4o", "temperature": 0.2, "timeout_ms": 1000})
        version = db.create_config_version(
            config_id, {"model": "gpt-4o", "temperature": 0.3, "timeout_ms": 1000}
        )
        sim = db.start_simulation(version.version_id, scenarios, f"{name} run")
        at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        outcome = db.record_outcome(
            simulation_id=sim,
            scenario_id=scenarios[0],
            status="error",
            reliability_score=0.25,
            execution_time_ms=900.0,
            tokens_used=300,
            cost_usd=0.01,
            trajectory={"start_time": at.isoformat(), "status": "error"},
            execution_time=at,
            error_category="tool_error",
        )
        db.record_tool_usage(
            outcome_id=outcome, tool_name="search", call_count=2, avg_duration_ms=5.0, success_rate=0.5
        )
        db.record_failure(
            outcome_id=outcome, failure_type="tool", failure_category="tool_error", error_message="boom"
        )
        db.flush()
        db.finish_simulation(sim)
        assert db.dead_letter_count == 0
    return Tenant(dsn, config_id, name, version.version_id, sim, outcome, scenarios[0])


def add_recommendation(
    owner: Target, tenant: Tenant, patch: str = "temperature: 0.4\n", confidence: float = 0.7
) -> uuid.UUID:
    """A pending recommendation on ``tenant``'s configuration (and its session), written by the owner."""
    rec_id, session_id = uuid.uuid4(), uuid.uuid4()
    now = dt.datetime.now(dt.timezone.utc)
    with psycopg.connect(owner.conninfo) as conn:
        conn.execute(
            f"insert into {RAW}.llm_recommendation_sessions (session_id, user_id, analysis_start_time, analysis_end_time,"
            " data_window_start, data_window_end, llm_model, total_outcomes_analyzed) values (%s, %s, %s, %s, %s, %s, 'rules', 1)",
            [session_id, USER_A, now, now, now - dt.timedelta(days=7), now],
        )
        conn.execute(
            f"insert into {RAW}.recommendations (recommendation_id, source_type, source_id, recommendation_type, description,"
            " suggested_yaml_changes, impact_estimate, confidence, session_id, config_id, base_version_id)"
            " values (%s, 'simulation', %s, 'config_change', 'Lower the temperature a little', %s,"
            ' \'{"metric": "reliability", "expected_delta": 0.05}\', %s, %s, %s,'
            # made against the configuration's current version, as the recommender does
            f" (select latest_version_id from {RAW}.configurations where config_id = %s))",
            [
                rec_id,
                tenant.simulation_id,
                patch,
                confidence,
                session_id,
                tenant.config_id,
                tenant.config_id,
            ],
        )
    return rec_id


def build_world(target: Target) -> tuple[World, list[str]]:
    """Principals and histories on an initialised warehouse. Returns the world and the logins to drop."""
    suffix = uuid.uuid4().hex[:8]
    made: dict[str, roles.Principal] = {}
    with psycopg.connect(target.conninfo) as conn:
        made["writer_a"] = roles.add_principal(conn, f"t_writer_a_{suffix}", "writer", USER_A)
        made["writer_b"] = roles.add_principal(conn, f"t_writer_b_{suffix}", "writer", USER_B)
        made["reader"] = roles.add_principal(conn, f"t_reader_{suffix}", "reader")
        made["reviewer"] = roles.add_principal(conn, f"t_reviewer_{suffix}", "reviewer", REVIEWER_USER)
        scenarios = [
            r[0]
            for r in conn.execute(
                f"select scenario_id from {RAW}.scenarios where is_active order by 1 limit 2"
            )
        ]
    logins = {k: login_dsn(target, p) for k, p in made.items()}
    a = write_history(logins["writer_a"], f"tenant-a-{suffix}", USER_A, scenarios)
    b = write_history(logins["writer_b"], f"tenant-b-{suffix}", USER_B, scenarios)
    rec = add_recommendation(target, a)
    world = World(target, logins, {k: p.name for k, p in made.items()}, a, b, rec)
    return world, [p.name for p in made.values()]


def drop_logins(target: Target, names: list[str]) -> None:
    with psycopg.connect(target.conninfo) as conn:
        for name in names:
            roles.remove_principal(conn, name)
