"""Buffered writes: COPY batches, idempotency, dead letters, flush triggers, the simulation lifecycle."""

from __future__ import annotations

import datetime as dt
import logging
import re
import subprocess
import sys
import textwrap
import uuid

import psycopg
import pytest

from arc_eval import ArcEval, IllegalTransitionError, ValidationError, uuid7
from arc_eval.api import UnsentRowsError
from loader_helpers import YAML_V1, outcome_kwargs, query, scalar, scenario_ids, t, unique_name, wait_until


@pytest.fixture
def db(warehouse):
    with ArcEval(warehouse.conninfo, flush_interval=None) as client:
        yield client


@pytest.fixture
def version(db):
    cid = db.create_configuration(unique_name("batch"), uuid.uuid4())
    return db.create_config_version(cid, YAML_V1)


@pytest.fixture
def sim(db, version, warehouse):
    return db.start_simulation(version.version_id, scenario_ids(warehouse, 3), "batch test")


def count(target, table: str, column: str, value) -> int:
    return scalar(target, f"SELECT count(*) FROM {t(table)} WHERE {column} = %s", [value])


def test_same_batch_twice_is_stored_once(db, sim, warehouse) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    rows = [
        outcome_kwargs(sim, scen, outcome_id=uuid.uuid4(), execution_time=when + dt.timedelta(seconds=i))
        for i in range(50)
    ]
    for values in rows:
        db.record_outcome(**values)
    first = db.flush()
    assert sum(r.inserted for r in first) == 50
    for values in rows:  # a retry of the very same batch: same ids, same times
        db.record_outcome(**values)
    second = db.flush()
    assert sum(r.inserted for r in second) == 0 and sum(r.duplicates for r in second) == 50
    assert count(warehouse, "outcomes", "simulation_id", sim) == 50
    # A batch mixing old and new rows: only the new ones land.
    for values in rows[:10]:
        db.record_outcome(**values)
    db.record_outcome(**outcome_kwargs(sim, scen, execution_time=when))
    third = db.flush()
    assert sum(r.inserted for r in third) == 1
    assert count(warehouse, "outcomes", "simulation_id", sim) == 51


def test_staged_mode_is_idempotent_too(warehouse, sim) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    # UUIDv7 ids carry their time: re-recording the same id without execution_time lands once.
    rows = [outcome_kwargs(sim, scen, outcome_id=uuid7()) for _ in range(20)]
    with ArcEval(warehouse.conninfo, flush_interval=None, write_mode="staged") as db:
        for _ in range(2):
            for values in rows:
                db.record_outcome(**values)
            db.flush()
    assert count(warehouse, "outcomes", "simulation_id", sim) == 20


def test_thousand_rows_with_three_bad_ones(warehouse, sim, caplog) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    bad_ids = {}
    with (
        ArcEval(warehouse.conninfo, flush_interval=None, batch_size=1000) as db,
        caplog.at_level(logging.WARNING),
    ):
        for i in range(1000):  # the 1000th row fills the buffer: one batch of 1,000 is flushed
            values = outcome_kwargs(sim, scen, execution_metadata={"i": i})
            if i in (3, 500, 998):  # valid for the client, refused by the database's foreign keys
                if i == 500:
                    values["scenario_id"] = "no_such_scenario_xyz"
                else:
                    values["simulation_id"] = uuid.uuid4()
            oid = db.record_outcome(**values)
            if i in (3, 500, 998):
                bad_ids[oid] = i
        db.flush()  # waits for the writer thread
        assert db.pending() == 0 and db.dead_letter_count == 3
    assert count(warehouse, "outcomes", "simulation_id", sim) == 997
    dead = query(
        warehouse, f"SELECT * FROM {t('ingest_dead_letters')} WHERE record_id = ANY(%s)", [list(bad_ids)]
    )
    assert len(dead) == 3
    for row in dead:
        assert row["target_table"] == "outcomes"
        assert row["sqlstate"] == "23503"  # foreign_key_violation
        assert "foreign key" in row["error_message"]
        assert row["payload"]["outcome_id"] == str(row["record_id"])
        assert row["payload"]["execution_metadata"] == {"i": bad_ids[row["record_id"]]}
        assert row["failed_at"] is not None
    assert sum("dead-lettered" in r.message for r in caplog.records) == 3


def test_flush_on_batch_size(warehouse, sim) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    with ArcEval(warehouse.conninfo, flush_interval=None, batch_size=5, write_behind=False) as db:
        for _ in range(4):
            db.record_outcome(**outcome_kwargs(sim, scen))
        assert count(warehouse, "outcomes", "simulation_id", sim) == 0 and db.pending() == 4
        db.record_outcome(**outcome_kwargs(sim, scen))  # the fifth fills the buffer: written before returning
        assert count(warehouse, "outcomes", "simulation_id", sim) == 5 and db.pending() == 0
    # write-behind (the default): a full buffer goes to the writer thread
    with ArcEval(warehouse.conninfo, flush_interval=None, batch_size=5) as db:
        for _ in range(5):
            db.record_outcome(**outcome_kwargs(sim, scen))
        assert db.pending() == 0
        assert wait_until(lambda: count(warehouse, "outcomes", "simulation_id", sim) == 10)


def test_flush_on_close_and_context_exit(warehouse, sim) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    db = ArcEval(warehouse.conninfo, flush_interval=None)
    oid = db.record_outcome(**outcome_kwargs(sim, scen))
    db.record_tool_usage(
        outcome_id=oid, tool_name="web_search", call_count=3, avg_duration_ms=12.5, success_rate=1.0
    )
    assert count(warehouse, "outcomes", "outcome_id", oid) == 0
    db.close()
    assert count(warehouse, "outcomes", "outcome_id", oid) == 1
    assert count(warehouse, "tool_usage", "outcome_id", oid) == 1
    with pytest.raises(Exception, match="closed"):
        db.record_outcome(**outcome_kwargs(sim, scen))
    with ArcEval(warehouse.conninfo, flush_interval=None) as db2:
        oid2 = db2.record_outcome(**outcome_kwargs(sim, scen))
    assert count(warehouse, "outcomes", "outcome_id", oid2) == 1


def test_flush_on_interval(warehouse, sim) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    with ArcEval(warehouse.conninfo, flush_interval=0.2) as db:
        oid = db.record_outcome(**outcome_kwargs(sim, scen))
        assert wait_until(lambda: count(warehouse, "outcomes", "outcome_id", oid) == 1)
        assert db.pending() == 0


def test_flush_at_interpreter_exit(warehouse, sim) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    oid = uuid.uuid4()
    script = textwrap.dedent(f"""
        import uuid
        from arc_eval import ArcEval
        db = ArcEval({warehouse.conninfo!r}, flush_interval=None)
        db.record_outcome(simulation_id=uuid.UUID({str(sim)!r}), scenario_id={scen!r}, status="success",
                          reliability_score=1.0, execution_time_ms=1, tokens_used=1, cost_usd=0,
                          trajectory={{"start_time": "t", "status": "success"}}, outcome_id=uuid.UUID({str(oid)!r}))
        # no flush, no close: atexit writes it
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert count(warehouse, "outcomes", "outcome_id", oid) == 1


def test_clients_left_open_at_exit_share_one_wait(make_database, server) -> None:
    """Four clients still hold rows at exit and the database is gone: they give up within one shared
    ``retry_timeout``, not one each in turn, log what they could not write, and the process ends."""
    target = make_database("exit")
    dbname = target.libpq_env_params()["dbname"]
    script = textwrap.dedent(f"""
        import uuid, psycopg
        from arc_eval import ArcEval
        clients = [ArcEval({target.conninfo!r}, flush_interval=None, retry_timeout=3) for _ in range(4)]
        for db in clients:
            db.record_outcome(simulation_id=uuid.uuid4(), scenario_id="s1", status="success",
                              reliability_score=1.0, execution_time_ms=1, tokens_used=1, cost_usd=0,
                              trajectory={{"start_time": "t", "status": "success"}})
        with psycopg.connect({server.conninfo!r}, autocommit=True) as admin:  # the database goes away
            admin.execute('ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                          [{dbname!r}])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    failed = re.findall(
        r"flush at exit failed, 1 rows not written: 1 rows unsent after ([0-9.]+) s", done.stderr
    )
    assert len(failed) == 4, done.stderr[-2000:]
    # Waits as each client reports them: one budget (3 s) shared, where four in turn would take 12 s.
    assert sum(float(x) for x in failed) < 2 * 3, failed


def test_tool_usage_and_failures_use_the_outcome_time(db, sim, warehouse) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    when = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    oid = db.record_outcome(**outcome_kwargs(sim, scen, status="error", execution_time=when))
    db.record_tool_usage(
        outcome_id=oid,
        tool_name="web_search",
        call_count=2,
        avg_duration_ms=5,
        success_rate=0.5,
        error_types=["timeout"],
        tool_sequence=[{"tool": "web_search"}],
    )
    db.record_failure(
        outcome_id=oid,
        failure_type="ToolTimeoutError",
        failure_category="tool_error",
        error_message="web_search did not answer within 2500 ms",
    )
    with pytest.raises(ValidationError, match="execution_time"):
        db.record_failure(outcome_id=uuid.uuid4(), failure_type="X", failure_category="unknown")
    db.flush()
    assert (
        query(warehouse, f"SELECT execution_time FROM {t('tool_usage')} WHERE outcome_id = %s", [oid])[0][
            "execution_time"
        ]
        == when
    )
    assert (
        query(warehouse, f"SELECT execution_time FROM {t('failure_patterns')} WHERE outcome_id = %s", [oid])[
            0
        ]["execution_time"]
        == when
    )


def test_execution_metadata_accepts_any_keys(db, sim, warehouse) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    meta = {
        "modal_version": "0.2.0",
        "sandbox_type": "modal_container",
        "resource_usage": {"cpu": 0.5, "memory": 1024},
        "new_feature_flag": True,
    }
    oid = db.record_outcome(**outcome_kwargs(sim, scen, execution_metadata=meta))
    db.flush()
    stored = query(warehouse, f"SELECT execution_metadata FROM {t('outcomes')} WHERE outcome_id = %s", [oid])
    assert stored[0]["execution_metadata"] == meta


def test_simulation_lifecycle(db, version, warehouse) -> None:
    scen = scenario_ids(warehouse, 3)
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)
    sim = db.start_simulation(version.version_id, scen, "lifecycle", started_at=started, modal_app_id="app")
    ordered = query(
        warehouse,
        f"SELECT scenario_id, execution_order, status FROM {t('simulations_scenarios')} "
        "WHERE simulation_id = %s ORDER BY execution_order",
        [sim],
    )
    assert [(r["scenario_id"], r["execution_order"], r["status"]) for r in ordered] == [
        (s, i + 1, "pending") for i, s in enumerate(scen)
    ]
    row = db.get_simulation(sim)
    assert row["status"] == "running" and row["total_scenarios"] == 3 and row["started_at"] == started
    # idempotent start with the same id
    assert db.start_simulation(version.version_id, scen, simulation_id=sim) == sim

    a, b, c = scen
    db.set_scenario_status(sim, a, "running", at=started + dt.timedelta(seconds=1))
    with pytest.raises(IllegalTransitionError, match="running -> skipped"):
        db.set_scenario_status(sim, a, "skipped")
    db.set_scenario_status(sim, a, "failed", at=started + dt.timedelta(seconds=2))
    db.set_scenario_status(sim, a, "running", at=started + dt.timedelta(seconds=3))  # retry
    db.set_scenario_status(sim, a, "completed", at=started + dt.timedelta(seconds=4), modal_call_id="call-1")
    with pytest.raises(IllegalTransitionError, match="completed -> running"):
        db.set_scenario_status(sim, a, "running")
    db.set_scenario_status(sim, b, "skipped")
    with pytest.raises(IllegalTransitionError):
        db.set_scenario_status(sim, b, "completed")
    db.set_scenario_status(sim, c, "running")
    db.set_scenario_status(sim, c, "completed")
    ss = {
        r["scenario_id"]: r
        for r in query(
            warehouse, f"SELECT * FROM {t('simulations_scenarios')} WHERE simulation_id = %s", [sim]
        )
    }
    assert ss[a]["retry_count"] == 1 and ss[a]["modal_call_id"] == "call-1"
    assert ss[a]["started_at"] == started + dt.timedelta(seconds=3)
    assert ss[a]["completed_at"] == started + dt.timedelta(seconds=4)

    db.record_outcome(**outcome_kwargs(sim, a, reliability_score=0.5, cost_usd=0.25))
    db.record_outcome(**outcome_kwargs(sim, c, reliability_score=1.0, cost_usd=0.5))
    done = db.finish_simulation(sim, completed_at=started + dt.timedelta(minutes=2))  # flushes first
    assert done["status"] == "completed" and done["completed_scenarios"] == 2
    assert done["overall_score"] == pytest.approx(0.75) and done["total_cost_usd"] == pytest.approx(0.75)
    assert done["execution_time_ms"] == 120_000
    with pytest.raises(IllegalTransitionError, match="completed -> failed"):
        db.finish_simulation(sim, "failed")
    assert db.finish_simulation(sim)["completed_at"] == done["completed_at"]  # a repeat changes nothing
    db.set_scenario_status(sim, a, "completed")  # a repeat changes nothing either
    with pytest.raises(IllegalTransitionError):
        db.set_scenario_status(sim, b, "running")

    sim2 = db.start_simulation(version.version_id, scen[:1])
    cancelled = db.finish_simulation(sim2, "cancelled", overall_score=0.1)
    assert cancelled["status"] == "cancelled" and cancelled["completed_at"] is None
    assert cancelled["overall_score"] == pytest.approx(0.1)


def test_start_simulation_refuses_unknown_scenarios_and_empty_sets(db, version, warehouse) -> None:
    before = scalar(warehouse, f"SELECT count(*) FROM {t('simulations')}")
    with pytest.raises(ValidationError, match=r"scenario_ids: .*unknown: nope_nope"):
        db.start_simulation(version.version_id, [scenario_ids(warehouse, 1)[0], "nope_nope"])
    with pytest.raises(ValidationError, match="scenario_ids: must not be empty"):
        db.start_simulation(version.version_id, [])
    with pytest.raises(ValidationError, match="version_id"):
        db.start_simulation(uuid.uuid4(), scenario_ids(warehouse, 1))
    assert scalar(warehouse, f"SELECT count(*) FROM {t('simulations')}") == before


def test_connection_loss_is_retried_with_a_fresh_connection(db, sim, warehouse) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    attempts = []

    def flow():
        from arc_eval import core

        attempts.append(1)
        if len(attempts) == 1:  # the server drops this connection in the middle of the transaction
            yield core.FetchOne("SELECT pg_terminate_backend(pg_backend_pid())")
        row = yield core.FetchOne("SELECT 42 AS answer")
        return row["answer"]

    assert db.run(flow) == 42 and len(attempts) == 2
    # Every pooled connection killed from outside: checked on checkout, replaced, and the batch lands.
    oid = db.record_outcome(**outcome_kwargs(sim, scen))
    with psycopg.connect(warehouse.conninfo, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND application_name = ''"
        )
    db.flush()
    assert count(warehouse, "outcomes", "outcome_id", oid) == 1


def test_non_row_errors_are_raised_and_rows_stay_buffered(warehouse, sim) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    with ArcEval(warehouse.conninfo, flush_interval=None, raw_schema="no_such_schema") as db:
        db.record_outcome(**outcome_kwargs(sim, scen))
        with pytest.raises(UnsentRowsError, match="1 rows unsent") as info:
            db.flush()
        assert isinstance(info.value.__cause__, psycopg.errors.InvalidSchemaName)
        assert db.pending() == 1 and info.value.unsent == 1  # kept, not dead-lettered
        db._buffers.take()  # drop it so close() has nothing to write
