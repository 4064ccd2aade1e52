"""Validation of provider output: the response schema, and the checks each recommendation must pass.

:func:`parse_response` raises :class:`MalformedOutput` when the provider's text is not a JSON object
with a ``recommendations`` list (the session then fails). :func:`validate_items` never raises for a bad
item: it returns the valid candidates and, for each dropped item, its index and the reason.

A valid recommendation names a configuration in scope, a seed recommendation type and source type, a
source id that is one of the rows given to the provider for that source type, a description of at least
10 characters, a confidence in [0, 1], an impact estimate ``{metric, expected_delta, basis}``, and a YAML
patch (see :mod:`arc_eval.recommend.patch`) that changes the configuration's current version and whose
result passes the loader's configuration validation.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import raw_rules
from .patch import PatchError, apply_patch, dump_patch, parse_patch

RECOMMENDATION_TYPES = raw_rules.RECOMMENDATION_TYPES
SOURCE_TYPES = raw_rules.SOURCE_TYPES
MIN_DESCRIPTION = 10
# Size caps on what a provider returns: the whole answer, the number of items, and each text in an item.
MAX_ANSWER_CHARS = 262_144
MAX_ITEMS = 50
MAX_TEXT_CHARS = {"description": 4000, "metric": 200, "basis": 2000, "suggested_yaml_changes": 8192}
MAX_PATCH_CHARS = MAX_TEXT_CHARS["suggested_yaml_changes"]

ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "config_id",
        "recommendation_type",
        "source_type",
        "source_id",
        "description",
        "suggested_yaml_changes",
        "impact_estimate",
        "confidence",
    ],
    "properties": {
        "config_id": {"type": "string", "description": "config_id of the configuration to change"},
        "recommendation_type": {"type": "string", "enum": list(RECOMMENDATION_TYPES)},
        "source_type": {"type": "string", "enum": list(SOURCE_TYPES)},
        "source_id": {"type": "string", "description": "id of the input row this recommendation is based on"},
        "description": {"type": "string", "minLength": MIN_DESCRIPTION},
        "suggested_yaml_changes": {
            "type": "string",
            "description": "YAML mapping of dotted configuration paths to their new values",
        },
        "impact_estimate": {
            "type": "object",
            "additionalProperties": False,
            "required": ["metric", "expected_delta", "basis"],
            "properties": {
                "metric": {"type": "string"},
                "expected_delta": {"type": "number"},
                "basis": {"type": "string"},
            },
        },
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
}

RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["recommendations"],
    "properties": {"recommendations": {"type": "array", "items": ITEM_SCHEMA}},
}


class MalformedOutput(ValueError):
    """The provider's output is not a JSON object with a ``recommendations`` list."""


class InvalidRecommendation(ValueError):
    """One recommendation failed a check; the message is the reason recorded on the session."""


@dataclass(frozen=True)
class ConfigTarget:
    """A configuration in scope and its current version."""

    config_id: str
    name: str
    version_id: str
    version_number: int
    config: Mapping[str, Any]


@dataclass
class ValidationContext:
    """What a recommendation is checked against: the configurations and the source rows that were shown."""

    configs: dict[str, ConfigTarget]
    known_sources: dict[str, set[str]]
    config_validator: Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class Candidate:
    """A recommendation that passed every check, ready to be written."""

    config_id: str
    base_version_id: str
    recommendation_type: str
    source_type: str
    source_id: str
    description: str
    suggested_yaml_changes: str
    impact_estimate: dict[str, Any]
    confidence: float
    patch: dict[str, Any] = field(compare=False)


def parse_response(text: str) -> list[Any]:
    """The ``recommendations`` list of a provider's JSON answer; raises :class:`MalformedOutput`."""
    if not isinstance(text, str) or not text.strip():
        raise MalformedOutput("provider returned an empty answer")
    if len(text) > MAX_ANSWER_CHARS:
        raise MalformedOutput(f"provider answer is longer than {MAX_ANSWER_CHARS} characters")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedOutput(
            f"provider answer is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict) or "recommendations" not in data:
        raise MalformedOutput("provider answer is not a JSON object with a 'recommendations' key")
    if not isinstance(data["recommendations"], list):
        raise MalformedOutput("provider answer's 'recommendations' is not a list")
    if len(data["recommendations"]) > MAX_ITEMS:
        raise MalformedOutput(f"provider answer has more than {MAX_ITEMS} recommendations")
    return data["recommendations"]


def _text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRecommendation(f"{key} is missing or not a non-empty string")
    limit = MAX_TEXT_CHARS.get(key, 200)
    if len(value) > limit:
        raise InvalidRecommendation(f"{key} is longer than {limit} characters")
    return value.strip()


def _uuid(value: str, key: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidRecommendation(f"{key} {value!r} is not a UUID") from None


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidRecommendation(f"{key} is not a finite number")
    return float(value)


def validate_item(item: Any, ctx: ValidationContext) -> Candidate:
    """Check one provider item; returns a :class:`Candidate` or raises :class:`InvalidRecommendation`."""
    if not isinstance(item, Mapping):
        raise InvalidRecommendation("item is not a JSON object")
    config_id = _uuid(_text(item, "config_id"), "config_id")
    target = ctx.configs.get(config_id)
    if target is None:
        raise InvalidRecommendation(f"config_id {config_id} is not a configuration in scope")
    rec_type = _text(item, "recommendation_type")
    if rec_type not in RECOMMENDATION_TYPES:
        raise InvalidRecommendation(
            f"recommendation_type {rec_type!r} is not one of {', '.join(RECOMMENDATION_TYPES)}"
        )
    source_type = _text(item, "source_type")
    if source_type not in SOURCE_TYPES:
        raise InvalidRecommendation(f"source_type {source_type!r} is not one of {', '.join(SOURCE_TYPES)}")
    source_id = _uuid(_text(item, "source_id"), "source_id")
    if source_id not in ctx.known_sources.get(source_type, set()):
        raise InvalidRecommendation(f"source_id {source_id} is not a {source_type} row of the analysed data")
    description = _text(item, "description")
    if len(description) < MIN_DESCRIPTION:
        raise InvalidRecommendation(f"description is shorter than {MIN_DESCRIPTION} characters")
    confidence = _number(item.get("confidence"), "confidence")
    if not 0 <= confidence <= 1:
        raise InvalidRecommendation("confidence is not between 0 and 1")
    impact = item.get("impact_estimate")
    if not isinstance(impact, Mapping):
        raise InvalidRecommendation("impact_estimate is not an object")
    impact_estimate = {
        "metric": _text(impact, "metric"),
        "expected_delta": _number(impact.get("expected_delta"), "impact_estimate.expected_delta"),
        "basis": _text(impact, "basis"),
    }
    patch_text = item.get("suggested_yaml_changes")
    if isinstance(patch_text, str) and len(patch_text) > MAX_PATCH_CHARS:
        raise InvalidRecommendation(f"suggested_yaml_changes is longer than {MAX_PATCH_CHARS} characters")
    try:
        patch = parse_patch(patch_text)
        patched = apply_patch(target.config, patch)
    except PatchError as exc:
        raise InvalidRecommendation(str(exc)) from None
    if patched == dict(target.config):
        raise InvalidRecommendation("suggested_yaml_changes does not change the current configuration")
    try:
        ctx.config_validator(patched)
    except Exception as exc:  # the loader's validation error names the field and the rule
        raise InvalidRecommendation(f"patched configuration fails validation: {exc}") from None
    return Candidate(
        config_id=config_id,
        base_version_id=target.version_id,
        recommendation_type=rec_type,
        source_type=source_type,
        source_id=source_id,
        description=description,
        suggested_yaml_changes=dump_patch(patch),
        impact_estimate=impact_estimate,
        confidence=confidence,
        patch=patch,
    )


def validate_items(
    items: Iterable[Any], ctx: ValidationContext
) -> tuple[list[Candidate], list[dict[str, Any]]]:
    """Split items into valid candidates and dropped ``{"index", "reason"}`` records (duplicates dropped)."""
    kept: list[Candidate] = []
    dropped: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for index, item in enumerate(items):
        try:
            candidate = validate_item(item, ctx)
        except InvalidRecommendation as exc:
            dropped.append({"index": index, "reason": str(exc)})
            continue
        key = (candidate.config_id, candidate.recommendation_type, candidate.suggested_yaml_changes)
        if key in seen:
            dropped.append({"index": index, "reason": "duplicate of an earlier recommendation"})
            continue
        seen.add(key)
        kept.append(candidate)
    return kept, dropped
