"""The command line as a user meets it: help, errors that name the setting at fault, no colour codes in pipes,
no embedded server started behind the user's back, and a readable health report."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from psycopg.conninfo import conninfo_to_dict, make_conninfo

SECRET = "s3cr3t-Pa55"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TIMESCALEDB_", "ARC_EVAL_DSN"))}
    env.update(extra)
    return env


def _cli(*args: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arc_eval.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_top_level_help_speaks_to_users_with_examples() -> None:
    result = _cli("--help", env=_env())
    assert result.returncode == 0
    assert ":mod:" not in result.stdout and "registers its subcommands" not in result.stdout
    assert "examples:" in result.stdout and "arc-eval demo" in result.stdout
    assert "arc-eval db up" in result.stdout


def test_commands_do_not_start_the_embedded_server_silently(tmp_path) -> None:
    env = _env(ARC_EVAL_DATA_DIR=str(tmp_path))
    for command in (["doctor"], ["health"], ["init"], ["recommendations", "list"]):
        result = _cli(*command, env=env)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "arc-eval db up" in result.stderr, (command, result.stderr)
        assert result.stderr.startswith(f"arc-eval {command[0]}: "), result.stderr
    assert not (tmp_path / "pgdata").exists(), "no command may create or start the embedded server"


def test_unreachable_server_fails_before_dbt_parses_and_names_the_variable() -> None:
    env = _env(ARC_EVAL_DSN=make_conninfo(host="127.0.0.1", port="1", user="u", password=SECRET, dbname="d"))
    result = _cli("init", env=env, timeout=60)
    assert result.returncode == 1
    assert "ARC_EVAL_DSN" in result.stderr and "Connection refused" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_dbt_output_has_no_colour_codes_in_a_pipe(warehouse) -> None:
    result = _cli("dbt", "debug", env=_env(ARC_EVAL_DSN=warehouse.conninfo))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "All checks passed" in result.stdout
    assert not ANSI.search(result.stdout + result.stderr)


def test_health_report_is_a_table_with_each_reason_once(warehouse) -> None:
    params = dict(conninfo_to_dict(warehouse.conninfo))
    params["password"] = SECRET  # the test servers trust local connections
    result = _cli("health", env=_env(ARC_EVAL_DSN=make_conninfo(**params)))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert SECRET not in out and "password=***" in out
    assert "None" not in out and "n/a" not in out
    assert re.search(r"^outcomes\s+\S+\s+(hypertable|table)\s", out, flags=re.M), out
    reasons = [line for line in out.splitlines() if "is off on this server" in line]
    assert len(reasons) == len(set(reasons))


def test_recommendation_ids_that_cannot_match_say_why(warehouse) -> None:
    env = _env(ARC_EVAL_DSN=warehouse.conninfo)
    short = _cli("recommendations", "show", "ab", env=env)
    assert short.returncode == 1 and "too short" in short.stderr, short.stderr
    wrong = _cli("recommendations", "show", "xyz!", env=env)
    assert wrong.returncode == 1 and "not a recommendation id" in wrong.stderr, wrong.stderr
    missing = _cli("recommendations", "show", "0000dead", env=env)
    assert missing.returncode == 1 and "no recommendation with id" in missing.stderr, missing.stderr


def _commands(parser, path=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _commands(sub, (*path, name))


def test_every_command_has_help_examples_that_parse_and_every_option_is_explained() -> None:
    import argparse
    import shlex

    from arc_eval.cli import EXAMPLES, build_parser

    parser = build_parser()
    found = dict(_commands(parser))
    assert set(EXAMPLES) == {" ".join(path) for path in found}, "EXAMPLES and the commands differ"
    for path, sub in found.items():
        assert "examples:" in sub.format_help(), path
        for action in sub._actions:
            if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                assert action.help, f"arc-eval {' '.join(path)}: {action.dest} has no help"
    for lines in EXAMPLES.values():
        for line in lines:
            argv = shlex.split(line.split("arc-eval ", 1)[1])
            parser.parse_args(argv)  # raises SystemExit on a bad example


def test_bad_connection_strings_name_the_variable_and_never_the_secret() -> None:
    cases = {
        "not a dsn": ("ARC_EVAL_DSN is not a valid libpq connection string", "not a dsn"),
        "postgres://bad@@host:xx/db": ("ARC_EVAL_DSN: the port must be a port number", "@host"),
        f"postgres://u:p@{SECRET}@db.internal:5432/d": ("ARC_EVAL_DSN: the host part contains '@'", SECRET),
        f"postgres://u:{SECRET}@nohost.invalid:5432/d": (
            "cannot connect to the database chosen by ARC_EVAL_DSN",
            SECRET,
        ),
    }
    for dsn, (expected, hidden) in cases.items():
        for command in ("doctor", "init"):
            result = _cli(command, env=_env(ARC_EVAL_DSN=dsn), timeout=120)
            assert result.returncode == 1, (dsn, command, result.stderr)
            line = result.stderr.strip().splitlines()[-1]
            assert line.startswith(f"arc-eval {command}: ") and expected in line, (dsn, command, line)
            assert hidden not in result.stdout + result.stderr, (dsn, command)
            assert "Traceback" not in result.stderr


def test_no_color_is_respected_even_on_a_terminal(monkeypatch) -> None:
    from arc_eval import dbt

    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert dbt._colour() is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert dbt._colour() is False
