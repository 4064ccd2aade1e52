"""`arc-eval refresh`, the scheduled run: after new rows it brings the stored models (rollups, tables and
the views on the tables) to what a full rebuild holds, leaves the other views alone, and builds the models
the database lacks; `--every` keeps refreshing in one process until interrupted."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from arc_eval import dbt
from arc_eval.connection import Target, data_dir
from models_helpers import (
    NO_MARGIN,
    assert_same_rows,
    load_history,
    outcome_row,
    scenario_ids,
    write_outcomes,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(make_database: Callable[[str], Target]) -> Target:
    target = make_database("refresh")
    dbt.init_warehouse(target)
    load_history(target.conninfo, seed=21)
    dbt.run(["run"], target, quiet=True)
    return target


def _relations(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """name -> (oid, relkind) of the analytics schema's tables and views."""
    rows = conn.execute(
        "select c.relname, c.oid::int, c.relkind::text from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relkind in ('r', 'v')",
        (dbt.analytics_schema(),),
    ).fetchall()
    return {name: (oid, kind) for name, oid, kind in rows}


def _executions_and_outcomes(conn: psycopg.Connection) -> tuple[int, int]:
    """The outcomes the dashboard's daily table counts, and those the raw table holds."""
    return conn.execute(
        f"select (select sum(executions) from {dbt.analytics_schema()}.dashboard_daily_version_scenario),"
        f" (select count(*) from {dbt.raw_schema()}.outcomes)"
    ).fetchone()


def _refresh_selection(target: Target) -> list[str]:
    args = [
        "--log-level",
        "none",
        "ls",
        "--selector",
        "refresh",
        "--resource-type",
        "model",
        "--output",
        "name",
    ]
    return sorted(dbt.run(args, target, quiet=True).result)


def _append(target: Target, seed: int) -> None:
    """Recent outcomes and outcomes 12 days late, with tool usage and failures."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    with psycopg.connect(target.conninfo) as conn:
        sims = [
            r[0] for r in conn.execute(f"select simulation_id from {dbt.raw_schema()}.simulations limit 3")
        ]
        newest = conn.execute(f"select max(execution_time) from {dbt.raw_schema()}.outcomes").fetchone()[0]
        rows = [
            outcome_row(rng, sim, scenario, when - dt.timedelta(minutes=rng.uniform(0, 50)))
            for sim in sims
            for scenario in scenario_ids(conn)[:4]
            for when in (now, now - dt.timedelta(hours=3), newest - dt.timedelta(days=12))
        ]
        write_outcomes(conn, rng, rows, clusters=[uuid.UUID(int=seed)])


def test_refresh_brings_the_stored_models_to_a_rebuild_and_leaves_the_views(built: Target) -> None:
    selected = _refresh_selection(built)
    assert {"outcome_stats_hourly", "failure_stats_daily", "dashboard_latency_daily_version"} <= set(selected)
    # a table is swapped in under its name, which drops the views on the old one: they are selected with it
    assert "dashboard_version_lineage" in selected
    assert "v_llm_failure_analysis" not in selected and "failure_clusters" not in selected
    schema = dbt.analytics_schema()
    with psycopg.connect(built.conninfo) as conn:
        before = _relations(conn)
    rollups = dbt.model_names(built, "config.materialized:rollup")
    assert len(rollups) >= 14 and set(rollups) <= set(selected), rollups
    _append(built, seed=31)

    # the statistics rollups hold the rows created before a watermark rollup_commit_margin behind the run:
    # without the margin, the rows just written too (the rebuild below is seconds later)
    assert dbt.refresh(built, quiet=True, dbt_vars=NO_MARGIN) == []

    with psycopg.connect(built.conninfo) as conn:
        after = _relations(conn)
        refreshed = {name: conn.execute(f"select * from {schema}.{name}").fetchall() for name in rollups}
        executions, outcomes = _executions_and_outcomes(conn)
    assert executions == outcomes, "the dashboard's table counts every outcome, the new ones included"
    untouched = [name for name, (_, kind) in before.items() if kind == "v" and name not in selected]
    assert len(untouched) >= 30
    for name in untouched:
        assert after[name] == before[name], f"{name}: a view outside the selection is not re-created"
    assert after["dashboard_version_lineage"][1] == "v"

    dbt.run(
        ["run", "--select", *rollups], built, quiet=True, dbt_vars={**NO_MARGIN, "rollup_full_refresh": True}
    )
    with psycopg.connect(built.conninfo) as conn:
        for name in rollups:
            rebuilt = conn.execute(f"select * from {schema}.{name}").fetchall()
            assert_same_rows(refreshed[name], rebuilt, rel=1e-9, label=f"{name}: refresh vs rebuild")
        dropped = sorted(set(_all_models(built)) - set(_relations(conn)))
    # a rollup rebuilt whole is dropped with the views on it: the next refresh builds them again
    assert "recommender_activity" in dropped
    assert dbt.refresh(built, quiet=True) == dropped


def test_refresh_builds_the_models_the_database_lacks(built: Target) -> None:
    schema = dbt.analytics_schema()
    with psycopg.connect(built.conninfo, autocommit=True) as conn:
        conn.execute(f"drop view {schema}.recommender_activity")
        conn.execute(f"drop view {schema}.failure_clusters cascade")  # and the views on it
        gone = sorted(set(_all_models(built)) - set(_relations(conn)))
    assert "recommender_activity" in gone and "failure_clusters" in gone
    assert dbt.refresh(built, quiet=True) == gone
    with psycopg.connect(built.conninfo) as conn:
        assert set(_all_models(built)) <= set(_relations(conn))
    assert dbt.refresh(built, quiet=True) == []


def test_a_first_refresh_builds_every_model(make_database: Callable[[str], Target]) -> None:
    target = make_database("refresh_new")
    dbt.init_warehouse(target)
    load_history(target.conninfo, seed=33)
    assert dbt.refresh(target, quiet=True) == _all_models(target)
    with psycopg.connect(target.conninfo) as conn:
        assert set(_all_models(target)) <= set(_relations(conn))


def test_a_refresh_keeps_the_last_builds_artifacts_and_logs_results_not_statements(
    built: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = data_dir()
    dbt.run(["run", "--select", "dashboard_version_lineage"], built, quiet=True)
    artifacts = {
        name: (work / "dbt-target" / name).read_bytes() for name in ("manifest.json", "run_results.json")
    }
    log = work / "dbt-logs" / "dbt.log"

    def logged_by_refresh() -> str:
        size = log.stat().st_size
        (work / dbt.REFRESH_PLAN).unlink(missing_ok=True)  # through dbt, not the stored plans
        dbt.refresh(built, quiet=True)
        with log.open() as f:
            f.seek(size)
            return f.read()

    monkeypatch.delenv("DBT_LOG_LEVEL_FILE", raising=False)
    lines = logged_by_refresh()
    assert "arc_eval: rollup " in lines and "[info ]" in lines
    assert "[debug]" not in lines, "the statements of a refresh stay out of the log file"
    for name, content in artifacts.items():
        assert (work / "dbt-target" / name).read_bytes() == content, f"{name}: a refresh writes no artifact"
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")
    assert "[debug]" in logged_by_refresh(), "DBT_LOG_LEVEL_FILE chooses the level"


def test_a_refresh_runs_the_stored_plans_without_dbt_while_nothing_they_hold_changed(
    built: Target, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    schema = dbt.analytics_schema()
    tables = dbt.model_names(built, "config.materialized:table")
    stored = [*dbt.model_names(built, "config.materialized:rollup"), *tables]
    (data_dir() / dbt.REFRESH_PLAN).unlink(missing_ok=True)
    dbt.refresh(built, quiet=True, dbt_vars=NO_MARGIN)  # through dbt: stores the order of the plans
    runs: list[str] = []
    real_run = dbt.run

    def counted_run(args: list[str], *rest: object, **kwargs: object) -> object:
        runs.append(" ".join(args))
        return real_run(args, *rest, **kwargs)

    monkeypatch.setattr(dbt, "run", counted_run)
    monkeypatch.setattr(dbt, "cached_parse", lambda *a, **k: pytest.fail("the stored plans need no manifest"))
    _append(built, seed=41)
    with caplog.at_level("INFO", logger="arc_eval.dbt"):
        assert dbt.refresh(built, dbt_vars=NO_MARGIN) == []
    assert runs == [], "no dbt"
    for name in stored:  # each plan said what it did
        assert f"refreshed {schema}.{name}: " in caplog.text
    assert "outcome_stats_hourly: updated from" in caplog.text
    assert "dashboard_version_comparison: rows replaced" in caplog.text
    with psycopg.connect(built.conninfo) as conn:
        refreshed = {name: conn.execute(f"select * from {schema}.{name}").fetchall() for name in stored}
        executions, outcomes = _executions_and_outcomes(conn)
    assert executions == outcomes, "the dashboard's tables count every outcome, the new ones included"

    monkeypatch.undo()
    # everything on the rollups rebuilt whole (the views on a rebuilt rollup are dropped with it)
    dbt.run(
        ["run", "--select", "config.materialized:rollup+"],
        built,
        quiet=True,
        dbt_vars={**NO_MARGIN, "rollup_full_refresh": True},
    )
    with psycopg.connect(built.conninfo) as conn:
        for name in stored:
            rebuilt = conn.execute(f"select * from {schema}.{name}").fetchall()
            assert_same_rows(refreshed[name], rebuilt, rel=1e-9, label=f"{name}: stored plan vs rebuild")
    monkeypatch.setattr(dbt, "run", counted_run)

    def refreshed_through_dbt(**kwargs: object) -> bool:
        before = len(runs)
        dbt.refresh(built, quiet=True, **kwargs)
        return any("--selector refresh" in args for args in runs[before:])

    # the rebuild above stored plans since the last refresh
    assert refreshed_through_dbt(dbt_vars=NO_MARGIN)
    assert not refreshed_through_dbt(dbt_vars=NO_MARGIN)
    # other vars, other plans; a wider margin right after a narrower one keeps the watermarks (moved back, the
    # next run would merge the late rows again, counted twice: checked at the end)
    assert refreshed_through_dbt(
        dbt_vars={"rollup_lookback": "2 hours", "rollup_commit_margin": "10 minutes"}
    )
    assert refreshed_through_dbt(dbt_vars=NO_MARGIN)
    with psycopg.connect(built.conninfo, autocommit=True) as conn:
        conn.execute(f"drop view {schema}.v_llm_failure_analysis")
    assert refreshed_through_dbt(dbt_vars=NO_MARGIN), "a model the database lacks: dbt builds it"
    with psycopg.connect(built.conninfo, autocommit=True) as conn:
        conn.execute(
            f"update {schema}.arc_eval_refresh_plan set plan = jsonb_set(plan, '{{sql}}', '\"select nothing\"')"
            " where model_name = 'tool_use_hourly'"
        )
    with caplog.at_level("WARNING", logger="arc_eval.dbt"):
        assert refreshed_through_dbt(dbt_vars=NO_MARGIN), "a plan that fails: dbt stores it again"
    assert "a stored refresh plan failed" in caplog.text and "nothing" in caplog.text
    assert not refreshed_through_dbt(dbt_vars=NO_MARGIN)
    with psycopg.connect(built.conninfo) as conn:
        executions, outcomes = _executions_and_outcomes(conn)
    assert executions == outcomes, "each outcome counted once, whatever the margins of the runs before"


def test_plans_another_dbt_run_stored_meanwhile_are_not_kept_for_the_next_refresh(
    built: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh through dbt keeps its plans for the next refresh only when its own dbt invocation stored
    them: an analyst's `dbt run` with other vars just after it (or during it) stored plans with those."""
    schema = dbt.analytics_schema()
    plan_file = data_dir() / dbt.REFRESH_PLAN
    plan_file.unlink(missing_ok=True)
    real_run = dbt.run

    def run_then_another_process(args: list[str], *rest: object, **kwargs: object) -> object:
        result = real_run(args, *rest, **kwargs)
        if "--selector" in args:
            with psycopg.connect(built.conninfo, autocommit=True) as conn:
                conn.execute(
                    f"update {schema}.arc_eval_refresh_plan set stored_at = clock_timestamp(),"
                    " stored_by = 'another invocation' where model_name = 'outcome_stats_hourly'"
                )
        return result

    monkeypatch.setattr(dbt, "run", run_then_another_process)
    dbt.refresh(built, quiet=True, dbt_vars=NO_MARGIN)
    assert not plan_file.exists(), "the next refresh goes through dbt"
    monkeypatch.undo()
    dbt.refresh(built, quiet=True, dbt_vars=NO_MARGIN)
    assert plan_file.exists(), "its own plans are kept"
    with psycopg.connect(built.conninfo) as conn:
        stored_by = conn.execute(f"select distinct stored_by from {schema}.arc_eval_refresh_plan").fetchall()
    assert len(stored_by) == 1 and stored_by[0][0], "every plan names the invocation that stored it"


def test_two_runs_of_a_tables_plan_at_once_leave_its_rows_once(built: Target) -> None:
    """The second waits for the first (else each deletes only the rows it sees, and both insert)."""
    schema = dbt.analytics_schema()
    table = f"{schema}.dashboard_daily_version_scenario"
    call = f"select {schema}.arc_eval_refresh_model('dashboard_daily_version_scenario')"

    def run_plan() -> None:
        with psycopg.connect(built.conninfo, autocommit=True) as conn:
            conn.execute(call)

    with psycopg.connect(built.conninfo) as first, psycopg.connect(built.conninfo, autocommit=True) as watch:
        first.execute(call)  # its transaction open
        second = threading.Thread(target=run_plan)
        second.start()
        waiting = "select 1 from pg_stat_activity where wait_event_type = 'Lock' and query = %s"
        deadline = time.monotonic() + 60
        while not watch.execute(waiting, [call]).fetchone() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watch.execute(waiting, [call]).fetchone(), "the second run waits for the first"
        first.commit()
        second.join(timeout=60)
        assert not second.is_alive()
        rows, cells, executions, outcomes = watch.execute(
            f"select count(*), count(distinct (day, version_id, scenario_id)), sum(executions),"
            f" (select count(*) from {dbt.raw_schema()}.outcomes) from {table}"
        ).fetchone()
    assert rows == cells and executions == outcomes


def test_a_new_process_reads_the_stored_manifest_until_what_it_is_made_from_changes(
    built: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    for name in (*dbt.PROJECT_FILES, "profiles.yml.example"):
        source = dbt.project_dir() / name
        if source.is_dir():
            shutil.copytree(source, project / name)
        else:
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, project / name)
    monkeypatch.setenv("ARC_EVAL_PROJECT_DIR", str(project))
    monkeypatch.setenv("ARC_EVAL_DATA_DIR", str(tmp_path / "data"))
    parses: list[object] = []
    real_parse = dbt.parse

    def counted_parse(target: Target, **kwargs: object) -> object:
        parses.append(kwargs.get("dbt_vars"))
        return real_parse(target, **kwargs)

    monkeypatch.setattr(dbt, "parse", counted_parse)

    def models(manifest: object) -> set[str]:
        return {n.name for n in manifest.nodes.values() if n.resource_type == "model"}

    first = dbt.cached_parse(built)
    stored = tmp_path / "data" / dbt.MANIFEST_CACHE
    assert len(parses) == 1 and stored.is_file()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600, "the manifest holds the project's SQL: private"
    again = dbt.cached_parse(built)
    assert len(parses) == 1, "read back, not parsed"
    assert models(again) == models(first) and "outcome_stats_hourly" in models(again)
    assert again.nodes.keys() == first.nodes.keys() and again.macros.keys() == first.macros.keys()
    # and compiles and runs what reads other models (the lookups of refs rebuilt)
    dbt.run(
        ["run", "--select", "outcome_stats_daily", "dashboard_version_comparison"],
        built,
        quiet=True,
        manifest=again,
    )

    (project / "models" / "zz_probe.sql").write_text("select 1 as probe\n")
    assert "zz_probe" in models(dbt.cached_parse(built)), "a model added since is in the manifest"
    assert len(parses) == 2
    dbt.cached_parse(built, dbt_vars={"rollup_lookback": "2 hours"})
    assert parses[-1] == {"rollup_lookback": "2 hours"}, "other vars, another manifest"
    dbt.cached_parse(built.with_database("postgres"))
    assert len(parses) == 4, "another database, another manifest (the relations name it)"
    monkeypatch.setenv("ARC_EVAL_SCHEMA", "arc_eval_elsewhere")
    elsewhere = dbt.cached_parse(built)
    assert len(parses) == 5, "the profile's variables are part of the key"
    schemas = {n.schema for n in elsewhere.nodes.values() if n.name == "outcome_stats_hourly"}
    assert schemas == {"arc_eval_elsewhere"}
    monkeypatch.delenv("ARC_EVAL_SCHEMA")
    dbt.cached_parse(built)
    assert len(parses) == 6, "the file held the other schema's manifest"
    monkeypatch.setenv("TIMESCALEDB_PASSWORD", "a-new-password")
    dbt.cached_parse(built)
    assert len(parses) == 6, "passwords are not part of the key: a new one names no other relation"
    stored.chmod(0o666)
    dbt.cached_parse(built)
    assert len(parses) == 7, "a file others may write is not unpickled"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600, "and is replaced"
    stored.write_bytes(b"not a pickle")
    assert "zz_probe" in models(dbt.cached_parse(built)), "a file that does not read back is parsed again"
    assert len(parses) == 8
    dbt.cached_parse(built)
    assert len(parses) == 8


def _all_models(target: Target) -> list[str]:
    return dbt.model_names(target, "fqn:*")


def test_refresh_every_keeps_refreshing_until_interrupted(built: Target, tmp_path: Path) -> None:
    env = dict(os.environ, ARC_EVAL_DSN=built.conninfo)
    command = [sys.executable, "-m", "arc_eval.cli", "refresh", "--every", "0.5"]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    wanted = None  # turns to wait for: the second one started after the new rows were written

    def turns() -> int:
        return sum("refreshed in" in line for line in lines)

    try:
        deadline = time.monotonic() + 600
        while (wanted is None or turns() < wanted) and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line)
            if wanted is None and turns() == 1:
                _append(built, seed=32)  # new rows between turns
                wanted = turns() + 2
    finally:
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    lines += out.splitlines()
    assert wanted is not None and turns() >= wanted, (lines, err[-3000:])
    assert child.returncode == 130, err[-3000:]
    with psycopg.connect(built.conninfo) as conn:
        executions, outcomes = _executions_and_outcomes(conn)
    assert executions == outcomes


def test_refresh_every_reports_a_failed_turn_and_tries_again() -> None:
    """The database unreachable: each turn says so, without the password, and the loop goes on."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = "s3cr3t-refresh-pw"
    env = dict(os.environ, ARC_EVAL_DSN=f"postgresql://owner:{secret}@127.0.0.1:{port}/arc")
    command = [sys.executable, "-m", "arc_eval.cli", "refresh", "--every", "0.2"]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    failures: list[str] = []
    try:
        while len(failures) < 2:
            line = child.stderr.readline()
            if not line:
                break
            if "refresh failed" in line:
                failures.append(line)
    finally:
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    assert len(failures) == 2, (failures, out, err)
    assert all("cannot connect" in line for line in failures), failures
    assert child.returncode == 130
    assert secret not in "".join(failures) + out + err


@pytest.mark.parametrize("every", ["0", "-1", "soon", "inf", "nan"])
def test_refresh_every_rejects_what_is_not_a_positive_number_of_seconds(every: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "arc_eval.cli", "refresh", "--every", every], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "--every" in done.stderr and "a positive number of seconds" in done.stderr
