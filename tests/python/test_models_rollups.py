"""The rollups: the right physical form per server, and an update after new rows equals a full rebuild.

On a server with continuous aggregates (TimescaleDB community license) each rollup is a real-time
continuous aggregate with a refresh policy; elsewhere an incremental table with a unique index on its
grain. Either way, after appending rows and running dbt again, the rollup holds exactly what a full
rebuild and the seed's aggregate over the raw tables hold.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable

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
from models_seed_views import SEED_SQL

pytestmark = pytest.mark.slow

ROLLUPS = ("simulation_performance_hourly", "failure_trends_daily", "tool_performance_daily")
SELECT_ROLLUPS = ["--select", *ROLLUPS]


def _snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    schema = dbt.analytics_schema()
    return {name: conn.execute(f"select * from {schema}.{name}").fetchall() for name in ROLLUPS}


def _community_license(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "select exists (select 1 from pg_extension where extname = 'timescaledb')"
        " and current_setting('timescaledb.license', true) = 'timescale'"
    ).fetchone()
    return bool(row[0])


def _continuous_aggregates_available(conn: psycopg.Connection) -> bool:
    """The community license, and sources without row-level security (TimescaleDB refuses a continuous
    aggregate over a hypertable with it)."""
    if not _community_license(conn):
        return False
    row = conn.execute(
        f"select relrowsecurity from pg_class where oid = '{dbt.raw_schema()}.outcomes'::regclass"
    )
    return not row.fetchone()[0]


# Tenants isolated by row-level security (the default: incremental tables everywhere), and one tenant per
# database (var tenant_row_security false: continuous aggregates on the community license).
@pytest.fixture(scope="module", params=[None, {"tenant_row_security": False}], ids=["isolated", "unisolated"])
def rollup_db(request: pytest.FixtureRequest, make_database: Callable[[str], Target]) -> Target:
    target = make_database("rollups")
    dbt.init_warehouse(target, dbt_vars=request.param)
    if request.param:
        with psycopg.connect(target.conninfo) as conn:
            if not _community_license(conn):
                pytest.skip("without row-level security only the community license builds anything else")
    load_history(target.conninfo, seed=11)
    dbt.run(["run", *SELECT_ROLLUPS], target, quiet=True)
    return target


def test_rollup_form_matches_the_server(rollup_db: Target) -> None:
    schema = dbt.analytics_schema()
    with psycopg.connect(rollup_db.conninfo) as conn:
        if _continuous_aggregates_available(conn):
            caggs = conn.execute(
                "select view_name, materialized_only from timescaledb_information.continuous_aggregates"
                " where view_schema = %s",
                (schema,),
            ).fetchall()
            assert sorted(caggs) == sorted((name, False) for name in ROLLUPS)
            policies = conn.execute(
                "select count(*) from timescaledb_information.jobs"
                " where proc_name = 'policy_refresh_continuous_aggregate'"
            ).fetchone()[0]
            assert policies == len(ROLLUPS)
        else:
            for name in ROLLUPS:
                kind = conn.execute(
                    "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                    " where n.nspname = %s and c.relname = %s",
                    (schema, name),
                ).fetchone()
                assert kind == ("r",), f"{name} should be a table here"
                unique = conn.execute(
                    "select count(*) from pg_index i join pg_class c on c.oid = i.indrelid"
                    " join pg_namespace n on n.oid = c.relnamespace"
                    " where n.nspname = %s and c.relname = %s and i.indisunique",
                    (schema, name),
                ).fetchone()[0]
                assert unique == 1


def test_update_after_appending_rows_equals_full_rebuild(rollup_db: Target) -> None:
    rng = random.Random(99)
    now = dt.datetime.now(dt.timezone.utc)
    with psycopg.connect(rollup_db.conninfo) as conn:
        before = _snapshot(conn)
        sims = [
            r[0] for r in conn.execute(f"select simulation_id from {dbt.raw_schema()}.simulations limit 3")
        ]
        scenarios = scenario_ids(conn)[:4]
        new = [
            outcome_row(rng, sim, scenario, now - dt.timedelta(hours=hours, minutes=rng.uniform(0, 50)))
            for sim in sims
            for scenario in scenarios
            for hours in (0, 2, 5)
        ]
        write_outcomes(conn, rng, new, clusters=[uuid.UUID(int=1)])
    dbt.run(["run", *SELECT_ROLLUPS], rollup_db, quiet=True)
    with psycopg.connect(rollup_db.conninfo) as conn:
        updated = _snapshot(conn)
    assert updated != before, "the appended rows change the rollups"
    dbt.run(["run", *SELECT_ROLLUPS], rollup_db, quiet=True, dbt_vars={"rollup_full_refresh": True})
    with psycopg.connect(rollup_db.conninfo) as conn:
        conn.execute("set time zone 'UTC'")
        rebuilt = _snapshot(conn)
        seed = {
            name: conn.execute(SEED_SQL[name].format(raw=dbt.raw_schema())).fetchall() for name in ROLLUPS
        }
    for name in ROLLUPS:
        assert_same_rows(updated[name], rebuilt[name], rel=1e-9, label=f"{name}: update vs rebuild")
        assert_same_rows(updated[name], seed[name], rel=1e-5, label=f"{name}: update vs raw aggregate")


def test_hourly_statistics_updated_in_place_equal_a_rebuild(make_database: Callable[[str], Target]) -> None:
    """The hourly (and daily) statistics the history models add up (always incremental tables): after recent rows and
    rows 12 days late, then more rows late into the same groups (merged into the stored ones), an update holds
    the aggregate of the enriched rows and exactly what a rebuild holds."""
    target = make_database("stats")
    dbt.init_warehouse(target)
    load_history(target.conninfo, seed=12)
    select = ["--select", "+tag:live_stats"]
    dbt.run(["run", *select], target, quiet=True, dbt_vars=NO_MARGIN)
    names = dbt.model_names(target, "tag:live_stats")
    assert len(names) == 9, names
    schema = dbt.analytics_schema()

    def snapshot() -> dict[str, list[tuple]]:
        with psycopg.connect(target.conninfo) as conn:
            return {name: conn.execute(f"select * from {schema}.{name}").fetchall() for name in names}

    before = snapshot()
    rng = random.Random(12)
    now = dt.datetime.now(dt.timezone.utc)
    with psycopg.connect(target.conninfo) as conn:
        sims = [
            r[0] for r in conn.execute(f"select simulation_id from {dbt.raw_schema()}.simulations limit 3")
        ]
        recent = [
            outcome_row(rng, sim, scenario, now - dt.timedelta(hours=hours, minutes=rng.uniform(0, 50)))
            for sim in sims
            for scenario in scenario_ids(conn)[:4]
            for hours in (0, 3)
        ]
        write_outcomes(
            conn, rng, recent + _late_outcomes(conn, rng, days_back=12), clusters=[uuid.UUID(int=7)]
        )
    dbt.run(["run", *select], target, quiet=True, dbt_vars=NO_MARGIN)
    # more late rows in the same hours, versions and scenarios: merged into the groups the run wrote
    with psycopg.connect(target.conninfo) as conn:
        write_outcomes(conn, rng, _late_outcomes(conn, rng, days_back=12), clusters=[uuid.UUID(int=7)])
    dbt.run(["run", *select], target, quiet=True, dbt_vars=NO_MARGIN)
    updated = snapshot()
    # each holds the aggregate of the enriched rows (the daily ones are merged from the hourly ones)
    dbt.run(["test", "--select", "rollup_statistics_reconcile"], target, quiet=True, dbt_vars=NO_MARGIN)
    dbt.run(["run", *select], target, quiet=True, dbt_vars={**NO_MARGIN, "rollup_full_refresh": True})
    rebuilt = snapshot()
    for name in names:
        assert len(updated[name]) > len(before[name]), f"{name}: the new rows add groups to it"
        assert_same_rows(updated[name], rebuilt[name], rel=1e-9, label=f"{name}: update vs rebuild")


def test_a_daily_rollup_stores_no_watermark_past_the_hourly_one_it_merges(
    make_database: Callable[[str], Target],
) -> None:
    """The daily statistics are merged from the hourly ones: run alone over hourly rollups that miss late
    rows, a daily rollup keeps its watermark at theirs, so the next run, after the hourly ones, adds the
    rows it could not see."""
    target = make_database("stats_daily")
    dbt.init_warehouse(target)
    load_history(target.conninfo, seed=13)
    dbt.run(["run", "--select", "+tag:live_stats"], target, quiet=True, dbt_vars=NO_MARGIN)
    daily = sorted(name for name in dbt.model_names(target, "tag:live_stats") if name.endswith("_daily"))
    assert len(daily) == 4, daily
    rng = random.Random(13)
    with psycopg.connect(target.conninfo) as conn:
        write_outcomes(conn, rng, _late_outcomes(conn, rng, days_back=12), clusters=[uuid.UUID(int=9)])
    dbt.run(
        ["run", "--select", *daily], target, quiet=True, dbt_vars=NO_MARGIN
    )  # the hourly rollups are not updated
    with psycopg.connect(target.conninfo) as conn:
        marks = dict(
            conn.execute(
                f"select rollup_name, source_watermark from {dbt.analytics_schema()}.arc_eval_rollup_state"
            )
        )
    for name in daily:
        assert marks[name] <= marks[name.replace("_daily", "_hourly")], name
    dbt.run(["run", "--select", "+tag:live_stats"], target, quiet=True, dbt_vars=NO_MARGIN)
    dbt.run(["test", "--select", "rollup_statistics_reconcile"], target, quiet=True, dbt_vars=NO_MARGIN)

    # a watermark stored by a run that did not merge (an earlier release) is not trusted: rebuilt
    schema = dbt.analytics_schema()
    with psycopg.connect(target.conninfo) as conn:
        conn.execute(
            f"update {schema}.arc_eval_rollup_state set merge_exact = false where rollup_name = 'outcome_stats_hourly'"
        )
        conn.execute(f"update {schema}.outcome_stats_hourly set executions = executions + 1000")
    dbt.run(["run", "--select", "outcome_stats_hourly"], target, quiet=True, dbt_vars=NO_MARGIN)
    dbt.run(["test", "--select", "rollup_statistics_reconcile"], target, quiet=True, dbt_vars=NO_MARGIN)


def test_a_run_with_a_wider_margin_keeps_the_watermark_of_the_rows_already_merged(
    make_database: Callable[[str], Target],
) -> None:
    """A run right after one with a narrower rollup_commit_margin (dbt run with other vars than the scheduled
    refresh) computes a horizon before the stored watermark. The hourly statistics hold exactly the rows
    created before their watermark, so it stays where it is: moved back, the next run would merge the late
    rows created since then a second time."""
    target = make_database("stats_margin")
    dbt.init_warehouse(target)
    load_history(target.conninfo, seed=14)
    select = ["--select", "+tag:live_stats"]
    dbt.run(["run", *select], target, quiet=True, dbt_vars=NO_MARGIN)
    rng = random.Random(14)
    with psycopg.connect(target.conninfo) as conn:
        write_outcomes(conn, rng, _late_outcomes(conn, rng, days_back=12), clusters=[uuid.UUID(int=14)])
    dbt.run(["run", *select], target, quiet=True, dbt_vars=NO_MARGIN)  # merges the late rows

    def watermarks() -> dict[str, dt.datetime]:
        with psycopg.connect(target.conninfo) as conn:
            return dict(
                conn.execute(
                    f"select rollup_name, source_watermark from {dbt.analytics_schema()}.arc_eval_rollup_state"
                )
            )

    merged = watermarks()
    dbt.run(["run", *select], target, quiet=True, dbt_vars={**NO_MARGIN, "rollup_commit_margin": "1 hour"})
    held = watermarks()
    for name in dbt.model_names(target, "tag:live_stats"):
        if name.endswith("_hourly"):
            assert held[name] == merged[name], f"{name}: the watermark stays, not an hour back"
    dbt.run(["run", *select], target, quiet=True, dbt_vars=NO_MARGIN)
    # each still holds the aggregate of the enriched rows: the late rows once
    dbt.run(["test", "--select", "rollup_statistics_reconcile"], target, quiet=True, dbt_vars=NO_MARGIN)


def _raw_aggregates(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    conn.execute("set time zone 'UTC'")
    return {name: conn.execute(SEED_SQL[name].format(raw=dbt.raw_schema())).fetchall() for name in ROLLUPS}


def _late_outcomes(conn: psycopg.Connection, rng: random.Random, days_back: int) -> list[dict]:
    """Outcomes whose execution_time is ``days_back`` days before the newest outcome: far outside the
    rollups' lookback window, as a sandbox reporting late or a 30-day back-fill writes them."""
    newest = conn.execute(f"select max(execution_time) from {dbt.raw_schema()}.outcomes").fetchone()[0]
    sims = [r[0] for r in conn.execute(f"select simulation_id from {dbt.raw_schema()}.simulations limit 2")]
    at = newest - dt.timedelta(days=days_back)
    return [
        outcome_row(rng, sim, scenario, at + dt.timedelta(minutes=rng.uniform(0, 120)), status=status)
        for sim in sims
        for scenario in scenario_ids(conn)[:3]
        for status in ("success", "error", "timeout")
    ]


def _assert_rollups_match_raw_and_rebuild(target: Target) -> None:
    with psycopg.connect(target.conninfo) as conn:
        updated = _snapshot(conn)
        seed = _raw_aggregates(conn)
    for name in ROLLUPS:
        assert_same_rows(updated[name], seed[name], rel=1e-5, label=f"{name}: update vs raw aggregate")
    dbt.run(["test", "--select", *(f"rollup_{name}_reconciles" for name in ROLLUPS)], target, quiet=True)
    dbt.run(["run", *SELECT_ROLLUPS], target, quiet=True, dbt_vars={"rollup_full_refresh": True})
    with psycopg.connect(target.conninfo) as conn:
        rebuilt = _snapshot(conn)
    for name in ROLLUPS:
        assert_same_rows(updated[name], rebuilt[name], rel=1e-9, label=f"{name}: update vs rebuild")


def test_late_rows_older_than_the_lookback_are_picked_up(rollup_db: Target) -> None:
    rng = random.Random(2020)
    with psycopg.connect(rollup_db.conninfo) as conn:
        write_outcomes(conn, rng, _late_outcomes(conn, rng, days_back=20), clusters=[uuid.UUID(int=2)])
    dbt.run(["run", *SELECT_ROLLUPS], rollup_db, quiet=True)
    _assert_rollups_match_raw_and_rebuild(rollup_db)


def test_late_rows_committed_during_a_run_are_picked_up_by_the_next(rollup_db: Target) -> None:
    """A writer's transaction that inserted (created_at = its start) before a run but commits after it,
    while rows created later were already visible to that run, is still read by the next run."""
    rng = random.Random(2021)
    with psycopg.connect(rollup_db.conninfo) as slow, psycopg.connect(rollup_db.conninfo) as fast:
        if _continuous_aggregates_available(fast):
            pytest.skip("continuous aggregates track late rows through TimescaleDB's invalidation log")
        write_outcomes(slow, rng, _late_outcomes(slow, rng, days_back=25), clusters=[uuid.UUID(int=3)])
        write_outcomes(fast, rng, _late_outcomes(fast, rng, days_back=15), clusters=[uuid.UUID(int=4)])
        fast.commit()
        dbt.run(["run", *SELECT_ROLLUPS], rollup_db, quiet=True)
        slow.commit()
    dbt.run(["run", *SELECT_ROLLUPS], rollup_db, quiet=True)
    _assert_rollups_match_raw_and_rebuild(rollup_db)


def test_edits_within_the_lookback_window_are_picked_up(rollup_db: Target) -> None:
    """Rows changed in place (no new created_at) are recomputed when they fall in the lookback window,
    counted back from the end of the newest bucket."""
    raw = dbt.raw_schema()
    with psycopg.connect(rollup_db.conninfo) as conn:
        if _continuous_aggregates_available(conn):
            pytest.skip("continuous aggregates track edits through TimescaleDB's invalidation log")
        edited = conn.execute(
            f"update {raw}.outcomes set reliability_score = 1 - reliability_score, status = 'error'"
            f" where execution_time >= (select max(execution_time) from {raw}.outcomes) - interval '30 hours'"
            " and status <> 'error' returning outcome_id"
        ).fetchall()
    assert edited, "the history has outcomes in the last 30 hours to edit"
    dbt.run(["run", *SELECT_ROLLUPS], rollup_db, quiet=True, dbt_vars={"rollup_lookback": "3 days"})
    _assert_rollups_match_raw_and_rebuild(rollup_db)


def _run_rollups_reporting(target: Target, **dbt_vars: object) -> list[str]:
    """Run the rollups (watermark without commit margin, so the next run reads the ingest log at once)
    and return each rollup's log line of what it did."""
    lines: list[str] = []

    def collect(event: object) -> None:
        if event.info.name == "JinjaLogInfo" and "arc_eval: rollup " in event.data.msg:
            lines.append(event.data.msg)

    dbt.run(
        ["run", *SELECT_ROLLUPS],
        target,
        quiet=True,
        dbt_vars={"rollup_commit_margin": "0 seconds", **dbt_vars},
        callbacks=[collect],
    )
    assert len(lines) == len(ROLLUPS), lines
    return lines


def _ingest_log(conn: psycopg.Connection, kind: str) -> list[tuple]:
    return conn.execute(
        f"select source_table, hour from {dbt.raw_schema()}.ingest_late_hours where kind = %s order by 1, 2",
        (kind,),
    ).fetchall()


@pytest.fixture
def incremental_rollups(rollup_db: Target) -> Target:
    with psycopg.connect(rollup_db.conninfo) as conn:
        if _continuous_aggregates_available(conn):
            pytest.skip("continuous aggregates track late rows through TimescaleDB's invalidation log")
    _run_rollups_reporting(rollup_db)  # a watermark after the ingest log's start
    return rollup_db


def test_late_rows_are_found_through_the_ingest_log(incremental_rollups: Target) -> None:
    """A statement trigger on each source logs the hours of rows older than the late threshold; the
    next run recomputes those buckets from the log, without scanning the sources' chunks."""
    rng = random.Random(2022)
    with psycopg.connect(incremental_rollups.conninfo) as conn:
        late = _late_outcomes(conn, rng, days_back=12)
        write_outcomes(conn, rng, late, clusters=[uuid.UUID(int=5)])
        conn.commit()
        logged = _ingest_log(conn, "late rows")
    raw = dbt.raw_schema()
    hours = {
        row["execution_time"].astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
        for row in late
    }
    assert {hour for table, hour in logged if table == f"{raw}.outcomes"} == hours
    assert {table for table, _ in logged} == {
        f"{raw}.outcomes",
        f"{raw}.tool_usage",
        f"{raw}.failure_patterns",
    }
    lines = _run_rollups_reporting(incremental_rollups)
    assert all("(ingest log)" in line for line in lines), lines
    assert all("0 late range(s)" not in line for line in lines), lines
    _assert_rollups_match_raw_and_rebuild(incremental_rollups)


def test_the_ingest_log_is_pruned_once_every_rollup_has_read_it(incremental_rollups: Target) -> None:
    rng = random.Random(2023)
    with psycopg.connect(incremental_rollups.conninfo) as conn:
        write_outcomes(conn, rng, _late_outcomes(conn, rng, days_back=9), clusters=[uuid.UUID(int=6)])
        conn.commit()
        assert _ingest_log(conn, "late rows")
    for _ in range(
        2
    ):  # rollups running in parallel each see the others' older watermark: the next run prunes
        _run_rollups_reporting(incremental_rollups)
    with psycopg.connect(incremental_rollups.conninfo) as conn:
        assert _ingest_log(conn, "late rows") == []
        assert len(_ingest_log(conn, "logging started")) >= 3
        # the cut is marked, one row per source: a reader with an older watermark scans instead
        assert sorted(table for table, _ in _ingest_log(conn, "pruned")) == sorted(
            f"{dbt.raw_schema()}.{t}" for t in ("failure_patterns", "outcomes", "tool_usage")
        )
    assert all("(ingest log)" in line for line in _run_rollups_reporting(incremental_rollups))


def test_the_log_is_pruned_only_as_far_as_every_reader_has_read(incremental_rollups: Target) -> None:
    """The log serves every analytics schema: a rollup state table elsewhere with an older watermark holds
    the pruning back; a cut past a reader's watermark (made by a reader it could not see) sends that
    reader's rollups back to scanning their sources until their watermark passes the cut."""
    rng = random.Random(2026)
    raw = dbt.raw_schema()
    with psycopg.connect(incremental_rollups.conninfo, autocommit=True) as conn:
        conn.execute("create schema arc_eval_other_reader")
        conn.execute(
            "create table arc_eval_other_reader.arc_eval_rollup_state (rollup_name text primary key,"
            " source_watermark timestamptz not null, refreshed_at timestamptz not null)"
        )
        conn.execute(
            "insert into arc_eval_other_reader.arc_eval_rollup_state values ('r', now() - interval '1 day', now())"
        )
        write_outcomes(conn, rng, _late_outcomes(conn, rng, days_back=10), clusters=[uuid.UUID(int=10)])
    try:
        for _ in range(2):
            _run_rollups_reporting(incremental_rollups)
        with psycopg.connect(incremental_rollups.conninfo) as conn:
            assert _ingest_log(conn, "late rows"), "the other reader has not read them yet"
    finally:
        with psycopg.connect(incremental_rollups.conninfo, autocommit=True) as conn:
            conn.execute("drop schema arc_eval_other_reader cascade")
    _run_rollups_reporting(incremental_rollups)
    with psycopg.connect(incremental_rollups.conninfo, autocommit=True) as conn:
        assert _ingest_log(conn, "late rows") == []
        conn.execute(
            f"insert into {raw}.ingest_late_hours (source_table, time_column, kind, created_at)"
            " values (%s, 'execution_time', 'pruned', clock_timestamp())",
            (f"{raw}.outcomes",),
        )
    lines = _run_rollups_reporting(incremental_rollups)
    for line in lines:
        reads_outcomes = "simulation_performance_hourly" in line
        assert ("(source scan)" if reads_outcomes else "(ingest log)") in line, lines
    assert all("(ingest log)" in line for line in _run_rollups_reporting(incremental_rollups))


def test_a_dropped_or_disabled_log_trigger_is_restored_and_the_gap_is_scanned(
    incremental_rollups: Target,
) -> None:
    """Rows written while the trigger was missing or disabled are not in the log: the raw-schema macro
    (on-run-start, `arc-eval init`) restores the trigger and marks a new start, and until the watermark
    passes it the rollups scan the sources."""
    rng = random.Random(2024)
    raw = dbt.raw_schema()
    enabled = "select tgrelid::regclass::text from pg_trigger where tgname = 'arc_eval_late_hours' and tgenabled = 'O'"
    with psycopg.connect(incremental_rollups.conninfo) as conn:
        before = conn.execute("select clock_timestamp()").fetchone()[0]
        tables = sorted(row[0] for row in conn.execute(enabled))
        assert tables == [f"{raw}.{t}" for t in ("failure_patterns", "outcomes", "tool_usage")]
        hypertables = conn.execute("select exists (select 1 from pg_extension where extname = 'timescaledb')")
        if hypertables.fetchone()[0]:  # TimescaleDB refuses to disable a hypertable's triggers
            conn.execute(f"drop trigger arc_eval_late_hours on {tables[0]}")
        else:
            conn.execute(f"alter table {tables[0]} disable trigger arc_eval_late_hours")
        for table in tables[1:]:
            conn.execute(f"drop trigger arc_eval_late_hours on {table}")
        write_outcomes(conn, rng, _late_outcomes(conn, rng, days_back=18), clusters=[uuid.UUID(int=7)])
        conn.commit()
        assert _ingest_log(conn, "late rows") == []
    dbt.run(["run-operation", "arc_eval_create_raw_schema"], incremental_rollups, quiet=True)
    with psycopg.connect(incremental_rollups.conninfo) as conn:
        assert sorted(row[0] for row in conn.execute(enabled)) == tables
        marks = conn.execute(
            f"select source_table from {raw}.ingest_late_hours"
            " where kind = 'logging started' and created_at > %s",
            (before,),
        ).fetchall()
        assert sorted(row[0] for row in marks) == tables
    lines = _run_rollups_reporting(incremental_rollups)
    assert all("(source scan)" in line for line in lines), lines
    _assert_rollups_match_raw_and_rebuild(incremental_rollups)
    _run_rollups_reporting(incremental_rollups)  # a watermark after the restored trigger's start
    assert all("(ingest log)" in line for line in _run_rollups_reporting(incremental_rollups))


def test_writers_need_no_privilege_on_the_log_and_a_dropped_log_is_rebuilt(
    incremental_rollups: Target,
) -> None:
    """The trigger writes the log with its owner's rights, and a missing log never stops ingestion: the
    next run's raw-schema macro rebuilds it and marks a new start, and the rollups scan the sources until
    the watermark passes it."""
    rng = random.Random(2025)
    raw = dbt.raw_schema()
    role = f"arc_eval_writer_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(incremental_rollups.conninfo, autocommit=True) as admin:
        # Only INSERT on the raw tables and nothing on the log; row-level security (tenancy, tested in
        # test_security_roles) is not what this test is about, and it refuses the COPY used here.
        admin.execute(f"create role {role} login bypassrls")
        admin.execute(f"grant usage on schema {raw} to {role}")
        admin.execute(f"grant insert on all tables in schema {raw} to {role}")
        first, second = [_late_outcomes(admin, rng, days_back=days) for days in (7, 8)]
    try:
        with psycopg.connect(incremental_rollups.conninfo, user=role) as writer:
            write_outcomes(writer, rng, first, clusters=[uuid.UUID(int=8)])
        with psycopg.connect(incremental_rollups.conninfo, autocommit=True) as admin:
            assert _ingest_log(admin, "late rows"), "the writer's late rows are logged"
            admin.execute(f"drop table {raw}.ingest_late_hours")
        with psycopg.connect(incremental_rollups.conninfo, user=role) as writer:
            write_outcomes(writer, rng, second, clusters=[uuid.UUID(int=9)])
    finally:
        with psycopg.connect(incremental_rollups.conninfo, autocommit=True) as admin:
            admin.execute(f"drop owned by {role}")
            admin.execute(f"drop role {role}")
    lines = _run_rollups_reporting(incremental_rollups)
    assert all("(source scan)" in line for line in lines), lines
    _assert_rollups_match_raw_and_rebuild(incremental_rollups)
    _run_rollups_reporting(incremental_rollups)
    assert all("(ingest log)" in line for line in _run_rollups_reporting(incremental_rollups))


def test_the_stored_plans_refresh_the_continuous_aggregates(
    rollup_db: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`arc-eval refresh` without dbt refreshes a continuous aggregate (outside a transaction, as
    TimescaleDB requires): its materialized rows then hold the late rows too."""
    schema = dbt.analytics_schema()
    with psycopg.connect(rollup_db.conninfo) as conn:
        if not _continuous_aggregates_available(conn):
            pytest.skip(
                "continuous aggregates need TimescaleDB's community license and no row-level security"
            )
    (data_dir() / dbt.REFRESH_PLAN).unlink(missing_ok=True)
    dbt.refresh(rollup_db, quiet=True)  # through dbt: stores the plans' order
    rng = random.Random(2030)
    with psycopg.connect(rollup_db.conninfo) as conn:
        write_outcomes(conn, rng, _late_outcomes(conn, rng, days_back=15), clusters=[uuid.UUID(int=9)])
    monkeypatch.setattr(dbt, "run", lambda *a, **k: pytest.fail("the stored plans run without dbt"))
    assert dbt.refresh(rollup_db, quiet=True) == []
    monkeypatch.undo()
    with psycopg.connect(rollup_db.conninfo, autocommit=True) as conn:
        for name in ROLLUPS:
            conn.execute(
                f"alter materialized view {schema}.{name} set (timescaledb.materialized_only = true)"
            )
        try:
            materialized, seed = _snapshot(conn), _raw_aggregates(conn)
        finally:
            for name in ROLLUPS:
                conn.execute(
                    f"alter materialized view {schema}.{name} set (timescaledb.materialized_only = false)"
                )
    for name in ROLLUPS:
        assert_same_rows(materialized[name], seed[name], rel=1e-5, label=f"{name}: materialized vs raw")
