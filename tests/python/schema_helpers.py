"""Helpers for the raw-schema tests: run the create macro, probe a target, snapshot the catalog."""

from __future__ import annotations

import psycopg

from arc_eval import dbt
from arc_eval.capabilities import Capabilities, probe
from arc_eval.connection import Target

RAW = dbt.raw_schema()


def create_raw_schema(target: Target, dbt_vars: dict | None = None) -> None:
    """``dbt run-operation arc_eval_create_raw_schema`` against ``target`` (with ``dbt_vars``)."""
    dbt.run(["run-operation", "arc_eval_create_raw_schema"], target, quiet=True, dbt_vars=dbt_vars)


def capabilities(target: Target) -> Capabilities:
    with psycopg.connect(target.conninfo) as conn:
        return probe(conn)


CATALOG_QUERIES = {
    "relations": """
        select c.relname || ':' || c.relkind::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %(s)s
    """,
    "columns": """
        select c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
            || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') || case when a.attnotnull then ' not null' else '' end
        from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where n.nspname = %(s)s and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
    """,
    "constraints": """
        select c.relname || '.' || con.conname || ' ' || pg_get_constraintdef(con.oid)
        from pg_constraint con join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %(s)s
    """,
    "indexes": "select indexname || ' ' || indexdef from pg_indexes where schemaname = %(s)s",
    "triggers": """
        select c.relname || '.' || t.tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid
        join pg_namespace n on n.oid = c.relnamespace where n.nspname = %(s)s and not t.tgisinternal
    """,
    "functions": """
        select p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = %(s)s
    """,
}
TIMESCALE_QUERIES = {
    "hypertables": """
        select hypertable_name || ' ' || column_name || ' ' || time_interval::text
        from timescaledb_information.dimensions where hypertable_schema = %(s)s
    """,
    "compression": """
        select hypertable_name || '.' || attname || ' ' || coalesce(segmentby_column_index, 0) || ' '
            || coalesce(orderby_column_index, 0)
        from timescaledb_information.compression_settings where hypertable_schema = %(s)s
    """,
    "jobs": """
        select proc_schema || '.' || proc_name || ' ' || coalesce(hypertable_name, '') || ' ' || config::text
        from timescaledb_information.jobs where hypertable_schema = %(s)s or proc_schema = %(s)s
    """,
}


def catalog_snapshot(target: Target, schema: str = RAW) -> dict[str, list[str]]:
    """Every object of ``schema`` (and its TimescaleDB settings and jobs) as sorted lists of descriptions."""
    with psycopg.connect(target.conninfo) as conn:
        queries = dict(CATALOG_QUERIES)
        if probe(conn).has_timescaledb:
            queries.update(TIMESCALE_QUERIES)
        return {
            kind: sorted(r[0] for r in conn.execute(query, {"s": schema}).fetchall())
            for kind, query in queries.items()
        }
