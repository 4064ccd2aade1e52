"""Move a whole arc-eval database to another server, directly or through CSV files.

:func:`migrate` copies every table of the raw schema from a source database (for example the embedded
default) to a target server (for example TimescaleDB):

1. the target's raw schema is created or brought up to date with ``init`` (no seeds: the scenarios are
   copied like every other table), so hypertables, constraints and indexes are the target's own;
2. tables are copied in foreign-key order (parents first); tables tied by a deferrable foreign key
   (``configurations.latest_version_id``) are copied together in one transaction;
3. each table is streamed with ``COPY ... TO STDOUT`` from the source into ``COPY ... FROM STDIN`` on the
   target, in batches ordered by its key: the time column first for a hypertable (time order), then the
   primary key. Each batch lands in a temporary staging table and is inserted with ``ON CONFLICT DO
   NOTHING`` in its own transaction, with arc-eval's own triggers (the audit trigger) off for that
   insert, so the copy writes no audit rows of its own;
4. a migration that stops (interrupted, connection lost) resumes where it stopped: each table continues
   after the highest key already on the target, and a row copied twice is skipped by its primary key,
   so a resumed migration never duplicates a row;
5. it finishes by comparing, per table, the row count and a checksum (the sum of the first 64 bits of
   ``md5`` of each row's text, computed by each server in UTC) on both sides.

Only the raw schema is copied: the dbt models are rebuilt on the target with ``arc-eval dbt build``.
Stop writers to the source first; rows written to it during the copy may be missed, and the check says so.

:func:`export_csv` and :func:`import_csv` do the same through a folder of CSV files with headers (one file
per table, plus ``manifest.json`` holding the order, the columns and the source's counts and checksums).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from . import dbt
from .connection import Target

BATCH_ROWS = 10_000
MANIFEST = "manifest.json"
SESSION_SETTINGS = ("SET TimeZone = 'UTC'", "SET DateStyle = 'ISO, YMD'", "SET IntervalStyle = 'postgres'")
TEXT_TYPES = ("text", "character varying", "character", "name", "citext")

Progress = Callable[[str, int, int], None]
"""Called after each committed batch with the table, the rows on the target so far and the source's total."""


class MigrationError(RuntimeError):
    """The migration cannot start, or its check found a difference; the message names the table."""


@dataclass(frozen=True)
class Table:
    """One table to copy: its columns (in the target's order) and the key it is copied in order of."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    text_columns: frozenset[str] = frozenset()
    time_column: str | None = None


@dataclass
class TableCheck:
    """Row count and checksum of one table on both sides, and how many rows this run inserted."""

    name: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str
    inserted: int = 0

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum

    def describe(self) -> str:
        state = "ok" if self.ok else "DIFFERS"
        return (
            f"{self.name}: {self.target_rows}/{self.source_rows} rows, checksum {state}"
            f" ({self.inserted} inserted by this run)"
        )


@dataclass
class Plan:
    """The tables of the raw schema in copy order, grouped into units copied in one transaction each."""

    schema: str
    units: list[list[Table]] = field(default_factory=list)

    @property
    def tables(self) -> list[Table]:
        return [table for unit in self.units for table in unit]


# -- catalog ---------------------------------------------------------------------------------------------


def _connect(target: Target | str) -> psycopg.Connection:
    conninfo = target.conninfo if isinstance(target, Target) else target
    conn = psycopg.connect(conninfo, autocommit=True)
    for statement in SESSION_SETTINGS:
        conn.execute(statement)
    return conn


# Tables that belong to one server, not to the data: the logins of its principals (database roles, which
# a dump of one database does not carry either) are set up on each server with `arc-eval principal add`;
# the ingest log of late rows (ingest_late_hours) is about this server's rollups and their watermarks, and
# the target's own trigger logs the copied rows' hours for the target's rollups.
SERVER_LOCAL = frozenset({"arc_eval_principals", "ingest_late_hours"})


def _tables(conn: psycopg.Connection, schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname",
        [schema],
    ).fetchall()
    return [r[0] for r in rows if r[0] not in SERVER_LOCAL]


def _columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str, bool]]:
    """(name, type, generated) in column order."""
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, NULL), a.attgenerated <> '' FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        [f'"{schema}"."{table}"'],
    ).fetchall()
    return [(r[0], r[1], bool(r[2])) for r in rows]


def _primary_key(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY (i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)",
        [f'"{schema}"."{table}"'],
    ).fetchall()
    return [r[0] for r in rows]


def _time_columns(conn: psycopg.Connection, schema: str) -> dict[str, str]:
    """Hypertable -> its time column, where TimescaleDB is installed."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() is None:
        return {}
    rows = conn.execute(
        "SELECT hypertable_name, column_name FROM timescaledb_information.dimensions "
        "WHERE hypertable_schema = %s AND dimension_number = 1",
        [schema],
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def _foreign_keys(conn: psycopg.Connection, schema: str) -> list[tuple[str, str, bool]]:
    """(child, parent, deferrable) for each foreign key between tables of the schema."""
    rows = conn.execute(
        "SELECT c.relname, p.relname, con.condeferrable FROM pg_constraint con "
        "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_class p ON p.oid = con.confrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_namespace pn ON pn.oid = p.relnamespace "
        "WHERE con.contype = 'f' AND n.nspname = %s AND pn.nspname = %s ORDER BY 1, 2",
        [schema, schema],
    ).fetchall()
    return [(r[0], r[1], bool(r[2])) for r in rows]


def _order(names: Sequence[str], edges: Iterable[tuple[str, str, bool]]) -> list[list[str]]:
    """Units of tables, parents before children. A deferrable foreign key (checked at commit) or a
    self-reference puts its tables in one unit, placed after the last of its members' parents."""
    group = {name: name for name in names}

    def find(name: str) -> str:
        while group[name] != name:
            name = group[name]
        return name

    hard: dict[str, set[str]] = {name: set() for name in names}
    for child, parent, deferrable in edges:
        if deferrable or child == parent:
            group[find(child)] = find(parent)
        else:
            hard[child].add(parent)
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and hard[n] <= set(ordered)]
        if not ready:
            cycle = sorted(set(names) - set(ordered))
            raise MigrationError(f"foreign keys form a cycle among {', '.join(cycle)}: no copy order exists")
        ordered.append(ready[0])
    members: dict[str, list[str]] = {}
    for name in ordered:
        members.setdefault(find(name), []).append(name)
    selfref = {child for child, parent, _ in edges if child == parent}
    units: list[list[str]] = []
    pending: dict[str, list[str]] = {}
    for name in ordered:
        root = find(name)
        if len(members[root]) == 1 and name not in selfref:
            units.append([name])
            continue
        pending.setdefault(root, []).append(name)
        if len(pending[root]) == len(members[root]):
            units.append(pending.pop(root))
    return units


def plan(source: psycopg.Connection, target: psycopg.Connection, schema: str) -> Plan:
    """The copy plan, from the target's catalog (its columns, keys and hypertables)."""
    names = _tables(target, schema)
    on_source = set(_tables(source, schema))
    missing = [n for n in on_source if n not in names]
    if missing:
        raise MigrationError(f"tables {', '.join(sorted(missing))} exist on the source but not on the target")
    times = _time_columns(target, schema) or _time_columns(source, schema)
    tables: dict[str, Table] = {}
    for name in names:
        if name not in on_source:
            continue
        target_columns = _columns(target, schema, name)
        source_names = {c[0] for c in _columns(source, schema, name)}
        extra = sorted(source_names - {c[0] for c in target_columns})
        if extra:
            raise MigrationError(
                f"{name}: columns {', '.join(extra)} exist on the source but not on the target"
            )
        columns = tuple(c[0] for c in target_columns if not c[2] and c[0] in source_names)
        key = _primary_key(target, schema, name)
        if not key:
            raise MigrationError(f"{name} has no primary key: a resumable copy needs one")
        time_column = times.get(name)
        if time_column:
            key = [time_column, *(k for k in key if k != time_column)]
        text = frozenset(c[0] for c in target_columns if c[1] in TEXT_TYPES)
        tables[name] = Table(name, columns, tuple(key), text, time_column)
    edges = [e for e in _foreign_keys(target, schema) if e[0] in tables and e[1] in tables]
    return Plan(schema, [[tables[n] for n in unit] for unit in _order(list(tables), edges)])


# -- SQL pieces ------------------------------------------------------------------------------------------


def _qualified(schema: str, table: Table) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table.name))


def _column_list(table: Table) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in table.columns)


def _key_terms(table: Table) -> list[sql.Composable]:
    """Key columns as ordered on both servers: text compared byte-wise, whatever each side's collation."""
    return [
        sql.SQL('{} COLLATE "C"').format(sql.Identifier(k)) if k in table.text_columns else sql.Identifier(k)
        for k in table.key
    ]


def _select(schema: str, table: Table, after: Sequence[Any] | None, limit: int | None) -> sql.Composed:
    terms = _key_terms(table)
    query = sql.SQL("SELECT {} FROM {}").format(_column_list(table), _qualified(schema, table))
    if after is not None:
        bound = sql.SQL(", ").join(sql.Literal(v) for v in after)
        query += sql.SQL(" WHERE ({}) > ({})").format(sql.SQL(", ").join(terms), bound)
        if table.time_column:  # lets the planner use the time index
            query += sql.SQL(" AND {} >= {}").format(sql.Identifier(table.time_column), sql.Literal(after[0]))
    query += sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(terms))
    if limit is not None:
        query += sql.SQL(" LIMIT {}").format(sql.Literal(limit))
    return query


def _last_key(conn: psycopg.Connection, schema: str, table: Table) -> tuple[Any, ...] | None:
    terms = sql.SQL(", ").join(sql.SQL("{} DESC").format(t) for t in _key_terms(table))
    row = conn.execute(
        sql.SQL("SELECT {} FROM {} ORDER BY {} LIMIT 1").format(
            sql.SQL(", ").join(sql.Identifier(k) for k in table.key), _qualified(schema, table), terms
        )
    ).fetchone()
    return None if row is None else tuple(row)


def _own_triggers(conn: psycopg.Connection, schema: str, table: Table) -> list[str]:
    """Row triggers whose function lives in the raw schema (arc-eval's own, such as the audit trigger and the
    review guards), which the copy turns off. Statement triggers stay on (the one on hypertables takes the
    writer's grants off each new chunk; the ingest log's records the copied rows' hours for the target's
    rollups), and so does every trigger of a hypertable, since TimescaleDB cannot turn them off."""
    # Two statements: a query naming the view fails to parse where TimescaleDB is absent.
    timescale = conn.execute(
        "SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL"
    ).fetchone()[0]
    if (
        timescale
        and conn.execute(
            "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables"
            " WHERE hypertable_schema = %s AND hypertable_name = %s)",
            [schema, table.name],
        ).fetchone()[0]
    ):
        return []
    rows = conn.execute(
        "SELECT t.tgname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE t.tgrelid = %s::regclass AND NOT t.tgisinternal AND n.nspname = %s"
        " AND t.tgtype & 1 = 1 ORDER BY 1",
        [f'"{schema}"."{table.name}"', schema],
    ).fetchall()
    return [r[0] for r in rows]


def checksum(conn: psycopg.Connection, schema: str, table: Table) -> tuple[int, str]:
    """(rows, checksum) of a table: the sum of the first 64 bits of md5 of each row's text, in UTC."""
    row = conn.execute(
        sql.SQL(
            "SELECT count(*), coalesce(sum(('x' || substr(md5(ROW({})::text), 1, 16))::bit(64)::bigint), 0)::text"
            " FROM {}"
        ).format(_column_list(table), _qualified(schema, table))
    ).fetchone()
    return int(row[0]), str(row[1])


# -- loading ---------------------------------------------------------------------------------------------


Feed = Callable[[psycopg.Copy], None]


def _load(
    conn: psycopg.Connection, schema: str, parts: Sequence[tuple[Table, Feed, str]]
) -> list[tuple[int, int]]:
    """Inside the caller's transaction, for each (table, feed, COPY options): COPY the rows ``feed``
    writes into a staging table, then insert them with ON CONFLICT DO NOTHING. arc-eval's own triggers
    are off meanwhile; deferred constraints are checked before they are turned back on.
    Returns (rows read, rows inserted) per part."""
    triggers = [(table, name) for table, _, _ in parts for name in _own_triggers(conn, schema, table)]
    for table, name in triggers:
        conn.execute(
            sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(
                _qualified(schema, table), sql.Identifier(name)
            )
        )
    counts = []
    for table, feed, options in parts:
        stage = sql.Identifier(f"arc_eval_stage_{table.name}")
        conn.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
                stage, _qualified(schema, table)
            )
        )
        with conn.cursor() as cur:
            statement = sql.SQL("COPY {} ({}) FROM STDIN {}").format(
                stage, _column_list(table), sql.SQL(options)
            )
            with cur.copy(statement) as copy:
                feed(copy)
            read = cur.rowcount
        inserted = conn.execute(
            sql.SQL(
                "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} ON CONFLICT DO NOTHING"
            ).format(_qualified(schema, table), _column_list(table), _column_list(table), stage)
        ).rowcount
        counts.append((read, max(inserted, 0)))
    conn.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fires the deferred checks now, so ALTER TABLE may run
    for table, name in triggers:
        conn.execute(
            sql.SQL("ALTER TABLE {} ENABLE TRIGGER {}").format(
                _qualified(schema, table), sql.Identifier(name)
            )
        )
    for table, _, _ in parts:
        _advance_sequences(conn, schema, table)
    return counts


def _advance_sequences(conn: psycopg.Connection, schema: str, table: Table) -> None:
    """Move each serial or identity sequence of ``table`` past the highest value copied into it."""
    name = f'"{schema}"."{table.name}"'
    rows = conn.execute(
        "SELECT a.attname, pg_get_serial_sequence(%s, a.attname) FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
        "AND pg_get_serial_sequence(%s, a.attname) IS NOT NULL",
        [name, name, name],
    ).fetchall()
    for column, sequence in rows:
        conn.execute(
            sql.SQL("SELECT setval({}, greatest(max({}), 1)::bigint, max({}) IS NOT NULL) FROM {}").format(
                sql.Literal(sequence),
                sql.Identifier(column),
                sql.Identifier(column),
                _qualified(schema, table),
            )
        )


def _stream(source: psycopg.Connection, query: sql.Composed) -> Feed:
    def feed(copy: psycopg.Copy) -> None:
        with source.cursor() as cur, cur.copy(sql.SQL("COPY ({}) TO STDOUT").format(query)) as out:
            for data in out:
                copy.write(data)

    return feed


def _copy_table(
    source: psycopg.Connection,
    target: psycopg.Connection,
    schema: str,
    table: Table,
    total: int,
    batch_rows: int,
    progress: Progress | None,
) -> int:
    """Copy one table in committed batches after the target's highest key; returns rows inserted."""
    inserted = 0
    done = _count(target, schema, table)
    while True:
        after = _last_key(target, schema, table)
        with target.transaction():
            query = _select(schema, table, after, batch_rows)
            [(read, added)] = _load(target, schema, [(table, _stream(source, query), "")])
        inserted += added
        done += added
        if progress is not None:
            progress(table.name, done, total)
        if read < batch_rows:
            return inserted


def _count(conn: psycopg.Connection, schema: str, table: Table) -> int:
    return int(
        conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_qualified(schema, table))).fetchone()[0]
    )


def init_target(target: Target) -> None:
    """Create or bring up to date the raw schema on ``target`` (``arc-eval init`` without the seeds)."""
    dbt.init_warehouse(target, seed=False, quiet=True)


def migrate(
    source: Target,
    target: Target,
    *,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
    init: bool = True,
) -> list[TableCheck]:
    """Copy the raw schema of ``source`` to ``target`` (see the module docstring); returns the per-table
    check and raises :class:`MigrationError` when a table differs."""
    if batch_rows < 1:
        raise MigrationError("batch_rows must be at least 1")
    if init:
        init_target(target)
    schema = dbt.raw_schema()
    with _connect(source) as src, _connect(target) as dst:
        if not _tables(src, schema):
            raise MigrationError(f"the source has no raw schema {schema!r} (is it an arc-eval database?)")
        the_plan = plan(src, dst, schema)
        totals = {t.name: _count(src, schema, t) for t in the_plan.tables}
        inserted: dict[str, int] = {}
        for unit in the_plan.units:
            if len(unit) == 1:
                table = unit[0]
                inserted[table.name] = _copy_table(
                    src, dst, schema, table, totals[table.name], batch_rows, progress
                )
                continue
            with dst.transaction():  # tied by a deferrable foreign key: all at once
                parts = [(t, _stream(src, _select(schema, t, None, None)), "") for t in unit]
                for table, (_, added) in zip(unit, _load(dst, schema, parts), strict=True):
                    inserted[table.name] = added
            if progress is not None:
                for table in unit:
                    progress(table.name, _count(dst, schema, table), totals[table.name])
        checks = []
        for table in the_plan.tables:
            rows, sums = checksum(src, schema, table)
            target_rows, target_sums = checksum(dst, schema, table)
            checks.append(
                TableCheck(table.name, rows, target_rows, sums, target_sums, inserted.get(table.name, 0))
            )
    _raise_on_difference(checks)
    return checks


def _raise_on_difference(checks: Sequence[TableCheck]) -> None:
    bad = [c for c in checks if not c.ok]
    if bad:
        raise MigrationError(
            "the copy differs from the source: "
            + "; ".join(c.describe() for c in bad)
            + " (were rows written to the source during the copy? run it again to copy them)"
        )


# -- CSV -------------------------------------------------------------------------------------------------


def export_csv(source: Target, directory: Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """Write each raw table to ``directory/<table>.csv`` (with a header, rows in key order) and
    ``manifest.json``; returns the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    schema = dbt.raw_schema()
    with _connect(source) as src:
        names = _tables(src, schema)
        if not names:
            raise MigrationError(f"the source has no raw schema {schema!r} (is it an arc-eval database?)")
        the_plan = plan(src, src, schema)
        manifest: dict[str, Any] = {"format": 1, "schema": schema, "units": [], "tables": {}}
        for unit in the_plan.units:
            manifest["units"].append([t.name for t in unit])
            for table in unit:
                path = directory / f"{table.name}.csv"
                query = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(
                    _select(schema, table, None, None)
                )
                with path.open("wb") as out, src.cursor() as cur, cur.copy(query) as copy:
                    for data in copy:
                        out.write(data)
                rows, sums = checksum(src, schema, table)
                manifest["tables"][table.name] = {"file": path.name, "rows": rows, "checksum": sums}
                if progress is not None:
                    progress(table.name, rows, rows)
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _file_feed(path: Path) -> Feed:
    def feed(copy: psycopg.Copy) -> None:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                copy.write(chunk)

    return feed


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), [])


def import_csv(
    target: Target, directory: Path, *, progress: Progress | None = None, init: bool = True
) -> list[TableCheck]:
    """Load a folder written by :func:`export_csv` into ``target`` (rows already there are skipped, so
    an interrupted import can be run again) and check counts and checksums against the manifest."""
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise MigrationError(f"{manifest_path} not found: export the database with `arc-eval export` first")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != 1:
        raise MigrationError(f"{manifest_path}: unsupported format {manifest.get('format')!r}")
    schema = dbt.raw_schema()
    if manifest["schema"] != schema:
        raise MigrationError(
            f"{manifest_path}: exported from schema {manifest['schema']!r}, importing into {schema!r}"
            " (set ARC_EVAL_RAW_SCHEMA to match)"
        )
    if init:
        init_target(target)
    checks = []
    with _connect(target) as dst:
        known = {t.name: t for t in plan(dst, dst, schema).tables}
        inserted: dict[str, int] = {}
        for unit in manifest["units"]:
            parts = []
            for name in unit:
                if name not in known:
                    raise MigrationError(f"{name}: in the export but not a table of the target")
                path = directory / manifest["tables"][name]["file"]
                columns = tuple(_header(path))
                unknown = sorted(set(columns) - set(known[name].columns))
                if unknown:
                    raise MigrationError(
                        f"{path.name}: columns {', '.join(unknown)} are not in the target table"
                    )
                table = Table(
                    name, columns, known[name].key, known[name].text_columns, known[name].time_column
                )
                parts.append((table, _file_feed(path), "WITH (FORMAT csv, HEADER true)"))
            with dst.transaction():
                for (table, _, _), (_, added) in zip(parts, _load(dst, schema, parts), strict=True):
                    inserted[table.name] = added
            if progress is not None:
                for name in unit:
                    progress(name, _count(dst, schema, known[name]), manifest["tables"][name]["rows"])
        for unit in manifest["units"]:
            for name in unit:
                path = directory / manifest["tables"][name]["file"]
                table = Table(name, tuple(_header(path)), known[name].key)
                rows, sums = checksum(dst, schema, table)
                entry = manifest["tables"][name]
                checks.append(
                    TableCheck(name, entry["rows"], rows, entry["checksum"], sums, inserted.get(name, 0))
                )
    _raise_on_difference(checks)
    return checks


def describe_progress(out: Callable[[str], None]) -> Progress:
    """A :data:`Progress` callback printing one line per batch through ``out``."""

    def report(table: str, done: int, total: int) -> None:
        share = f"{100 * done / total:5.1f}%" if total else "  --  "
        out(f"  {table:<28} {done:>10}/{total:<10} {share}")

    return report
