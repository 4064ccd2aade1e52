"""Secrets and transport: DSN errors, redaction, private files, verify-full, and terminal output."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from arc_eval import connection, dbt
from arc_eval.connection import redact, redact_text, resolve
from arc_eval.text import printable
from fake_llm import FakeLLM, recommendations_reply

SECRET = "s3cr3t-Pw-9d1e"
KEY = "sk-test-key-4b7c0e"


@pytest.mark.parametrize(
    ("dsn", "problem"),
    [
        (f"host=db user=u password {SECRET}", 'missing "=" after "password"'),
        (f"host=db user=u password=x {SECRET}", 'missing "=" after "..."'),
        (f"host=db password='{SECRET}", "unterminated quoted string"),
        (f"postgresql://u:{SECRET}@db/x?{SECRET}=1", 'invalid URI query parameter: "..."'),
        (f"postgresql://u:{SECRET} x@db/x", 'unexpected spaces found in "..."'),
        (f"postgresql://u:{SECRET}@[::1/x", 'looking for matching "]" in IPv6 host address in URI: "..."'),
    ],
)
def test_a_malformed_dsn_is_never_echoed(dsn, problem):
    with pytest.raises(connection.ConnectionError) as info:
        resolve({"ARC_EVAL_DSN": dsn}, start_embedded=False)
    message = str(info.value)
    assert SECRET not in message
    assert message.startswith("ARC_EVAL_DSN is not a valid libpq connection string or URI")
    assert problem in message


def test_the_cli_names_the_variable_and_hides_the_dsn():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TIMESCALEDB_"))}
    env["ARC_EVAL_DSN"] = f"host=db user=u password {SECRET}"
    result = subprocess.run(
        [sys.executable, "-m", "arc_eval.cli", "doctor"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    assert SECRET not in result.stdout + result.stderr
    assert "ARC_EVAL_DSN is not a valid libpq connection string" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PGHOST": "db", "PGPORT": "54x2"}, "PGPORT must be a port number"),
        ({"PGHOST": "db", "PGSSLMODE": "sure"}, "PGSSLMODE must be one of disable"),
        ({"TIMESCALEDB_HOST": "db", "TIMESCALEDB_PORT": "70000"}, "TIMESCALEDB_PORT must be a port number"),
        ({"TIMESCALEDB_HOST": "db", "TIMESCALEDB_SSL_MODE": "on"}, "TIMESCALEDB_SSL_MODE must be one of"),
    ],
)
def test_bad_connection_variables_are_named(env, message):
    with pytest.raises(connection.ConnectionError, match=message):
        resolve({**env, "TIMESCALEDB_PASSWORD": SECRET}, start_embedded=False)


def test_redact_masks_every_secret_parameter_and_url_credentials():
    uri = (
        f"postgresql://alice:{SECRET}@db:5432/x?sslpassword={SECRET}&sslkey=/keys/client.key"
        f"&oauth_client_secret={SECRET}&scram_client_key={SECRET}&application_name=arc"
    )
    shown = redact(uri)
    assert SECRET not in shown
    for masked in ("password=***", "sslpassword=***", "oauth_client_secret=***", "scram_client_key=***"):
        assert masked in shown
    assert "sslkey=/keys/client.key" in shown and "user=alice" in shown and "application_name=arc" in shown
    assert SECRET not in redact(f"host=db password='{SECRET}' sslpassword={SECRET}")
    text = redact_text(
        f"cannot reach https://bot:{KEY}@llm.example/v1; password={SECRET} api_token: '{SECRET}' port=5432"
    )
    assert KEY not in text and SECRET not in text
    assert "https://bot:***@llm.example/v1" in text and "port=5432" in text


def test_timescaledb_variables_verify_the_server_by_default(server):
    params = conninfo_to_dict(server.conninfo)
    if str(params.get("host", "")).startswith("/"):
        pytest.skip("the server under test listens on a Unix socket, where libpq does not use SSL")
    env = {
        "TIMESCALEDB_HOST": params.get("host", "localhost"),
        "TIMESCALEDB_PORT": params.get("port", "5432"),
        "TIMESCALEDB_DATABASE": params.get("dbname", "postgres"),
        "TIMESCALEDB_USER": params.get("user", "postgres"),
        "TIMESCALEDB_PASSWORD": SECRET,
    }
    target = resolve(env, start_embedded=False)
    assert conninfo_to_dict(target.conninfo)["sslmode"] == "verify-full"
    # The test server has no certificate arc-eval could verify: verify-full refuses to connect.
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(target.conninfo, connect_timeout=10).close()
    assert SECRET not in str(info.value)
    assert "SSL" in str(info.value) or "certificate" in str(info.value) or "root.crt" in str(info.value)
    # Turning verification off is an explicit choice.
    plain = resolve({**env, "TIMESCALEDB_SSL_MODE": "disable"}, start_embedded=False)
    with psycopg.connect(plain.conninfo, connect_timeout=10) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_prod_profile_verifies_the_server():
    import yaml

    profile = yaml.safe_load((dbt.project_dir() / "profiles.yml.example").read_text())
    prod = profile["arc_eval"]["outputs"]["prod"]
    assert "verify-full" in prod["sslmode"] and "TIMESCALEDB_SSL_MODE" in prod["sslmode"]
    assert "TIMESCALEDB_SSL_ROOT_CERT" in prod["sslrootcert"]
    assert "PGSSLROOTCERT" in profile["arc_eval"]["outputs"]["dev"]["sslrootcert"]


def test_printable_strips_terminal_controls():
    stored = "ok\x1b[2J\x1b]0;title\x07 line\r\nnext\tcol \u202egnp.exe\x9b31m\x00"
    assert printable(stored) == "ok[2J]0;title line\nnext\tcol gnp.exe31m"
    assert printable(stored, keep_newlines=False) == "ok[2J]0;title line next col gnp.exe31m"
    assert printable(None) == ""


def test_data_dir_is_private(tmp_path, monkeypatch):
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    monkeypatch.setenv("ARC_EVAL_DATA_DIR", str(loose))
    # 0700; root's embedded server runs as another system user that must pass through (0711).
    expected = 0o711 if os.geteuid() == 0 else 0o700
    assert stat.S_IMODE(connection.data_dir().stat().st_mode) == expected
    fresh = tmp_path / "a" / "b"
    monkeypatch.setenv("ARC_EVAL_DATA_DIR", str(fresh))
    assert stat.S_IMODE(connection.data_dir().stat().st_mode) == expected
    assert stat.S_IMODE((dbt.profiles_dir()).stat().st_mode) == 0o700
    profile = dbt.profiles_dir() / "profiles.yml"
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600
    profile.chmod(0o644)
    dbt.profiles_dir()
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600  # a loosened profile is tightened again


def _scan(folder: Path, secrets: list[str]) -> list[str]:
    """Files under ``folder`` that hold a secret or are readable by others (dirs: accessible)."""
    problems = []
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            continue
        if path.is_dir() and mode & (0o066 if path == folder else 0o077):  # root's data folder: 0711
            problems.append(f"{path}: directory mode {mode:o}")
        elif path.is_file():
            if mode & 0o077:
                problems.append(f"{path}: file mode {mode:o}")
            data = path.read_bytes()
            problems += [f"{path}: holds a secret" for s in secrets if s.encode() in data]
    return problems


@pytest.mark.slow
def test_cli_run_with_secrets_leaks_nothing(server, make_database, tmp_path):
    """The whole demo through the CLI with a password in the DSN and an LLM key: no output and no
    written file holds either, and every file in the data folder is private."""
    target = make_database("secret")
    role = f"arc_secret_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{SECRET}'")
    try:
        params = dict(conninfo_to_dict(target.conninfo))
        params.update(user=role, password=SECRET)
        data = tmp_path / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TIMESCALEDB_", "OPENAI_"))}
        with FakeLLM([recommendations_reply([])]) as fake:
            env.update(
                ARC_EVAL_DSN=make_conninfo(**params),
                ARC_EVAL_DATA_DIR=str(data),
                ARC_EVAL_LLM_API_KEY=KEY,
                ARC_EVAL_LLM_BASE_URL=fake.base_url,
            )
            result = subprocess.run(
                [sys.executable, "-m", "arc_eval.cli", "demo", "--simulations", "2", "--provider", "openai"],
                env=env,
                capture_output=True,
                text=True,
                timeout=1200,
            )
            assert fake.requests and fake.requests[0].headers["Authorization"] == f"Bearer {KEY}"
        assert result.returncode == 0, result.stderr[-3000:]
        assert SECRET not in result.stdout + result.stderr and KEY not in result.stdout + result.stderr
        assert "password=***" in result.stdout
        written = {p.relative_to(data).parts[0] for p in data.rglob("*")}
        assert {"dbt", "dbt-target", "dbt-logs", "dashboard.html"} <= written
        assert _scan(data, [SECRET, KEY]) == []
    finally:
        with psycopg.connect(server.conninfo, autocommit=True) as conn:
            conn.execute(
                f'DROP DATABASE IF EXISTS "{conninfo_to_dict(target.conninfo)["dbname"]}" WITH (FORCE)'
            )
            conn.execute(f"DROP ROLE IF EXISTS {role}")
