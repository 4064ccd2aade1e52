"""The YAML patch format of ``recommendations.suggested_yaml_changes``.

A patch is a YAML mapping from dotted paths to new values, applied to a configuration's parsed YAML::

    temperature: 0.3
    timeout_ms: 90000
    tools.1.max_retries: 3        # a number segment indexes an existing list
    tool_overrides.web_search.max_retries: 3

Each value replaces what is at its path (lists and mappings are replaced whole); missing intermediate
mappings are created; a null value removes the key. Paths are applied in the order written. A key
whose own name contains a dot cannot be addressed. Patches are re-applicable to a later version of the
same configuration, because they name keys rather than lines.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from typing import Any

import yaml


class PatchError(ValueError):
    """The patch is not a mapping of dotted paths, or a path does not fit the configuration."""


def parse_patch(text: str) -> dict[str, Any]:
    """Parse patch text into an ordered mapping of path -> value; raises :class:`PatchError`."""
    if not isinstance(text, str) or not text.strip():
        raise PatchError("suggested_yaml_changes is empty")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PatchError(f"suggested_yaml_changes is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, Mapping) or not data:
        raise PatchError("suggested_yaml_changes must be a non-empty mapping of dotted paths to values")
    patch: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise PatchError(f"patch key {key!r} is not a dotted path")
        patch[key] = value
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
