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
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

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


def _text(max_length: int, min_length: int = 1) -> Any:
    return Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)
    ]


class ImpactEstimate(BaseModel):
    """The predicted effect of a recommendation."""

    model_config = ConfigDict(extra="forbid")

    metric: _text(MAX_TEXT_CHARS["metric"]) = Field(
        description="the metric expected to move, e.g. avg_reliability"
    )
    expected_delta: float = Field(
        strict=True, allow_inf_nan=False, description="expected change of the metric (new minus current)"
    )
    basis: _text(MAX_TEXT_CHARS["basis"]) = Field(description="the evidence the estimate rests on")


class Recommendation(BaseModel):
    """One recommendation as the provider must return it; its JSON schema is what the provider is sent."""

    model_config = ConfigDict(extra="forbid")

    config_id: uuid.UUID = Field(description="config_id of the configuration to change")
    recommendation_type: Literal[RECOMMENDATION_TYPES]  # type: ignore[valid-type]
    source_type: Literal[SOURCE_TYPES]  # type: ignore[valid-type]
    source_id: uuid.UUID = Field(description="id of the input row this recommendation is based on")
    description: _text(MAX_TEXT_CHARS["description"], MIN_DESCRIPTION)
    suggested_yaml_changes: str = Field(
        max_length=MAX_PATCH_CHARS,
        description="YAML mapping of dotted configuration paths to their new values",
    )
    impact_estimate: ImpactEstimate
    confidence: float = Field(strict=True, allow_inf_nan=False, ge=0, le=1)


class RecommendationsResponse(BaseModel):
    """The provider's whole answer."""

    model_config = ConfigDict(extra="forbid")

    recommendations: list[Recommendation] = Field(max_length=MAX_ITEMS)


def response_schema() -> dict[str, Any]:
    """The JSON schema of :class:`RecommendationsResponse`: what the provider is asked to return."""
    return RecommendationsResponse.model_json_schema()


def _reason(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


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
    """The ``recommendations`` list of a provider's JSON answer; raises :class:`MalformedOutput`.

    The answer is checked against :class:`RecommendationsResponse`: an error inside one item is left to
    :func:`validate_items` (which drops that item with its reason); any other error fails the answer.
    """
    if not isinstance(text, str) or not text.strip():
        raise MalformedOutput("provider returned an empty answer")
    if len(text) > MAX_ANSWER_CHARS:
        raise MalformedOutput(f"provider answer is longer than {MAX_ANSWER_CHARS} characters")
    try:
        RecommendationsResponse.model_validate_json(text)
    except ValidationError as exc:
        for error in exc.errors():
            if error["type"] == "json_invalid":
                raise MalformedOutput(f"provider answer is not JSON: {error['msg']}") from None
            if len(error["loc"]) < 2:
                raise MalformedOutput(
                    f"provider answer is not a JSON object with a 'recommendations' list: {_reason(error)}"
                ) from None
    return json.loads(text)["recommendations"]


def validate_item(item: Any, ctx: ValidationContext) -> Candidate:
    """Check one provider item; returns a :class:`Candidate` or raises :class:`InvalidRecommendation`."""
    if not isinstance(item, Mapping):
        raise InvalidRecommendation("item is not a JSON object")
    try:
        rec = Recommendation.model_validate(item)
    except ValidationError as exc:
        raise InvalidRecommendation("; ".join(_reason(error) for error in exc.errors())) from None
    config_id, source_id, source_type = str(rec.config_id), str(rec.source_id), rec.source_type
    target = ctx.configs.get(config_id)
    if target is None:
        raise InvalidRecommendation(f"config_id {config_id} is not a configuration in scope")
    if source_id not in ctx.known_sources.get(source_type, set()):
        raise InvalidRecommendation(f"source_id {source_id} is not a {source_type} row of the analysed data")
    patch_text = rec.suggested_yaml_changes
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
        recommendation_type=rec.recommendation_type,
        source_type=source_type,
        source_id=source_id,
        description=rec.description,
        suggested_yaml_changes=dump_patch(patch),
        impact_estimate=rec.impact_estimate.model_dump(),
        confidence=rec.confidence,
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
