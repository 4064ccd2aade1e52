"""Which database is chosen, and that no password is ever printed."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from arc_eval import connection
from arc_eval.connection import Target, redact, resolve

SECRET = "pw-never-printed-7f3a"


def test_arc_eval_dsn_wins_over_everything() -> None:
    env = {
        "ARC_EVAL_DSN": "postgresql://u@h1:5433/d1",
        "PGHOST": "h2",
        "TIMESCALEDB_HOST": "h3",
    }
    target = resolve(env, start_embedded=False)
    assert target.source == "ARC_EVAL_DSN"
    assert target.libpq_env()["PGHOST"] == "h1"
    assert target.libpq_env()["PGPORT"] == "5433"


def test_pg_variables_come_before_timescaledb_variables() -> None:
    target = resolve({"PGHOST": "h2", "TIMESCALEDB_HOST": "h3"}, start_embedded=False)
    assert target.source == "PG* variables"
    assert target.conninfo == ""  # libpq reads the PG* variables itself


def test_timescaledb_variables_build_a_conninfo_with_ssl() -> None:
    env = {
        "TIMESCALEDB_HOST": "tsdb.example",
        "TIMESCALEDB_PORT": "6543",
        "TIMESCALEDB_DATABASE": "arc_eval_production",
        "TIMESCALEDB_USER": "tsdbadmin",
        "TIMESCALEDB_PASSWORD": SECRET,
    }
    target = resolve(env, start_embedded=False)
    params = conninfo_to_dict(target.conninfo)
    assert target.source == "TIMESCALEDB_* variables"
    assert params["host"] == "tsdb.example" and params["port"] == "6543"
    assert params["sslmode"] == "verify-full"  # the certificate is checked, not only the encryption
    assert SECRET not in target.redacted()

    explicit = resolve({**env, "TIMESCALEDB_SSL_MODE": "require"}, start_embedded=False)
    assert conninfo_to_dict(explicit.conninfo)["sslmode"] == "require"
    rooted = resolve({**env, "TIMESCALEDB_SSL_ROOT_CERT": "system"}, start_embedded=False)
    assert conninfo_to_dict(rooted.conninfo)["sslrootcert"] == "system"
    assert rooted.libpq_env()["PGSSLROOTCERT"] == "system"


def test_nothing_configured_is_a_clear_error_when_embedded_is_not_allowed() -> None:
    with pytest.raises(connection.ConnectionError, match="ARC_EVAL_DSN"):
        resolve({}, start_embedded=False)


@pytest.mark.parametrize(
    "conninfo",
    [
        f"postgresql://user:{SECRET}@host:5432/db",
        f"host=h user=u password={SECRET} dbname=d",
    ],
)
def test_redaction_hides_the_password(conninfo: str) -> None:
    shown = redact(conninfo)
    assert SECRET not in shown
    assert "password=***" in shown


def test_unparsable_conninfo_is_not_echoed() -> None:
    assert SECRET not in redact(f"host='unterminated password={SECRET}")


def test_with_database_keeps_the_server() -> None:
    target = Target(make_conninfo(host="h", port="1", user="u", dbname="a"), "test")
    other = target.with_database("b")
    assert conninfo_to_dict(other.conninfo) == {"host": "h", "port": "1", "user": "u", "dbname": "b"}


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arc_eval.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_init_never_prints_the_password(make_database) -> None:
    target = make_database("pw")
    params = dict(conninfo_to_dict(target.conninfo))
    params["password"] = SECRET  # the test servers trust local connections, so any password works
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TIMESCALEDB_"))}
    env["ARC_EVAL_DSN"] = make_conninfo(**params)
    result = _cli("init", "--no-seed", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert SECRET not in result.stdout + result.stderr
    assert "password=***" in result.stdout


def test_embedded_server_up_and_down(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TIMESCALEDB_", "ARC_EVAL_DSN"))}
    env["ARC_EVAL_DATA_DIR"] = str(tmp_path)
    up = _cli("db", "up", env=env)
    assert up.returncode == 0, up.stderr
    assert "embedded PostgreSQL is running" in up.stdout
    assert "psql -h " in up.stdout
    down = _cli("db", "down", env=env)
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stdout
    again = _cli("db", "down", env=env)
    assert "was not running" in again.stdout


def test_user_vars_are_merged_with_the_raw_schema_var() -> None:
    from arc_eval.dbt import _split_vars

    rest, found = _split_vars(["build", "--vars", '{"rollup_lookback": "3 days"}', "--select", "x"])
    assert rest == ["build", "--select", "x"]
    assert found == {"rollup_lookback": "3 days"}
    rest, found = _split_vars(["run", "--vars=dashboard_window: 7 days"])
    assert (rest, found) == (["run"], {"dashboard_window": "7 days"})


def test_reader_sessions_plan_without_jit_or_workers(server: Target) -> None:
    """The sessions that read the models (the dashboard, the recommender) start with JIT and parallel workers
    off and a random page read at 1.1, and the dashboard's read-only; the server's defaults stay as they are
    for every other session."""
    settings = (
        "select current_setting('jit'), current_setting('max_parallel_workers_per_gather'),"
        " current_setting('default_transaction_read_only'), current_setting('random_page_cost')"
    )
    with psycopg.connect(server.conninfo, **connection.reader_kwargs(read_only=True)) as conn:
        assert conn.execute(settings).fetchone() == ("off", "0", "on", "1.1")
    with psycopg.connect(server.conninfo, **connection.reader_kwargs()) as conn:
        assert conn.execute(settings).fetchone()[1:] == ("0", "off", "1.1")
    with psycopg.connect(server.conninfo) as conn:
        defaults = conn.execute(settings).fetchone()
        assert defaults[1] != "0" and defaults[3] != "1.1"
