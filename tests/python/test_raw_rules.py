"""One source for the raw rules: dbt_project.yml's var ``raw_rules``, read by the macros, the models'
tests and Python. Nothing else in the repository may spell out one of its enums or windows."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import psycopg
import pytest
import yaml

from arc_eval import core, maintain, raw_rules
from arc_eval.recommend import validate
from loader_helpers import t

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "dbt_project.yml"
ENUMS = {
    **{name: frozenset(v) for name, v in raw_rules.RULES.items() if isinstance(v, list)},
    "failure_categories": frozenset(raw_rules.FAILURE_CATEGORIES),
}
ENUMS.pop("failure_extra_categories")
WINDOWS = frozenset(raw_rules.RETENTION_WINDOWS.values())
_QUOTED = re.compile(r"""^\s*(['"])([^'"]*)\1\s*$""")


def _files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [
        ROOT / name
        for name in listed
        if name.endswith((".py", ".sql", ".yml", ".yaml", ".txt", ".toml", ".csv"))
        and not (ROOT / name).is_symlink()
        and name != SOURCE
        # The Python tests state the seed's rules on their own, to catch a change to the source.
        and not name.startswith("tests/python/")
        and (ROOT / name).is_file()
    ]


def _python_lists(text: str) -> list[frozenset[str]]:
    found = []
    for node in ast.walk(ast.parse(text)):
        strings = isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2
        if strings and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            found.append(frozenset(e.value for e in node.elts))
    return found


def _sql_lists(text: str) -> list[frozenset[str]]:
    found = []
    for inner in re.findall(r"\(([^()]*)\)|\[([^\[\]]*)\]", text):
        items = (inner[0] or inner[1]).split(",")
        matches = [_QUOTED.match(item) for item in items]
        if len(items) >= 2 and all(matches):
            found.append(frozenset(m.group(2) for m in matches if m))
    return found


def _yaml_lists(text: str) -> list[frozenset[str]]:
    found = []

    def walk(node: object) -> None:
        if isinstance(node, list):
            if len(node) >= 2 and all(isinstance(v, str) for v in node):
                found.append(frozenset(node))
            for v in node:
                walk(v)
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)

    for doc in yaml.safe_load_all(text):
        walk(doc)
    return found


def test_nothing_else_redefines_an_enum():
    offenders = []
    for path in _files():
        if path.name == Path(__file__).name:
            continue
        text = path.read_text("utf-8", errors="replace")
        lists = _sql_lists(text)
        if path.suffix == ".py":
            lists += _python_lists(text)
        if path.suffix in (".yml", ".yaml"):
            lists += _yaml_lists(text)
        for values in lists:
            offenders += [
                f"{path.relative_to(ROOT)}: {name}" for name, enum in ENUMS.items() if values == enum
            ]
    assert offenders == [], f"redefine a raw rule instead of reading dbt_project.yml's raw_rules: {offenders}"


def test_nothing_else_spells_a_retention_window():
    literal = re.compile(r"""(['"])(\d+ (?:years?|months?|weeks?|days?))\1""")
    offenders = []
    for path in _files():
        if path.suffix not in (".py", ".sql") or path.name == Path(__file__).name:
            continue
        for _, window in literal.findall(path.read_text("utf-8", errors="replace")):
            if window in WINDOWS:
                offenders.append(f"{path.relative_to(ROOT)}: {window!r}")
    assert offenders == [], f"spell a retention window instead of reading raw_rules: {offenders}"


def test_every_accepted_values_test_reads_the_source():
    literal = []
    for path in sorted((ROOT / "models").rglob("*.yml")):
        for line_no, line in enumerate(path.read_text().splitlines(), 1):
            match = re.match(r"\s*values:\s*(.*)$", line)
            if match and "raw_rules" not in match.group(1):
                literal.append(f"{path.relative_to(ROOT)}:{line_no}: {match.group(1) or '(block list)'}")
    # The other lists are not raw rules but values the models compute: the active simulation states the
    # dashboard shows, the queue's states (the review status, or applied), the ledger's metric names, states
    # and predictions, and the comparison's verdicts.
    assert literal == [
        "models/dashboard/_dashboard__models.yml:22: [pending, running]",
        "models/dashboard/_dashboard__models.yml:178: [pending, approved, rejected, applied]",
        "models/ledger/_ledger__models.yml:19: [reliability, success_rate, failure_rate, timeout_rate, cost_usd,"
        " execution_time_ms, tool_success_rate]",
        "models/ledger/_ledger__models.yml:168: [awaiting data, measured]",
        "models/ledger/_ledger__models.yml:210: [improvement, regression, no_significant_change]",
        "models/ledger/_ledger__models.yml:216: [confirmed, contradicted, not significant, metric not measured]",
        "models/llm/_llm__models.yml:314: [regression, improvement, no_significant_change]",
    ]


def test_python_reads_the_source():
    assert tuple(raw_rules.RULES["error_categories"]) == core.ERROR_CATEGORIES
    assert set(core.FAILURE_CATEGORIES) == set(core.ERROR_CATEGORIES) | {"modal_error", "unknown"}
    assert tuple(raw_rules.RULES["recommendation_types"]) == validate.RECOMMENDATION_TYPES
    assert {table: window for table, (_, window) in maintain.RETENTION.items()} == raw_rules.RETENTION_WINDOWS


CHECKS = {
    "outcomes_status_check": "outcome_statuses",
    "outcomes_error_category_check": "error_categories",
    "failure_patterns_failure_category_check": "failure_categories",
    "simulations_status_check": "simulation_statuses",
    "simulations_scenarios_status_check": "scenario_statuses",
    "scenarios_difficulty_level_check": "difficulty_levels",
    "config_versions_generated_by_check": "generated_by",
    "config_diffs_approval_status_check": "approval_statuses",
    "recommendations_review_status_check": "review_statuses",
    "recommendations_source_type_check": "source_types",
    "recommendations_recommendation_type_check": "recommendation_types",
    "llm_recommendation_sessions_session_status_check": "session_statuses",
    "audit_log_operation_check": "audit_operations",
}


@pytest.mark.parametrize(("constraint", "enum"), sorted(CHECKS.items()))
def test_database_constraints_allow_exactly_the_source(warehouse, constraint, enum):
    with psycopg.connect(warehouse.conninfo) as conn:
        definition = conn.execute(
            "select pg_get_constraintdef(oid) from pg_constraint where conname = %s"
            " and connamespace = (%s)::regnamespace",
            (constraint, t("outcomes").split(".")[0].strip('"')),
        ).fetchone()[0]
    assert frozenset(re.findall(r"'([^']*)'::text", definition)) == ENUMS[enum]
