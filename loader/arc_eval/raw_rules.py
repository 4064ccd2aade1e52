"""The raw rules: every enum a raw table's CHECK constraint allows, and the retention windows.

They are defined once, as the dbt var ``raw_rules`` in ``dbt_project.yml``; the raw macros build
their CHECK constraints and retention policies from it, the models' ``accepted_values`` tests read it,
and this module reads the same file (shipped inside the package, so the thin loader install has it).
``tests/python/test_raw_rules.py`` fails if any other file redefines one of these lists.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml


def _load() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("dbt_project.yml").read_text("utf-8")
    return yaml.safe_load(text)["vars"]["raw_rules"]  # the project's own file, not user input


RULES: dict[str, Any] = _load()

OUTCOME_STATUSES: tuple[str, ...] = tuple(RULES["outcome_statuses"])
ERROR_CATEGORIES: tuple[str, ...] = tuple(RULES["error_categories"])
FAILURE_CATEGORIES: tuple[str, ...] = (*ERROR_CATEGORIES, *RULES["failure_extra_categories"])
SIMULATION_STATUSES: tuple[str, ...] = tuple(RULES["simulation_statuses"])
SCENARIO_STATUSES: tuple[str, ...] = tuple(RULES["scenario_statuses"])
DIFFICULTY_LEVELS: tuple[str, ...] = tuple(RULES["difficulty_levels"])
GENERATED_BY: tuple[str, ...] = tuple(RULES["generated_by"])
APPROVAL_STATUSES: tuple[str, ...] = tuple(RULES["approval_statuses"])
REVIEW_STATUSES: tuple[str, ...] = tuple(RULES["review_statuses"])
SOURCE_TYPES: tuple[str, ...] = tuple(RULES["source_types"])
RECOMMENDATION_TYPES: tuple[str, ...] = tuple(RULES["recommendation_types"])
SESSION_STATUSES: tuple[str, ...] = tuple(RULES["session_statuses"])
AUDIT_OPERATIONS: tuple[str, ...] = tuple(RULES["audit_operations"])
# table -> retention window (a PostgreSQL interval).
RETENTION_WINDOWS: dict[str, str] = dict(RULES["retention"])


def describe_retention(short: bool = False) -> str:
    """``outcomes 2 years, failure_patterns 1 year, ...`` (``short``: ``outcomes 2y, ...``)."""
    units = {"year": "y", "years": "y", "month": "mo", "months": "mo", "day": "d", "days": "d"}

    def fmt(window: str) -> str:
        if not short:
            return window
        number, _, unit = window.partition(" ")
        return f"{number}{units.get(unit, ' ' + unit)}"

    return ", ".join(f"{table} {fmt(window)}" for table, window in RETENTION_WINDOWS.items())
