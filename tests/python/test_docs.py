"""The documentation's examples work as written.

Every ``arc-eval`` command shown in the README or under ``docs/`` is a real command with real options
(parsed by the CLI's own parser, with its placeholders filled in), every shell block marked runnable runs
against a real warehouse, and every Python example of the guides runs, twice, against a fresh database.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from arc_eval import dbt
from arc_eval.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"```(\w*)\n(.*?)```", flags=re.S)
# Placeholders the pages use for values the reader supplies.
PLACEHOLDERS = {
    "UUID": str(uuid.UUID(int=7)),
    "ID": "0000abcd",
    "DSN": "postgresql://localhost/target",
    "NAME": "someone",
    "DIR": "exported",
    "FILE.html": "snapshot.html",
    "REASON": "not now",
}


def blocks(page: Path, languages: tuple[str, ...]) -> list[str]:
    return [body for lang, body in BLOCK.findall(page.read_text()) if lang in languages]


def commands(page: Path) -> list[str]:
    """The ``arc-eval`` lines of a page's code blocks (continuations joined, comments dropped)."""
    found = []
    for body in blocks(page, ("bash", "text", "console", "")):
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("arc-eval "):
                found.append(line.split(" #")[0].strip())
    return found


def _fill(argv: list[str]) -> list[str]:
    return [PLACEHOLDERS.get(a, a) for a in argv]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_shown_parses(page: Path) -> None:
    parser = build_parser()
    for line in commands(page):
        argv = _fill(shlex.split(line)[1:])
        try:
            parser.parse_args(argv)
        except argparse.ArgumentError:
            pytest.fail(f"{page.name}: `{line}` is not a valid command")
        except SystemExit as exc:
            if exc.code != 0:  # --help exits 0
                pytest.fail(f"{page.name}: `{line}` is not a valid command")


def test_the_pages_show_commands() -> None:
    shown = {line.split()[1] for page in PAGES for line in commands(page)}
    assert {"demo", "init", "recommend", "recommendations", "serve", "roles", "principal"} <= shown, shown


GUIDES = [ROOT / "docs" / "quickstart.md", ROOT / "docs" / "guides" / "sandbox-authors.md"]


@pytest.mark.parametrize("page", GUIDES, ids=lambda p: p.name)
def test_python_examples_run_twice(page: Path, make_database, monkeypatch) -> None:
    target = make_database("docs")
    dbt.init_warehouse(target)
    monkeypatch.setenv("ARC_EVAL_DSN", target.conninfo)
    examples = blocks(page, ("python",))
    assert examples, f"{page.name} has a Python example"
    for source in examples:
        for _ in range(2):
            exec(compile(source, str(page.name), "exec"), {})  # noqa: S102 - the page's own example


def _runnable(page: Path) -> list[str]:
    """Lines of the page's ``bash`` blocks that follow a ``# runs in the tests`` comment line."""
    found = []
    for body in blocks(page, ("bash",)):
        lines = body.splitlines()
        if lines and lines[0].strip() == "# runs in the tests":
            found += [
                line.split(" #")[0].strip() for line in lines[1:] if line.strip().startswith("arc-eval ")
            ]
    return found


RUNNABLE = [(page, line) for page in PAGES for line in _runnable(page)]


def test_walkthroughs_run_against_a_real_warehouse(make_database, tmp_path) -> None:
    assert RUNNABLE, "the guides hold at least one walkthrough that the tests run"
    target = make_database("walk")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TIMESCALEDB_"))}
    env["ARC_EVAL_DSN"] = target.conninfo
    env["ARC_EVAL_USER_ID"] = str(uuid.UUID(int=9))
    for page, line in RUNNABLE:
        argv = _fill(shlex.split(line)[1:])
        result = subprocess.run(
            [sys.executable, "-m", "arc_eval.cli", *argv],
            env=env,
            cwd=tmp_path,  # files the walkthrough writes (a dashboard snapshot) land there
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, (
            f"{page.name}: `{line}` failed:\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
        )
