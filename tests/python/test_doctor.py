"""`arc-eval doctor`: what follows from the probe (pure, on the three probe shapes), and the report on the
server under test, whose on/off claims are checked by trying each feature."""

from __future__ import annotations

import psycopg
import pytest

from arc_eval import cli
from arc_eval.capabilities import Capabilities, features
from arc_eval.connection import Target
from schema_helpers import RAW, capabilities

PLAIN = Capabilities(None, None, None, False, "0.8.5", "0.8.5", "18.4", 180004, False)
APACHE = Capabilities("2.19.3", "2.19.3", "apache", True, "0.8.0", "0.8.0", "15.20", 150020, True)
COMMUNITY = Capabilities("2.19.3", "2.19.3", "timescale", True, "0.8.0", "0.8.0", "15.20", 150020, True)
NOT_PRELOADED = Capabilities(None, "2.19.3", None, False, "0.8.0", "0.8.0", "15.20", 150020, True)


def on_off(caps: Capabilities) -> dict[str, bool]:
    return {f.name: f.on for f in features(caps)}


def detail(caps: Capabilities, name: str) -> str:
    return next(f.detail for f in features(caps) if f.name == name)


def test_plain_postgresql_has_only_pgvector() -> None:
    assert on_off(PLAIN) == {
        "pgvector": True,
        "hypertables": False,
        "time buckets": False,
        "compression": False,
        "retention policies": False,
        "continuous aggregates": False,
        "lz4 compression": False,
    }
    assert "built without lz4" in detail(PLAIN, "lz4 compression")
    assert "TimescaleDB is not installed" in detail(PLAIN, "continuous aggregates")
    assert "rollups are incremental models" in detail(PLAIN, "continuous aggregates")
    assert "date_bin" in detail(PLAIN, "time buckets")
    assert "`arc-eval maintain`" in detail(PLAIN, "retention policies")
    assert "BRIN" in detail(PLAIN, "hypertables")


def test_apache_edition_has_hypertables_only() -> None:
    assert on_off(APACHE) == {
        "pgvector": True,
        "hypertables": True,
        "time buckets": True,
        "compression": False,
        "retention policies": False,
        "continuous aggregates": False,
        "lz4 compression": True,
    }
    assert detail(APACHE, "continuous aggregates").startswith("TimescaleDB license is 'apache'")
    assert "rollups are incremental models" in detail(APACHE, "continuous aggregates")
    assert "drop_chunks" in detail(APACHE, "retention policies")


def test_community_license_has_everything() -> None:
    assert all(on_off(COMMUNITY).values())
    assert COMMUNITY.has_compression and COMMUNITY.has_policies and COMMUNITY.license == "timescale"


def test_available_but_not_preloaded_says_so() -> None:
    assert not NOT_PRELOADED.has_timescaledb
    assert "shared_preload_libraries" in detail(NOT_PRELOADED, "hypertables")


def works(conn: psycopg.Connection, statements: list[str]) -> bool:
    """Whether the statements run (in a savepoint that is rolled back either way)."""
    try:
        with conn.transaction(force_rollback=True):
            for statement in statements:
                conn.execute(statement)
    except psycopg.Error:
        return False
    return True


def test_doctor_report_is_right_on_this_server(
    warehouse: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARC_EVAL_DSN", warehouse.conninfo)
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"server: {warehouse.redacted()}")
    reported = {
        line.split(":", 1)[0]: line.split(":", 1)[1].strip().startswith("on")
        for line in lines
        if " — " in line and not line.startswith(" ")
    }
    table = "create table public.doctor_probe (t timestamptz not null, v integer)"
    hypertable = "select public.create_hypertable('public.doctor_probe', 't')"
    with psycopg.connect(warehouse.conninfo) as conn:
        actual = {
            "pgvector": works(conn, ["select '[1,2]'::vector <=> '[2,1]'::vector"]),
            "hypertables": works(conn, [table, hypertable]),
            "time buckets": works(conn, ["select public.time_bucket('1 hour'::interval, now())"]),
            "compression": works(
                conn, [table, hypertable, "alter table public.doctor_probe set (timescaledb.compress)"]
            ),
            "retention policies": works(
                conn,
                [
                    table,
                    hypertable,
                    "select public.add_retention_policy('public.doctor_probe', interval '1 year')",
                ],
            ),
            "continuous aggregates": works(
                conn,
                [
                    table,
                    hypertable,
                    "create materialized view public.doctor_cagg with (timescaledb.continuous) as "
                    "select public.time_bucket('1 hour'::interval, t) as b, count(*) from public.doctor_probe "
                    "group by 1 with no data",
                ],
            ),
            "lz4 compression": works(conn, ["create temp table doctor_lz4 (j jsonb compression lz4)"]),
        }
    assert reported == actual
    caps = capabilities(warehouse)
    assert f"PostgreSQL:  {caps.server_version}" in lines
    assert f"raw schema {RAW}: 13 of 13 tables" in lines
    if caps.has_timescaledb:
        assert f"TimescaleDB: {caps.timescaledb_version} (license '{caps.license}')" in lines
        assert any(line.startswith("  hypertables: failure_patterns (7 days") for line in lines)
    else:
        assert "TimescaleDB: not installed" in lines


def test_doctor_on_an_empty_database_says_to_run_init(
    make_database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = make_database("doctor")
    monkeypatch.setenv("ARC_EVAL_DSN", target.conninfo)
    assert cli.main(["doctor"]) == 0
    assert f"raw schema {RAW}: not initialised — run `arc-eval init`" in capsys.readouterr().out
