"""The dbt part of the test command: build the project on the test server, with data in it.

On the server named by ``ARC_EVAL_TEST_DSN`` (required), in a fresh database: require TimescaleDB and
pgvector (CI's server must have both), create the raw schema, print the doctor report and the role
matrix, seed the scenarios, write a small simulated history through the loader, then run ``dbt build``
(models, schema tests, unit tests, singular tests). Exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

REQUIRED_EXTENSIONS = ("timescaledb", "vector")
DATABASE = "arc_eval_ci_build"


def main() -> int:
    server = os.environ.get("ARC_EVAL_TEST_DSN")
    if not server:
        print("ci_build: ARC_EVAL_TEST_DSN is not set", file=sys.stderr)
        return 2
    with psycopg.connect(server, autocommit=True) as conn:
        available = {
            row[0]
            for row in conn.execute(
                "select name from pg_available_extensions where name = any(%s)", [list(REQUIRED_EXTENSIONS)]
            )
        }
        missing = [name for name in REQUIRED_EXTENSIONS if name not in available]
        if missing:
            print(f"ci_build: the test server lacks {', '.join(missing)}", file=sys.stderr)
            return 1
        conn.execute(f'drop database if exists "{DATABASE}" with (force)')
        conn.execute(f'create database "{DATABASE}"')

    params = dict(conninfo_to_dict(server))
    params["dbname"] = DATABASE
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TIMESCALEDB_"))}
    env["ARC_EVAL_DSN"] = make_conninfo(**params)
    arc_eval = [sys.executable, "-m", "arc_eval.cli"]
    steps = [
        ["init"],
        ["doctor"],
        ["roles"],
        ["simulate", "--seed", "7"],
        ["dbt", "build"],
    ]
    for step in steps:
        print(f"ci_build: arc-eval {' '.join(step)}", flush=True)
        result = subprocess.run([*arc_eval, *step], env=env)
        if result.returncode != 0:
            print(f"ci_build: `arc-eval {' '.join(step)}` failed", file=sys.stderr)
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
