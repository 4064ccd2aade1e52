"""Roles, grants and tenant isolation on a real server (docs/security.md).

The role matrix: for writer (tenant A), writer (tenant B), reader and reviewer logins, every raw table
and every operation is tried on tenant A's rows (in a transaction rolled back); what succeeds must be
exactly the documented set. Then the loader, given a writer's DSN, is refused everything else, each
time with a clear error.
"""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from arc_eval import cli, dbt, roles
from arc_eval.client import ArcEval
from arc_eval.connection import Target
from arc_eval.core import NotFoundError, ValidationError
from arc_eval.recommend import review
from security_helpers import RAW, USER_B, World, build_world, drop_logins, login_dsn

pytestmark = pytest.mark.slow

OPERATIONS = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "DDL")
READABLE = (
    "configurations",
    "config_versions",
    "config_diffs",
    "scenarios",
    "simulations",
    "simulations_scenarios",
    "outcomes",
    "failure_patterns",
    "tool_usage",
    "llm_recommendation_sessions",
    "recommendations",
    "ingest_dead_letters",
)
# The documented matrix (docs/security.md), on tenant A's rows.
EXPECTED = {
    "writer_a": {
        "configurations": {"SELECT", "INSERT", "UPDATE"},
        "config_versions": {"SELECT", "INSERT"},
        "config_diffs": {"SELECT", "INSERT"},
        "scenarios": {"SELECT"},
        "simulations": {"SELECT", "INSERT", "UPDATE"},
        "simulations_scenarios": {"SELECT", "INSERT", "UPDATE"},
        "outcomes": {"SELECT", "INSERT"},
        "tool_usage": {"SELECT", "INSERT"},
        "failure_patterns": {"SELECT", "INSERT"},
        "ingest_dead_letters": {"INSERT"},
    },
    "writer_b": {"scenarios": {"SELECT"}, "ingest_dead_letters": {"INSERT"}},
    "reader": {table: {"SELECT"} for table in READABLE},
    "reviewer": {table: {"SELECT"} for table in READABLE},
}
# The column an UPDATE probe sets to itself.
UPDATE_COLUMN = {
    "arc_eval_principals": "created_at",
    "audit_log": "user_agent",
    "config_diffs": "change_summary",
    "config_versions": "modal_deployment_id",
    "configurations": "updated_at",
    "failure_patterns": "similar_failures_count",
    "ingest_dead_letters": "error_message",
    "ingest_late_hours": "created_at",
    "llm_recommendation_sessions": "error_message",
    "outcomes": "metrics",
    "recommendations": "feedback_score",
    "scenarios": "name",
    "simulations": "status",
    "simulations_scenarios": "status",
    "tool_usage": "tool_sequence",
}


@pytest.fixture(scope="module")
def world(make_database):
    target = make_database("sec")
    dbt.init_warehouse(target)
    built, names = build_world(target)
    yield built
    drop_logins(target, names)


def _probes(world: World) -> dict[str, tuple[str, list]]:
    """For each raw table: a WHERE clause selecting one of tenant A's rows."""
    a = world.a
    return {
        "configurations": ("config_id = %s", [a.config_id]),
        "config_versions": ("version_id = %s", [a.version_id]),
        "config_diffs": ("version_after = %s", [a.version_id]),
        "scenarios": ("scenario_id = %s", [a.scenario_id]),
        "simulations": ("simulation_id = %s", [a.simulation_id]),
        "simulations_scenarios": (
            "simulation_id = %s and scenario_id = %s",
            [a.simulation_id, a.scenario_id],
        ),
        "outcomes": ("outcome_id = %s", [a.outcome_id]),
        "tool_usage": ("outcome_id = %s", [a.outcome_id]),
        "failure_patterns": ("outcome_id = %s", [a.outcome_id]),
        "llm_recommendation_sessions": (
            f"session_id = (select session_id from {RAW}.recommendations where recommendation_id = %s)",
            [world.recommendation_id],
        ),
        "recommendations": ("recommendation_id = %s", [world.recommendation_id]),
        "audit_log": ("table_name = 'configurations' and new_data ->> 'config_id' = %s", [str(a.config_id)]),
        "ingest_dead_letters": ("target_table = 'probe'", []),
        "arc_eval_principals": ("role_name = %s", [world.names["writer_a"]]),
        "ingest_late_hours": (
            "source_table = %s and kind = 'logging started'",
            [f"{RAW}.outcomes"],
        ),
    }


def _copy_of(table: str, row: dict, spare_scenario: str) -> dict:
    """The row with a new key (and whatever else must differ to be insertable)."""
    new = dict(row)
    key = {
        "configurations": "config_id",
        "config_versions": "version_id",
        "config_diffs": "diff_id",
        "simulations": "simulation_id",
        "outcomes": "outcome_id",
        "tool_usage": "usage_id",
        "failure_patterns": "pattern_id",
        "llm_recommendation_sessions": "session_id",
        "recommendations": "recommendation_id",
        "audit_log": "log_id",
        "ingest_dead_letters": "dead_letter_id",
    }.get(table)
    if key:
        new[key] = str(uuid.uuid4())
    suffix = uuid.uuid4().hex[:8]
    if table == "configurations":
        new.update(name=f"probe {suffix}", latest_version_id=None)
    elif table == "config_versions":
        new["version_number"] = row["version_number"] + 1000
    elif table == "scenarios":
        new["scenario_id"] = f"probe_{suffix}"
    elif table == "simulations_scenarios":
        new["scenario_id"] = spare_scenario
    elif table == "arc_eval_principals":
        new["role_name"] = f"probe_{suffix}"
    return new


def _attempt(conn: psycopg.Connection, op: str, statement: str, params: list) -> str:
    """'yes' if the operation did its work, 'no' if refused for privilege or policy, else 'error: ...'."""
    try:
        with conn.transaction(force_rollback=True):
            cur = conn.execute(statement, params)
            if op == "SELECT":
                return "yes" if cur.fetchone()[0] > 0 else "no"
            if op in ("INSERT", "UPDATE", "DELETE"):
                return "yes" if cur.rowcount >= 1 else "no"
            return "yes"
    except psycopg.errors.InsufficientPrivilege:
        return "no"
    except psycopg.Error as exc:
        return f"error: {exc.sqlstate} {exc.diag.message_primary}"


def observed_matrix(world: World) -> dict[str, dict[str, dict[str, str]]]:
    probes = _probes(world)
    with psycopg.connect(world.owner.conninfo, autocommit=True) as owner:
        owner.execute(
            f"insert into {RAW}.ingest_dead_letters (target_table, payload, error_message) values ('probe', '{{}}', 'probe')"
        )
        rows = {}
        for table, (where, params) in probes.items():
            found = owner.execute(
                f"select to_jsonb(t) from {RAW}.{table} t where {where} limit 1", params
            ).fetchone()
            assert found is not None, f"no probe row in {table}"
            rows[table] = found[0]
        spare = owner.execute(
            f"select scenario_id from {RAW}.scenarios where scenario_id <> all(%s) limit 1",
            [list(rows["simulations"]["scenario_set"])],
        ).fetchone()[0]
    result: dict[str, dict[str, dict[str, str]]] = {}
    for principal, dsn in world.logins.items():
        result[principal] = {}
        with psycopg.connect(dsn, autocommit=True) as conn:
            for table, (where, params) in probes.items():
                t = f"{RAW}.{table}"
                column = UPDATE_COLUMN[table]
                statements = {
                    "SELECT": (f"select count(*) from {t} where {where}", params),
                    "INSERT": (
                        f"insert into {t} select * from jsonb_populate_record(null::{t}, %s)",
                        [Jsonb(_copy_of(table, rows[table], spare))],
                    ),
                    "UPDATE": (f"update {t} set {column} = {column} where {where}", params),
                    "DELETE": (f"delete from {t} where {where}", params),
                    "TRUNCATE": (f"truncate {t}", []),
                    "DDL": (f"alter table {t} add column arc_eval_probe integer", []),
                }
                result[principal][table] = {op: _attempt(conn, op, *statements[op]) for op in OPERATIONS}
    return result


def test_role_matrix_is_exactly_as_documented(world, capsys):
    observed = observed_matrix(world)
    unexpected = []
    tables = sorted(observed["writer_a"])
    lines = [f"{'table':28} " + " ".join(f"{p:14}" for p in observed)]
    for table in tables:
        cells = []
        for principal, by_table in observed.items():
            allowed = {op for op, got in by_table[table].items() if got == "yes"}
            expected = EXPECTED[principal].get(table, set())
            for op, got in by_table[table].items():
                if got.startswith("error") or (got == "yes") != (op in expected):
                    unexpected.append(f"{principal} {op} {table}: {got} (documented: {op in expected})")
            cells.append(" ".join(op[0] if op != "DDL" else "X" for op in OPERATIONS if op in allowed) or "-")
        lines.append(f"{table:28} " + " ".join(f"{c:14}" for c in cells))
    with capsys.disabled():
        print("\nrole matrix on tenant A's rows (S select, I insert, U update, D delete, T truncate, X DDL):")
        print("\n".join(lines))
        print(f"unexpected permissions: {len(unexpected)}")
        for line in unexpected:
            print("  " + line)
    assert unexpected == []


def test_loader_with_a_writer_dsn_is_refused_everything_else(world):
    a, b = world.a, world.b
    with ArcEval(world.logins["writer_a"], flush_interval=None, pool_min=1, pool_max=1) as db:
        # Tenant B's rows are invisible, so cannot be read or used.
        with pytest.raises(NotFoundError):
            db.get_active_config(b.config_name)
        assert {c["config_name"] for c in db.get_active_configurations()} == {a.config_name}
        with pytest.raises(ValidationError, match="version_id"):
            db.start_simulation(b.version_id, [b.scenario_id])
        assert db.get_simulation(b.simulation_id) is None
        # A row under tenant B is refused by row-level security: dead-lettered, costing only itself.
        db.record_outcome(
            simulation_id=b.simulation_id,
            scenario_id=b.scenario_id,
            status="success",
            reliability_score=1.0,
            execution_time_ms=1.0,
            tokens_used=1,
            cost_usd=0.0,
            trajectory={"start_time": "now", "status": "success"},
        )
        own = db.record_outcome(
            simulation_id=a.simulation_id,
            scenario_id=a.scenario_id,
            status="success",
            reliability_score=1.0,
            execution_time_ms=1.0,
            tokens_used=1,
            cost_usd=0.0,
            trajectory={"start_time": "now", "status": "success"},
        )
        refused = [d for result in db.flush() for d in result.dead_letters]
        assert len(refused) == 1 and "row-level security" in refused[0][1] and refused[0][2] == "42501"
    with psycopg.connect(world.logins["writer_a"]) as conn:  # the writer sees its own row landed
        assert (
            conn.execute(f"select count(*) from {RAW}.outcomes where outcome_id = %s", [own]).fetchone()[0]
            == 1
        )
    with ArcEval(world.logins["writer_a"], flush_interval=None, pool_min=1, pool_max=1) as db:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            db.create_configuration("stolen name", USER_B)
        # No review bypass through the loader API.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security policy"):
            db.create_config_version(
                a.config_id, {"model": "gpt-4o", "temperature": 1.5}, "llm_recommendation"
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.create_config_version(
                a.config_id,
                {"model": "gpt-4o", "temperature": 1.6},
                approval_status="approved",
                approved_by=USER_B,
            )
    with psycopg.connect(world.logins["writer_a"], autocommit=True) as conn:
        assert (
            conn.execute(
                f"select count(*) from {RAW}.outcomes where simulation_id = %s", [b.simulation_id]
            ).fetchone()[0]
            == 0
        )
        with pytest.raises(
            review.ReviewError, match="permission denied for function arc_eval_review_approve"
        ):
            review.approve(
                conn,
                world.recommendation_id,
                patch_sha256=review.patch_sha256("x"),
                base_version_id=a.version_id,
            )
        refusals = {
            f"update {RAW}.recommendations set review_status = 'approved'": "permission denied for table recommendations",
            f"drop table {RAW}.outcomes": "must be owner of table outcomes",
            f"truncate {RAW}.outcomes": "permission denied for table outcomes",
            f"copy {RAW}.outcomes to program 'true'": "pg_execute_server_program",
            f"select * from {RAW}.audit_log": "permission denied for table audit_log",
            f"select * from {RAW}.arc_eval_principals": "permission denied for table arc_eval_principals",
            f"select * from {RAW}.ingest_late_hours": "permission denied for table ingest_late_hours",
            f"create table {RAW}.mine (x int)": "permission denied for schema",
        }
        for statement, message in refusals.items():
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=message):
                conn.execute(statement)


def _record_outcome_as_writer_a(world: World, at: dt.datetime) -> None:
    """One successful outcome of tenant A's simulation at `at`, through the loader as writer A."""
    with ArcEval(world.logins["writer_a"], flush_interval=None, pool_min=1, pool_max=1) as db:
        db.record_outcome(
            simulation_id=world.a.simulation_id,
            scenario_id=world.a.scenario_id,
            status="success",
            reliability_score=1.0,
            execution_time_ms=1.0,
            tokens_used=1,
            cost_usd=0.0,
            trajectory={"start_time": at.isoformat(), "status": "success"},
            execution_time=at,
        )


def test_chunks_are_not_a_way_around_row_level_security(world):
    """TimescaleDB copies grants, not policies, to chunks: a writer keeps no grant on any chunk."""
    with psycopg.connect(world.owner.conninfo) as owner:
        if owner.execute("select to_regclass('timescaledb_information.chunks') is null").fetchone()[0]:
            pytest.skip("no TimescaleDB on this server: the raw tables have no chunks")
    # lands in a chunk made by this insert
    _record_outcome_as_writer_a(world, dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40))
    with psycopg.connect(world.owner.conninfo) as owner:
        chunks = [
            r[0]
            for r in owner.execute(
                "select format('%%I.%%I', chunk_schema, chunk_name) from timescaledb_information.chunks "
                "where hypertable_schema = %s",
                [RAW],
            )
        ]
    assert len(chunks) >= 2
    with psycopg.connect(world.logins["writer_b"], autocommit=True) as conn:
        for chunk in chunks:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                conn.execute(f"select count(*) from {chunk}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                conn.execute(f"delete from {chunk}")


def test_a_writers_late_rows_are_logged_though_it_cannot_touch_the_log(world):
    """The ingest log's trigger writes with its owner's rights: a writer's late rows, inserted under
    row-level security, are logged, while the writer itself may not read or write the log (the matrix)."""
    late = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)).replace(microsecond=0)
    hour = late.replace(minute=0, second=0)
    with psycopg.connect(world.owner.conninfo) as owner:
        before = owner.execute("select clock_timestamp()").fetchone()[0]
    _record_outcome_as_writer_a(world, late)
    with psycopg.connect(world.owner.conninfo) as owner:
        logged = owner.execute(
            f"select hour from {RAW}.ingest_late_hours"
            " where kind = 'late rows' and source_table = %s and created_at >= %s",
            [f"{RAW}.outcomes", before],
        ).fetchall()
    assert logged == [(hour,)]


def test_reader_and_reviewer_read_but_write_only_through_review_functions(world):
    with psycopg.connect(world.logins["reader"], autocommit=True) as conn:
        assert conn.execute(f"select count(distinct user_id) from {RAW}.configurations").fetchone()[0] >= 2
        with pytest.raises(review.ReviewError, match="permission denied for function"):
            review.reject(conn, world.recommendation_id, reason="no")
        analytics = dbt.analytics_schema()
        # dbt has not built here; the grant is made by the on-run-end hook of every dbt run.
        assert (
            conn.execute("select has_schema_privilege(current_user, %s, 'CREATE')", [RAW]).fetchone()[0]
            is False
        )
        del analytics
    with psycopg.connect(world.logins["reviewer"], autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                f"insert into {RAW}.config_versions (config_id, version_number, raw_yaml, parsed_config, config_hash)"
                " values (%s, 99, 'model: m', '{\"model\": \"m\", \"temperature\": 0}', repeat('a', 64))",
                [world.a.config_id],
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"update {RAW}.recommendations set feedback_score = 5")


def test_roles_and_principal_commands(world, monkeypatch, capsys):
    monkeypatch.setenv("ARC_EVAL_DSN", world.owner.conninfo)
    assert cli.main(["roles"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("outcomes "))
    assert row.split()[1:] == ["yes", "all,", "DDL", "S", "I", "S", "S"]
    assert "reviewer may execute: arc_eval_review_apply, arc_eval_review_approve" in out
    name = f"t_cli_{uuid.uuid4().hex[:8]}"
    user = uuid.uuid4()
    assert cli.main(["principal", "add", name, "--role", "writer", "--user-id", str(user)]) == 0
    added = capsys.readouterr().out
    password = added.split("verifier): ")[1].strip()
    assert len(password) >= 24
    with psycopg.connect(world.owner.conninfo) as conn, conn.cursor(row_factory=dict_row) as cur:
        stored = cur.execute(
            "select rolpassword, rolcanlogin from pg_authid where rolname = %s", [name]
        ).fetchone()
    assert stored["rolcanlogin"] and stored["rolpassword"].startswith("SCRAM-SHA-256$4096:")
    assert password not in stored["rolpassword"]
    assert cli.main(["principal", "list"]) == 0
    listing = capsys.readouterr().out
    assert f"{name}" in listing and str(user) in listing and password not in listing
    assert cli.main(["principal", "add", f"{name}_x", "--role", "writer"]) == 1
    assert "give --user-id" in capsys.readouterr().err
    assert cli.main(["principal", "add", "Bad-Name", "--role", "reader"]) == 1
    assert "lower-case identifier" in capsys.readouterr().err
    assert cli.main(["principal", "remove", name]) == 0
    with psycopg.connect(world.owner.conninfo) as conn:
        assert conn.execute("select count(*) from pg_roles where rolname = %s", [name]).fetchone()[0] == 0
        with pytest.raises(roles.RoleError, match="group role"):
            roles.add_principal(conn, "arc_eval_writer", "writer", user)


def test_without_createrole_the_schema_stays_single_user(make_database, capfd):
    """A managed server's admin without CREATEROLE: one log line, no grants or policies, the loader works."""
    target = make_database("nocr")
    name = f"t_plain_{uuid.uuid4().hex[:8]}"
    dbname = target.libpq_env()["PGDATABASE"]
    with psycopg.connect(target.conninfo, autocommit=True) as admin:
        admin.execute(f'create role "{name}" login')
        # Managed servers give their admin this (the capability probe reads shared_preload_libraries).
        admin.execute(f'grant pg_read_all_settings to "{name}"')
        admin.execute(f'grant create on database "{dbname}" to "{name}"')
        admin.execute("create extension if not exists vector")
        if admin.execute("select 1 from pg_available_extensions where name = 'timescaledb'").fetchone():
            admin.execute("create extension if not exists timescaledb")
    plain = Target(login_dsn(target, roles.Principal(name, "owner", None)), "test")
    try:
        dbt.run(["run-operation", "arc_eval_create_raw_schema"], plain)
        assert "lacks CREATEROLE" in capfd.readouterr().out
        with psycopg.connect(plain.conninfo) as conn:
            assert (
                conn.execute("select count(*) from pg_policies where schemaname = %s", [RAW]).fetchone()[0]
                == 0
            )
            owner = conn.execute(
                "select pg_get_userbyid(nspowner) from pg_namespace where nspname = %s", [RAW]
            )
            assert owner.fetchone()[0] == name
            conn.execute(
                f"insert into {RAW}.scenarios (scenario_id, name, task_prompt) values ('plain_one', 'Plain one',"
                " 'A scenario for the single-user schema')"
            )
        with ArcEval(plain.conninfo, flush_interval=None, pool_min=1, pool_max=1) as db:
            config = db.create_configuration("single user", uuid.uuid4())
            version = db.create_config_version(config, {"model": "m", "temperature": 0.1})
            assert db.start_simulation(version.version_id, ["plain_one"])
    finally:
        with psycopg.connect(target.conninfo, autocommit=True) as admin:
            admin.execute(f'drop schema if exists "{RAW}" cascade')
            admin.execute(f'revoke all on database "{dbname}" from "{name}"')
            admin.execute(f'drop role "{name}"')
