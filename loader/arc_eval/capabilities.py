"""What the connected server offers (TimescaleDB, its license, pgvector), probed once and returned as data.

The dbt twin is the macro ``arc_eval_capabilities()`` (``macros/capabilities.sql``): both read the same
catalog values and derive the same features, so Python and dbt agree on what a server can do.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

from .raw_rules import describe_retention

PROBE_SQL = """
select
    (select extversion from pg_extension where extname = 'timescaledb') as timescaledb_version,
    (select default_version from pg_available_extensions where name = 'timescaledb') as timescaledb_available,
    current_setting('timescaledb.license', true) as timescaledb_license,
    coalesce(current_setting('shared_preload_libraries', true), '') like '%timescaledb%' as timescaledb_preloaded,
    (select extversion from pg_extension where extname = 'vector') as vector_version,
    (select default_version from pg_available_extensions where name = 'vector') as vector_available,
    current_setting('server_version') as server_version,
    current_setting('server_version_num')::integer as server_version_num,
    coalesce((select 'lz4' = any(enumvals) from pg_settings where name = 'default_toast_compression'), false) as lz4_available
"""

COMMUNITY_LICENSE = "timescale"


@dataclass(frozen=True)
class Capabilities:
    """The probe's raw values; the ``has_*`` properties say which features follow from them."""

    timescaledb_version: str | None
    timescaledb_available: str | None
    timescaledb_license: str | None
    timescaledb_preloaded: bool
    vector_version: str | None
    vector_available: str | None
    server_version: str
    server_version_num: int
    lz4_available: bool

    @property
    def has_timescaledb(self) -> bool:
        """The timescaledb extension is created in this database (hypertables, time_bucket, drop_chunks)."""
        return self.timescaledb_version is not None

    @property
    def edition(self) -> str:
        """TimescaleDB's version and license in this database, or that its tables are plain."""
        if self.has_timescaledb:
            return f"{self.timescaledb_version} (license '{self.license}')"
        return "absent (plain tables)"

    @property
    def license(self) -> str | None:
        """``timescaledb.license`` ('timescale' or 'apache'); None without TimescaleDB loaded."""
        return self.timescaledb_license

    @property
    def has_hypertables(self) -> bool:
        return self.has_timescaledb

    @property
    def has_community_license(self) -> bool:
        return self.has_timescaledb and self.timescaledb_license == COMMUNITY_LICENSE

    @property
    def has_compression(self) -> bool:
        return self.has_community_license

    @property
    def has_continuous_aggregates(self) -> bool:
        return self.has_community_license

    @property
    def has_policies(self) -> bool:
        """Background jobs: compression/retention policies and user-defined actions (add_job)."""
        return self.has_community_license

    @property
    def has_vector(self) -> bool:
        return self.vector_version is not None

    @property
    def has_lz4(self) -> bool:
        """The server can compress TOASTed values with lz4 (the raw tables' JSON and text columns use it)."""
        return self.lz4_available

    def lz4_reason(self) -> str | None:
        """Why lz4 TOAST compression is off (None when it is on); the same wording as the dbt macro."""
        return None if self.lz4_available else "this PostgreSQL was built without lz4"

    def timescaledb_reason(self) -> str | None:
        """Why TimescaleDB is off (None when it is on); the same wording as the dbt macro."""
        if self.has_timescaledb:
            return None
        if self.timescaledb_available is None:
            return "TimescaleDB is not installed on this server"
        if not self.timescaledb_preloaded:
            return "TimescaleDB is available but not in shared_preload_libraries"
        return "the timescaledb extension is not created in this database"

    def license_reason(self) -> str | None:
        """Why the community-license features are off (None when they are on)."""
        if not self.has_timescaledb:
            return self.timescaledb_reason()
        if self.has_community_license:
            return None
        return (
            f"TimescaleDB license is '{self.timescaledb_license}' (needs the community license 'timescale')"
        )


@dataclass(frozen=True)
class Feature:
    """One line of ``arc-eval doctor``: a feature, whether it is on, and what that means here."""

    name: str
    on: bool
    detail: str


def probe(conn: psycopg.Connection) -> Capabilities:
    """Read the capabilities of the server ``conn`` is connected to (one query, no side effects)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(PROBE_SQL).fetchone()
    assert row is not None
    return Capabilities(**row)


def features(caps: Capabilities) -> list[Feature]:
    """What follows from the probe: each feature on or off, and why (pure; no database access)."""
    ts_off = caps.timescaledb_reason()
    lic_off = caps.license_reason()
    result = [
        Feature(
            "pgvector",
            caps.has_vector,
            f"vector {caps.vector_version}: 1536-d embeddings with HNSW (cosine) indexes"
            if caps.has_vector
            else "pgvector is not installed in this database: `arc-eval init` creates it if the server has it "
            + ("(it does)" if caps.vector_available else "(it does not: install postgresql-NN-pgvector)"),
        ),
        Feature(
            "hypertables",
            caps.has_hypertables,
            "outcomes, failure_patterns and tool_usage (chunks of var chunk_intervals)"
            if caps.has_hypertables
            else f"{ts_off}; outcomes, failure_patterns and tool_usage are plain tables with BRIN indexes",
        ),
        Feature(
            "time buckets",
            caps.has_timescaledb,
            "bucket() renders time_bucket()"
            if caps.has_timescaledb
            else f"{ts_off}; bucket() renders date_bin()",
        ),
        Feature(
            "compression",
            caps.has_compression,
            "outcomes after 7 days, failure_patterns after 14 days, tool_usage after 7 days"
            if caps.has_compression
            else (f"{lic_off}; chunks stay uncompressed" if caps.has_timescaledb else f"{ts_off}"),
        ),
        Feature(
            "retention policies",
            caps.has_policies,
            f"policies and a scheduled job for audit_log (batched DELETE): {describe_retention()}"
            if caps.has_policies
            else f"{lic_off}; run `arc-eval maintain` to apply the same windows "
            + (
                "(drop_chunks on hypertables, batched DELETE on audit_log)"
                if caps.has_timescaledb
                else "(batched DELETE)"
            ),
        ),
        Feature(
            "continuous aggregates",
            caps.has_continuous_aggregates,
            "rollups are real-time continuous aggregates with refresh policies"
            if caps.has_continuous_aggregates
            else f"{lic_off}; rollups are incremental models",
        ),
        Feature(
            "lz4 compression",
            caps.has_lz4,
            "the raw tables' JSON and text columns compress large values with lz4"
            if caps.has_lz4
            else f"{caps.lz4_reason()}; large values are compressed with pglz (slower to write and read)",
        ),
    ]
    return result
