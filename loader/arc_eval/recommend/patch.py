"""The YAML patch format of ``recommendations.suggested_yaml_changes``, and what a patch may change.

A patch is a YAML mapping from dotted paths to new values, applied to a configuration's parsed YAML::

    temperature: 0.3
    timeout_ms: 90000
    tools.1.max_retries: 3        # a number segment indexes an existing list
    tool_config.web_search.timeout_ms: 8000

Each value replaces what is at its path (lists and mappings are replaced whole); missing intermediate
mappings are created; a null value removes the key. Paths are applied in the order written. A key
whose own name contains a dot cannot be addressed. Patches are re-applicable to a later version of the
same configuration, because they name keys rather than lines.

What a patch may change is an allow-list (:class:`PatchPolicy`): the default is ``patch_policy.yml``
next to this module (temperature, max tokens, timeouts, retry counts, tool configuration values);
``ARC_EVAL_PATCH_POLICY`` names another file. :func:`parse_patch` enforces it, so validation and
apply (which both parse the stored text) refuse the same patches; :func:`check_patch` checks an
already parsed patch. Patch text is parsed by :func:`arc_eval.safe_yaml.load`: no anchors, aliases or
tags, at most :data:`MAX_PATCH_NODES` nodes.
"""

from __future__ import annotations

import copy
import difflib
import functools
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .. import safe_yaml

POLICY_ENV = "ARC_EVAL_PATCH_POLICY"
MAX_PATCH_NODES = 2000
VALUE_TYPES = ("number", "integer", "boolean", "string", "list", "null")


class PatchError(ValueError):
    """The patch is not a mapping of dotted paths, a path does not fit the configuration, or the
    allow-list refuses a path or a value."""


class PolicyError(ValueError):
    """The patch policy file is missing or malformed."""


@dataclass(frozen=True)
class ValueRule:
    """The type and range a value must have."""

    types: tuple[str, ...]
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    max_items: int | None = None
    items: ValueRule | None = None

    def check(self, value: Any, where: str) -> None:
        kind = _kind(value)
        if kind not in self.types and not (kind == "integer" and "number" in self.types):
            raise PatchError(f"{where}: must be {' or '.join(self.types)} (got {kind})")
        if kind in ("integer", "number"):
            if self.minimum is not None and value < self.minimum:
                raise PatchError(f"{where}: must be at least {fmt_number(self.minimum)} (got {value:g})")
            if self.maximum is not None and value > self.maximum:
                raise PatchError(f"{where}: must be at most {fmt_number(self.maximum)} (got {value:g})")
        elif kind == "string":
            if self.max_length is not None and len(value) > self.max_length:
                raise PatchError(f"{where}: must be at most {self.max_length} characters")
            if self.pattern is not None and not self.pattern.fullmatch(value):
                raise PatchError(f"{where}: must match {self.pattern.pattern}")
        elif kind == "list":
            if self.max_items is not None and len(value) > self.max_items:
                raise PatchError(f"{where}: must have at most {self.max_items} items")
            for index, item in enumerate(value):
                if self.items is None:
                    raise PatchError(f"{where}: the allow-list gives no type for its items")
                self.items.check(item, f"{where}[{index}]")


@dataclass(frozen=True)
class PathRule:
    """A patchable path (``*`` matches any one segment) and the rule for its value."""

    path: tuple[str, ...]
    value: ValueRule

    def matches(self, parts: list[str]) -> bool:
        return len(parts) == len(self.path) and all(
            p in ("*", part) for p, part in zip(self.path, parts, strict=True)
        )


@dataclass(frozen=True)
class PatchPolicy:
    """The allow-list of patchable paths, read from a YAML file."""

    rules: tuple[PathRule, ...]
    max_entries: int
    source: str

    def rule_for(self, path: str) -> PathRule | None:
        parts = path.split(".")
        return next((rule for rule in self.rules if rule.matches(parts)), None)

    def allows(self, path: str) -> bool:
        return self.rule_for(path) is not None


def fmt_number(value: float) -> str:
    """A rule bound as written (``3600000``, ``0.5``), not in exponent form."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number" if math.isfinite(value) else "non-finite number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return "mapping" if isinstance(value, Mapping) else type(value).__name__


def _value_rule(spec: Any, where: str) -> ValueRule:
    if not isinstance(spec, Mapping):
        raise PolicyError(f"{where}: must be a mapping")
    unknown = set(spec) - {"path", "type", "min", "max", "max_length", "pattern", "max_items", "items"}
    if unknown:
        raise PolicyError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    types = spec.get("type")
    types = tuple(types) if isinstance(types, list) else (types,)
    if not types or any(t not in VALUE_TYPES for t in types):
        raise PolicyError(f"{where}.type: must be one of {', '.join(VALUE_TYPES)} (or a list of them)")
    for key in ("min", "max"):
        if key in spec and _kind(spec[key]) not in ("integer", "number"):
            raise PolicyError(f"{where}.{key}: must be a number")
    for key in ("max_length", "max_items"):
        if key in spec and (_kind(spec[key]) != "integer" or spec[key] < 0):
            raise PolicyError(f"{where}.{key}: must be a non-negative integer")
    try:
        pattern = re.compile(spec["pattern"]) if "pattern" in spec else None
    except (re.error, TypeError):
        raise PolicyError(f"{where}.pattern: must be a regular expression") from None
    items = _value_rule(spec["items"], f"{where}.items") if "items" in spec else None
    if "list" in types and items is None:
        raise PolicyError(f"{where}.items: a list rule needs the type of its items")
    return ValueRule(
        types, spec.get("min"), spec.get("max"), spec.get("max_length"), pattern, spec.get("max_items"), items
    )


def parse_policy(text: str, source: str) -> PatchPolicy:
    """A :class:`PatchPolicy` from YAML text; raises :class:`PolicyError` naming the bad field."""
    try:
        data = safe_yaml.load(text, max_nodes=10_000)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
        raise PolicyError(f"{source}: must be a mapping with a 'rules' list")
    max_entries = data.get("max_entries", 20)
    if _kind(max_entries) != "integer" or max_entries < 1:
        raise PolicyError(f"{source}: max_entries must be a positive integer")
    rules = []
    for index, spec in enumerate(data["rules"]):
        where = f"{source}: rules[{index}]"
        path = spec.get("path") if isinstance(spec, Mapping) else None
        if not isinstance(path, str) or any(not part for part in path.split(".")):
            raise PolicyError(f"{where}.path: must be a dotted path")
        rules.append(PathRule(tuple(path.split(".")), _value_rule(spec, where)))
    return PatchPolicy(tuple(rules), max_entries, source)


@functools.lru_cache(maxsize=8)
def load_policy(path: str | None = None) -> PatchPolicy:
    """The policy in ``path``, else in ``ARC_EVAL_PATCH_POLICY``, else the shipped default."""
    path = path or os.environ.get(POLICY_ENV) or None
    if path is None:
        text = resources.files(__package__).joinpath("patch_policy.yml").read_text("utf-8")
        return parse_policy(text, "patch_policy.yml")
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise PolicyError(f"{POLICY_ENV}: cannot read {path}: {exc.strerror}") from None
    return parse_policy(text, path)


def current_policy() -> PatchPolicy:
    """The policy in force now (re-reads ``ARC_EVAL_PATCH_POLICY``)."""
    return load_policy(os.environ.get(POLICY_ENV) or None)


def check_patch(patch: Mapping[str, Any], policy: PatchPolicy | None = None) -> None:
    """Refuse (:class:`PatchError`) a patch with a path or a value the allow-list does not allow."""
    policy = policy or current_policy()
    if len(patch) > policy.max_entries:
        raise PatchError(f"suggested_yaml_changes has more than {policy.max_entries} paths")
    for path, value in patch.items():
        rule = policy.rule_for(path)
        if rule is None:
            raise PatchError(f"patch path {path!r} is not in the patch allow-list ({policy.source})")
        rule.value.check(value, f"patch path {path!r}")


def parse_patch(text: str, policy: PatchPolicy | None = None) -> dict[str, Any]:
    """Parse patch text into an ordered mapping of path -> value and check it against the allow-list
    (``policy``, else :func:`current_policy`); raises :class:`PatchError`."""
    if not isinstance(text, str) or not text.strip():
        raise PatchError("suggested_yaml_changes is empty")
    try:
        data = safe_yaml.load(text, max_nodes=MAX_PATCH_NODES, max_depth=16)
    except yaml.YAMLError as exc:
        raise PatchError(f"suggested_yaml_changes is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, Mapping) or not data:
        raise PatchError("suggested_yaml_changes must be a non-empty mapping of dotted paths to values")
    patch: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise PatchError(f"patch key {key!r} is not a dotted path")
        patch[key] = value
    check_patch(patch, policy)
    return patch


def dump_patch(patch: Mapping[str, Any]) -> str:
    """Render a patch mapping as YAML text in the format :func:`parse_patch` reads."""
    return yaml.safe_dump(dict(patch), sort_keys=False, default_flow_style=False, allow_unicode=True)


def apply_patch(config: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """A new configuration with ``patch`` applied; ``config`` is not modified."""
    result = copy.deepcopy(dict(config))
    for path, value in patch.items():
        parts = path.split(".")
        node: Any = result
        for depth, part in enumerate(parts[:-1]):
            node = _step(node, part, path, create=True, next_part=parts[depth + 1])
        _assign(node, parts[-1], copy.deepcopy(value), path)
    return result


def _step(node: Any, part: str, path: str, *, create: bool, next_part: str) -> Any:
    if isinstance(node, list):
        index = _index(node, part, path)
        return node[index]
    if isinstance(node, dict):
        if part not in node or node[part] is None:
            if not create:
                raise PatchError(f"patch path {path!r}: {part!r} does not exist")
            node[part] = {}
        child = node[part]
        if not isinstance(child, (dict, list)):
            raise PatchError(f"patch path {path!r}: {part!r} holds a {type(child).__name__}, not a mapping")
        return child
    raise PatchError(f"patch path {path!r}: cannot descend into a {type(node).__name__}")


def _index(node: list[Any], part: str, path: str) -> int:
    if not part.isdigit():
        raise PatchError(f"patch path {path!r}: {part!r} must be a list index")
    index = int(part)
    if index >= len(node):
        raise PatchError(f"patch path {path!r}: index {index} is past the end of a list of {len(node)}")
    return index


def _assign(node: Any, part: str, value: Any, path: str) -> None:
    if isinstance(node, list):
        index = _index(node, part, path)
        if value is None:
            del node[index]
        else:
            node[index] = value
    elif isinstance(node, dict):
        if value is None:
            node.pop(part, None)
        else:
            node[part] = value
    else:
        raise PatchError(f"patch path {path!r}: cannot set a key on a {type(node).__name__}")


def render_config(config: Mapping[str, Any]) -> str:
    """A configuration as YAML text (key order kept)."""
    return yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False, allow_unicode=True)


def unified_diff(
    before: str, after: str, *, before_name: str = "current", after_name: str = "patched"
) -> str:
    """A unified diff between two YAML texts ('' when they are equal)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=before_name,
            tofile=after_name,
        )
    )
