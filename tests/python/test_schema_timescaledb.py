"""TimescaleDB, tier by tier: hypertables with the seed's chunk intervals; on the community license,
compression (where row-level security does not isolate tenants) and one job per policy; on plain
PostgreSQL, BRIN indexes on the time columns."""

from __future__ import annotations

import psycopg
import pytest

from arc_eval.capabilities import Capabilities
from arc_eval.connection import Target
from arc_eval.dbt import DbtError
from arc_eval.maintain import RETENTION
from schema_helpers import RAW, capabilities, create_raw_schema

# The project's chunk intervals (var chunk_intervals; the seed says 1 day for outcomes and tool_usage).
CHUNKS = {"outcomes": "7 days", "failure_patterns": "7 days", "tool_usage": "7 days"}
COMPRESS_AFTER = {"outcomes": "7 days", "failure_patterns": "14 days", "tool_usage": "7 days"}
# One tenant per database: no row-level security, so the community edition compresses (both at once it refuses).
UNISOLATED = {"tenant_row_security": False}


@pytest.fixture(scope="module")
def caps(warehouse: Target) -> Capabilities:
    return capabilities(warehouse)


def rows(target: Target, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(target.conninfo) as conn:
        return conn.execute(query, params).fetchall()


def test_hypertables_have_the_project_chunk_intervals(warehouse: Target, caps: Capabilities) -> None:
    if not caps.has_timescaledb:
        pytest.skip(f"no hypertables on this server: {caps.timescaledb_reason()}")
    found = rows(
        warehouse,
        """
        select hypertable_name, column_name, time_interval from timescaledb_information.dimensions
        where hypertable_schema = %s
        """,
        RAW,
    )
    intervals = {name: (column, str(interval)) for name, column, interval in found}
    expected = {"1 day": "1 day, 0:00:00", "7 days": "7 days, 0:00:00"}
    assert intervals == {t: ("execution_time", expected[i]) for t, i in CHUNKS.items()}


def chunk_intervals(target: Target) -> dict[str, str]:
    found = rows(
        target,
        "select hypertable_name, time_interval::text from timescaledb_information.dimensions"
        " where hypertable_schema = %s",
        RAW,
    )
    return dict(found)


def test_chunk_intervals_follow_the_var(make_database, caps: Capabilities, capsys) -> None:
    """var chunk_intervals sets each hypertable's interval when it is made, and again (for new chunks) when
    it changes; a var without a table's interval fails, naming the var and the table."""
    if not caps.has_timescaledb:
        pytest.skip(f"no hypertables on this server: {caps.timescaledb_reason()}")
    target = make_database("chunk_intervals")
    other = {"outcomes": "1 day", "tool_usage": "14 days", "failure_patterns": "7 days"}
    create_raw_schema(target, {"chunk_intervals": other})
    assert chunk_intervals(target) == other
    create_raw_schema(target)  # the project's intervals again
    assert chunk_intervals(target) == CHUNKS
    capsys.readouterr()
    with pytest.raises(DbtError):
        create_raw_schema(target, {"chunk_intervals": {"tool_usage": "1 day"}})
    assert "var chunk_intervals: no interval for 'outcomes'" in capsys.readouterr().out
    assert chunk_intervals(target) == CHUNKS


def test_plain_postgresql_has_brin_indexes_on_time_columns(warehouse: Target, caps: Capabilities) -> None:
    if caps.has_timescaledb:
        pytest.skip("TimescaleDB present: these tables are hypertables instead")
    found = rows(
        warehouse,
        "select tablename, indexdef from pg_indexes where schemaname = %s and indexdef like %s",
        RAW,
        "%USING brin%",
    )
    tables = {t for t, d in found if "(execution_time)" in d}
    assert tables == set(CHUNKS)


@pytest.fixture(scope="module")
def unisolated(make_database) -> Target:
    """A raw schema built with var tenant_row_security false."""
    target = make_database("unisolated")
    create_raw_schema(target, UNISOLATED)
    return target


def security_and_compression(target: Target) -> dict[str, tuple[bool, bool]]:
    """{time-series table: (row-level security on, compression on)}."""
    found = rows(
        target,
        """
        select h.hypertable_name, c.relrowsecurity, h.compression_enabled
        from timescaledb_information.hypertables as h
        join pg_class as c on c.oid = format('%%I.%%I', h.hypertable_schema, h.hypertable_name)::regclass
        where h.hypertable_schema = %s
        """,
        RAW,
    )
    return {name: (rls, compressed) for name, rls, compressed in found}


def test_row_security_wins_over_compression_by_default(make_database) -> None:
    target = make_database("isolated")
    create_raw_schema(target)
    caps = capabilities(target)
    if not caps.has_compression:
        pytest.skip(f"no compression: {caps.license_reason()}")
    create_raw_schema(target)
    assert security_and_compression(target) == {t: (True, False) for t in CHUNKS}
    assert [table for proc, table, _ in jobs(target) if proc == "policy_compression"] == []


def test_one_tenant_per_database_compresses(unisolated: Target) -> None:
    caps = capabilities(unisolated)
    if not caps.has_compression:
        pytest.skip(f"no compression: {caps.license_reason()}")
    create_raw_schema(unisolated, UNISOLATED)
    assert security_and_compression(unisolated) == {t: (False, True) for t in CHUNKS}
    # Writers only append to the compressed tables: nothing of theirs rewrites a compressed row.
    found = rows(
        unisolated,
        "select has_any_column_privilege('arc_eval_writer', t, 'UPDATE') from unnest(%s::regclass[]) t",
        [f"{RAW}.{table}" for table in CHUNKS],
    )
    assert found == [(False,)] * len(CHUNKS)


def test_compression_settings_on_outcomes(unisolated: Target) -> None:
    caps = capabilities(unisolated)
    if not caps.has_compression:
        pytest.skip(f"no compression: {caps.license_reason()}")
    found = rows(
        unisolated,
        """
        select attname, segmentby_column_index, orderby_column_index, orderby_asc
        from timescaledb_information.compression_settings
        where hypertable_schema = %s and hypertable_name = 'outcomes'
        order by segmentby_column_index nulls last, orderby_column_index
        """,
        RAW,
    )
    assert [(a, s) for a, s, _, _ in found if s] == [("scenario_id", 1)]
    assert [(a, o, asc) for a, _, o, asc in found if o] == [
        ("simulation_id", 1, True),
        ("execution_time", 2, False),
        ("outcome_id", 3, True),
        ("created_at", 4, True),
    ]


def orderby(target: Target) -> dict[str, str]:
    found = rows(
        target,
        """
        select h.hypertable_name, s.orderby from timescaledb_information.hypertable_compression_settings as s
        join timescaledb_information.hypertables as h
            on s.hypertable = format('%%I.%%I', h.hypertable_schema, h.hypertable_name)::regclass
        where h.hypertable_schema = %s
        """,
        RAW,
    )
    return dict(found)


def test_compressed_batches_keep_the_range_of_created_at(unisolated: Target) -> None:
    """created_at ends every orderby, so each compressed batch keeps its min and max: the search for rows
    created since a watermark (the rollups' late rows, the live models' fresh hours) skips the batches
    before it instead of decompressing every chunk; a schema made with the earlier settings is brought to
    these (for the chunks compressed from then on)."""
    caps = capabilities(unisolated)
    if not caps.has_compression:
        pytest.skip(f"no compression: {caps.license_reason()}")
    expected = {
        "outcomes": "simulation_id,execution_time DESC,outcome_id,created_at",
        "tool_usage": "execution_time DESC,usage_id,created_at",
        "failure_patterns": "execution_time DESC,pattern_id,created_at",
    }
    assert orderby(unisolated) == expected
    with psycopg.connect(unisolated.conninfo, autocommit=True) as conn:
        conn.execute(
            f"alter table {RAW}.tool_usage set (timescaledb.compress_orderby = 'execution_time DESC, usage_id')"
        )
    assert orderby(unisolated)["tool_usage"] == "execution_time DESC,usage_id"
    create_raw_schema(unisolated, UNISOLATED)
    assert orderby(unisolated) == expected


def jobs(target: Target) -> list[tuple]:
    return rows(
        target,
        """
        select proc_name, coalesce(hypertable_name, proc_name), config
        from timescaledb_information.jobs where hypertable_schema = %s or proc_schema = %s
        """,
        RAW,
        RAW,
    )


def test_community_jobs_listed_once_each_after_two_runs(make_database) -> None:
    target = make_database("jobs")
    create_raw_schema(target, UNISOLATED)
    caps = capabilities(target)
    if not caps.has_policies:
        pytest.skip(f"no policy jobs: {caps.license_reason()}")
    create_raw_schema(target, UNISOLATED)
    found = jobs(target)
    keys = sorted((proc, table) for proc, table, _ in found)
    assert keys == sorted(
        [("policy_compression", t) for t in COMPRESS_AFTER]
        + [("policy_retention", t) for t in CHUNKS]
        + [("arc_eval_audit_log_retention", "arc_eval_audit_log_retention")]
    )
    configs = {(proc, table): config for proc, table, config in found}
    for table, after in COMPRESS_AFTER.items():
        assert configs[("policy_compression", table)]["compress_after"] == after
    # The policies use the same windows as `arc-eval maintain`.
    for table, (_, window) in RETENTION.items():
        if table in CHUNKS:
            got = configs[("policy_retention", table)]["drop_after"]
        else:
            got = configs[("arc_eval_audit_log_retention", "arc_eval_audit_log_retention")]["drop_after"]
        assert rows(target, "select %s::interval = %s::interval", got, window) == [(True,)], (table, got)


def test_audit_log_retention_job_deletes_old_rows(make_database) -> None:
    target = make_database("auditjob")
    create_raw_schema(target)
    caps = capabilities(target)
    if not caps.has_policies:
        pytest.skip(f"no user-defined actions: {caps.license_reason()}")
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute(
            f"""
            insert into {RAW}.audit_log (table_name, operation, "timestamp")
            values ('configurations', 'INSERT', now() - interval '400 days'),
                   ('configurations', 'INSERT', now() - interval '10 days')
            """
        )
        (job_id,) = conn.execute(
            "select job_id from timescaledb_information.jobs where proc_name = 'arc_eval_audit_log_retention'"
        ).fetchone()
        conn.execute("call public.run_job(%s)", [job_id])
        ages = conn.execute(
            f"select now() - \"timestamp\" < interval '1 year' from {RAW}.audit_log"
        ).fetchall()
    assert ages == [(True,)]
