"""``arc-eval roles`` (the privilege matrix) and ``arc-eval principal add|list|remove`` (logins)."""

from __future__ import annotations

import argparse
import uuid

import psycopg

from .. import connection, roles


def register(subparsers: argparse._SubParsersAction) -> None:
    matrix = subparsers.add_parser(
        "roles", help="print what each database role may do on each raw table (docs/security.md)"
    )
    matrix.set_defaults(func=roles_command)

    principal = subparsers.add_parser("principal", help="manage logins: add, list, remove")
    actions = principal.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add", help="create a login in a role, with its tenant mapping (the password is shown once)"
    )
    add.add_argument("name", help="login name (lower-case identifier)")
    add.add_argument("--role", required=True, choices=roles.KINDS, help="group role to join")
    add.add_argument(
        "--user-id", type=_uuid, help="the user this login acts for (required for writer, reviewer)"
    )
    add.add_argument(
        "--no-password",
        action="store_true",
        help="no password: for peer or certificate authentication configured in pg_hba.conf",
    )
    add.set_defaults(func=add_command)
    actions.add_parser("list", help="list the logins and the users they act for").set_defaults(
        func=list_command
    )
    remove = actions.add_parser("remove", help="drop a login and its mapping")
    remove.add_argument("name", help="login name to drop (its tenant mapping goes with it)")
    remove.set_defaults(func=remove_command)


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"user id {text!r} is not a UUID") from None


def _connect() -> psycopg.Connection:
    return psycopg.connect(connection.resolve().conninfo)


def roles_command(args: argparse.Namespace) -> int:
    with _connect() as conn:
        groups = roles.group_roles(conn)
        rows = roles.privilege_matrix(conn)
        routines = roles.routine_grants(conn)
    kinds = list(roles.KINDS)
    print("roles: " + ", ".join(f"{kind}={groups[kind]}" for kind in kinds))
    print("S select, I insert, U update (U(n): n columns), D delete, T truncate; DDL: owns the table")
    print("rls: the writer sees and writes only rows under configurations of its own user")
    print(f"{'table':28} {'rls':3}  " + "  ".join(f"{kind:10}" for kind in kinds))
    for row in rows:
        print(
            f"{row['table']:28} {'yes' if row['rls'] else 'no':3}  "
            + "  ".join(f"{row[k]:10}" for k in kinds)
        )
    for kind in kinds:
        if routines.get(kind):
            print(f"{kind} may execute: {', '.join(routines[kind])}")
    return 0


def add_command(args: argparse.Namespace) -> int:
    with _connect() as conn:
        made = roles.add_principal(conn, args.name, args.role, args.user_id, password=not args.no_password)
    who = f" acting for user {made.user_id}" if made.user_id else ""
    print(f"created login {made.name} in role {made.kind}{who}")
    if made.password is not None:
        print(
            f"password (shown once; stored on the server only as a SCRAM-SHA-256 verifier): {made.password}"
        )
    else:
        print("no password: allow this login with peer or cert authentication in pg_hba.conf")
    return 0


def list_command(args: argparse.Namespace) -> int:
    with _connect() as conn:
        found = roles.list_principals(conn)
    if not found:
        print("no principals")
    for p in found:
        print(f"{p.name:32} {p.kind:9} {p.user_id or '-'}")
    return 0


def remove_command(args: argparse.Namespace) -> int:
    with _connect() as conn:
        removed = roles.remove_principal(conn, args.name)
    print(
        f"removed login {args.name}"
        if removed
        else f"{args.name} had no mapping here; login dropped if it existed"
    )
    return 0
