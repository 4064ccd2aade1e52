"""Database roles and principals (docs/security.md).

The raw-schema macro makes four NOLOGIN group roles (owner, writer, reader, reviewer; names from the dbt
var ``roles``) and registers them in ``arc_eval_principals``. A *principal* is a login that joins one
group and, for a writer or a reviewer, acts for one ``user_id``: row-level security keys the writer's
rows on it, and the review functions record it as the reviewer. Managing principals needs a connection
that may create roles (CREATEROLE) and write the mapping (the owner role).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import re
import secrets
import uuid
from typing import Any

import psycopg
from psycopg import sql

from . import dbt

KINDS = ("owner", "writer", "reader", "reviewer")
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
OPERATIONS = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")


class RoleError(RuntimeError):
    """Roles are missing, or a principal cannot be made as asked."""


@dataclasses.dataclass(frozen=True)
class Principal:
    name: str
    kind: str
    user_id: uuid.UUID | None
    password: str | None = dataclasses.field(default=None, repr=False)


def _t(name: str) -> sql.Composed:
    return sql.Identifier(dbt.raw_schema(), name)


def group_roles(conn: psycopg.Connection) -> dict[str, str]:
    """``{kind: group role name}`` as registered by the raw-schema macro; RoleError when there are none."""
    try:
        rows = conn.execute(
            sql.SQL("select kind, role_name from {} where is_group").format(_t("arc_eval_principals"))
        ).fetchall()
    except psycopg.errors.UndefinedTable:
        conn.rollback()
        raise RoleError("the raw schema has no roles table: run `arc-eval init` first") from None
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        raise RoleError("reading the roles needs the owner role") from None
    found = {kind: name for kind, name in rows}
    existing = {
        r[0]
        for r in conn.execute("select rolname from pg_roles where rolname = any(%s)", [list(found.values())])
    }
    if not found or set(found.values()) - existing:
        raise RoleError(
            "the group roles do not exist: `arc-eval init` creates them when its user has CREATEROLE"
        )
    return found


def scram_verifier(password: str, *, iterations: int = 4096) -> str:
    """A SCRAM-SHA-256 verifier (RFC 5802/7677, PostgreSQL's format): the server never sees the password."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"
    )


def add_principal(
    conn: psycopg.Connection,
    name: str,
    kind: str,
    user_id: uuid.UUID | str | None = None,
    *,
    password: bool = True,
) -> Principal:
    """Create login ``name`` in the ``kind`` group with its tenant mapping, in one transaction.

    ``password=True`` gives it a random password, stored on the server as a SCRAM-SHA-256 verifier and
    returned once in :attr:`Principal.password`; ``password=False`` makes a login without a password,
    for peer or certificate authentication (pg_hba.conf). Writers and reviewers need ``user_id``.
    """
    if not isinstance(name, str) or not ROLE_NAME.match(name):
        raise RoleError(f"name {name!r}: must be a lower-case identifier of at most 63 characters")
    if kind not in KINDS:
        raise RoleError(f"role {kind!r}: must be one of {', '.join(KINDS)}")
    user = None
    if user_id is not None:
        try:
            user = user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))
        except ValueError:
            raise RoleError(f"user id {user_id!r}: must be a UUID") from None
    if user is None and kind in ("writer", "reviewer"):
        raise RoleError(f"user id: a {kind} acts for one user; give --user-id")
    groups = group_roles(conn)
    if name in groups.values():
        raise RoleError(f"name {name!r}: is a group role")
    secret = secrets.token_urlsafe(24) if password else None
    with conn.transaction():
        if conn.execute("select 1 from pg_roles where rolname = %s", [name]).fetchone():
            raise RoleError(f"name {name!r}: a role with this name exists already")
        if secret is None:
            conn.execute(sql.SQL("create role {} login").format(sql.Identifier(name)))
        else:
            conn.execute(
                sql.SQL("create role {} login password {}").format(
                    sql.Identifier(name), sql.Literal(scram_verifier(secret))
                )
            )
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(groups[kind]), sql.Identifier(name)))
        conn.execute(
            sql.SQL("insert into {} (role_name, kind, user_id) values (%s, %s, %s)").format(
                _t("arc_eval_principals")
            ),
            [name, kind, user],
        )
    return Principal(name, kind, user, secret)


def remove_principal(conn: psycopg.Connection, name: str) -> bool:
    """Drop login ``name`` and its mapping. Returns whether it was a principal of this database."""
    groups = group_roles(conn)
    if name in groups.values():
        raise RoleError(f"name {name!r}: is a group role, not a principal")
    with conn.transaction():
        deleted = conn.execute(
            sql.SQL("delete from {} where role_name = %s and not is_group").format(_t("arc_eval_principals")),
            [name],
        ).rowcount
        if conn.execute("select 1 from pg_roles where rolname = %s", [name]).fetchone():
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))
    return bool(deleted)


def list_principals(conn: psycopg.Connection) -> list[Principal]:
    rows = conn.execute(
        sql.SQL("select role_name, kind, user_id from {} where not is_group order by kind, role_name").format(
            _t("arc_eval_principals")
        )
    ).fetchall()
    conn.rollback()
    return [Principal(*row) for row in rows]


def privilege_matrix(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """What each group role may do on each raw table, read from the catalog.

    One dict per table: ``{"table", "rls", kind: "S I U(2) ..."}``; ``U(n)`` is UPDATE on n columns,
    ``DDL`` means the role owns the table. The writer's rows are limited by row-level security
    when ``rls`` is true.
    """
    groups = group_roles(conn)
    schema = dbt.raw_schema()
    tables = conn.execute(
        "select c.relname, c.relrowsecurity, pg_get_userbyid(c.relowner) from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and c.relkind in ('r', 'p') "
        "order by c.relname",
        [schema],
    ).fetchall()
    out = []
    for table, rls, owner in tables:
        qualified = f'"{schema}"."{table}"'
        row: dict[str, Any] = {"table": table, "rls": rls}
        for kind, role in groups.items():
            if conn.execute("select pg_has_role(%s, %s, 'USAGE')", [role, owner]).fetchone()[0]:
                row[kind] = "all, DDL"
                continue
            held = []
            for op in OPERATIONS:
                if conn.execute("select has_table_privilege(%s, %s, %s)", [role, qualified, op]).fetchone()[
                    0
                ]:
                    held.append(op[0])
                elif op == "UPDATE":
                    n = conn.execute(
                        "select count(*) from pg_attribute a where a.attrelid = %s::regclass and a.attnum > 0 "
                        "and not a.attisdropped and has_column_privilege(%s, a.attrelid, a.attnum, 'UPDATE')",
                        [qualified, role],
                    ).fetchone()[0]
                    if n:
                        held.append(f"U({n})")
            row[kind] = " ".join(held) or "-"
        out.append(row)
    conn.rollback()
    return out


def routine_grants(conn: psycopg.Connection) -> dict[str, list[str]]:
    """``{kind: [function, ...]}``: the raw schema's functions each group role may execute (not owning them)."""
    groups = group_roles(conn)
    out = {}
    for kind, role in groups.items():
        rows = conn.execute(
            "select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
            "where n.nspname = %s and not pg_has_role(%s, p.proowner, 'USAGE') "
            "and has_function_privilege(%s, p.oid, 'EXECUTE') order by 1",
            [dbt.raw_schema(), role, role],
        ).fetchall()
        out[kind] = [r[0] for r in rows]
    conn.rollback()
    return out
