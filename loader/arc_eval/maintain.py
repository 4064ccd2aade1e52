"""Retention for servers without TimescaleDB policy jobs (``arc-eval maintain``).

The windows are the seed's (section 4C), from the raw rules (:mod:`arc_eval.raw_rules`). A hypertable loses whole chunks older than its window (``drop_chunks``); any other table
loses its old rows by a DELETE in batches, each batch committed on its own. On the community license the
same windows are also scheduled as policies and a job by ``arc_eval_create_raw_schema``.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from . import dbt
from .capabilities import probe
from .raw_rules import RETENTION_WINDOWS

# table -> (time column, retention window); children before parents.
TIME_COLUMNS = {
    "tool_usage": "execution_time",
    "failure_patterns": "execution_time",
    "outcomes": "execution_time",
    "audit_log": "timestamp",
}
RETENTION: dict[str, tuple[str, str]] = {
    table: (column, RETENTION_WINDOWS[table]) for table, column in TIME_COLUMNS.items()
}


@dataclass(frozen=True)
class RetentionAction:
    """What maintenance did (or, in a dry run, would do) to one table."""

    table: str
    method: str  # "drop_chunks", "delete" or "missing" (table not created yet)
    window: str
    count: int  # chunks dropped or rows deleted
    batches: int = 0

    def describe(self) -> str:
        if self.method == "missing":
            return f"{self.table}: no such table — run `arc-eval init`"
        if self.method == "drop_chunks":
            return f"{self.table}: drop_chunks older than {self.window}: {self.count} chunk(s)"
        return (
            f"{self.table}: DELETE older than {self.window}: {self.count} row(s) in {self.batches} batch(es)"
        )


def _hypertables(conn: psycopg.Connection, schema: str) -> set[str]:
    if not probe(conn).has_timescaledb:
        return set()
    rows = conn.execute(
        "select hypertable_name from timescaledb_information.hypertables where hypertable_schema = %s",
        [schema],
    ).fetchall()
    return {r[0] for r in rows}


def _primary_key(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    rows = conn.execute(
        """
        select a.attname
        from pg_index i
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
        where i.indrelid = %s::regclass and i.indisprimary
        order by array_position(i.indkey::int2[], a.attnum)
        """,
        [f"{schema}.{table}"],
    ).fetchall()
    return [r[0] for r in rows]


def apply_retention(
    conninfo: str,
    schema: str | None = None,
    *,
    windows: dict[str, tuple[str, str]] | None = None,
    batch_size: int = 10_000,
    dry_run: bool = False,
) -> list[RetentionAction]:
    """Remove rows older than each table's window; return one action per table.

    Guarantees: only rows (or whole chunks) older than ``now() - window`` go; each DELETE batch is its own
    transaction, so an interrupted run keeps what it did and can simply be run again. ``dry_run`` counts
    what would go and changes nothing.
    """
    schema = schema or dbt.raw_schema()
    windows = RETENTION if windows is None else windows
    actions: list[RetentionAction] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        hypertables = _hypertables(conn, schema)
        for table, (column, window) in windows.items():
            relation = sql.Identifier(schema, table)
            if conn.execute("select to_regclass(%s)", [f"{schema}.{table}"]).fetchone() == (None,):
                actions.append(RetentionAction(table, "missing", window, 0))
                continue
            if table in hypertables:
                fn = "show_chunks" if dry_run else "drop_chunks"
                query = sql.SQL(
                    "select count(*) from public.{}(%s::regclass, older_than => %s::interval)"
                ).format(sql.Identifier(fn))
                (count,) = conn.execute(query, [f"{schema}.{table}", window]).fetchone()
                actions.append(RetentionAction(table, "drop_chunks", window, count))
                continue
            cutoff = sql.SQL("{} < now() - %s::interval").format(sql.Identifier(column))
            if dry_run:
                query = sql.SQL("select count(*) from {} where {}").format(relation, cutoff)
                (count,) = conn.execute(query, [window]).fetchone()
                actions.append(RetentionAction(table, "delete", window, count, 0))
                continue
            key = sql.SQL(", ").join(map(sql.Identifier, _primary_key(conn, schema, table)))
            delete = sql.SQL(
                "delete from {rel} where ({key}) in (select {key} from {rel} where {cutoff} limit %s)"
            ).format(rel=relation, key=key, cutoff=cutoff)
            total = batches = 0
            while True:
                deleted = conn.execute(delete, [window, batch_size]).rowcount
                batches += 1
                total += deleted
                if deleted < batch_size:
                    break
            actions.append(RetentionAction(table, "delete", window, total, batches))
    return actions
