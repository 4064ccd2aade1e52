"""The recommendation prompt, rendered from a versioned template in ``arc_eval/templates``.

A template file ``<version>.txt`` has a ``=== system ===`` section and a ``=== user ===`` section, with
``$name`` placeholders (``string.Template``). The rendered prompt is deterministic for given inputs
(the inputs are serialised as JSON with sorted keys), and its SHA-256 is what sessions and
recommendations record.

The inputs hold text written in sandboxes (error messages, trajectories, names), so they enter the
prompt as untrusted data (:func:`untrusted_json`): every string is stripped of control characters and
cut to :data:`MAX_STRING_CHARS`, and the JSON escapes ``<`` and ``>`` so no string can contain the
markers that frame the data block. The template tells the model to treat the block as data only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

from ..text import printable
from .patch import current_policy, fmt_number

DEFAULT_TEMPLATE_VERSION = "recommend_v2"
TEMPLATE_ENV = "ARC_EVAL_PROMPT_TEMPLATE"
MAX_RECOMMENDATIONS = 10
MAX_STRING_CHARS = 500
MAX_KEY_CHARS = 100
TRUNCATION_MARK = "...[truncated]"
DATA_BEGIN = "<untrusted-data>"
DATA_END = "</untrusted-data>"
_SYSTEM_MARK = "=== system ==="
_USER_MARK = "=== user ==="


class TemplateError(ValueError):
    """The template is missing, lacks a section, or names a placeholder that is not provided."""


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt: the two chat messages, the template version, and the SHA-256 of both."""

    system: str
    user: str
    template_version: str

    @property
    def text(self) -> str:
        return f"{_SYSTEM_MARK}\n{self.system}\n{_USER_MARK}\n{self.user}\n"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


def template_version() -> str:
    """The template version in use (``ARC_EVAL_PROMPT_TEMPLATE``, else the newest shipped one)."""
    return os.environ.get(TEMPLATE_ENV) or DEFAULT_TEMPLATE_VERSION


def load_template(version: str) -> tuple[str, str]:
    """The (system, user) sections of the template ``version``."""
    if not version.replace("_", "").replace("-", "").isalnum():
        raise TemplateError(f"template version {version!r} is not a plain name")
    try:
        text = resources.files("arc_eval").joinpath("templates", f"{version}.txt").read_text("utf-8")
    except (FileNotFoundError, OSError):
        raise TemplateError(f"prompt template {version!r} not found in arc_eval/templates") from None
    if _SYSTEM_MARK not in text or _USER_MARK not in text:
        raise TemplateError(f"prompt template {version!r} needs '{_SYSTEM_MARK}' and '{_USER_MARK}' sections")
    head, user = text.split(_USER_MARK, 1)
    system = head.split(_SYSTEM_MARK, 1)[1]
    return system.strip("\n"), user.strip("\n")


def inputs_json(inputs: dict[str, Any]) -> str:
    """The canonical JSON of the inputs (sorted keys, compact), as embedded in the prompt."""
    return json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def _cut(text: str, limit: int) -> str:
    text = printable(text, keep_newlines=False)
    return text if len(text) <= limit else text[: limit - len(TRUNCATION_MARK)] + TRUNCATION_MARK


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return _cut(value, MAX_STRING_CHARS)
    if isinstance(value, Mapping):
        return {_cut(str(k), MAX_KEY_CHARS): _bounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_bounded(v) for v in value]
    return value


def untrusted_json(inputs: Mapping[str, Any]) -> str:
    """The inputs as framed data: strings cleaned and cut, ``<``/``>`` escaped (see the module doc)."""
    text = inputs_json(_bounded(inputs))
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def _patchable_paths() -> str:
    lines = []
    for rule in current_policy().rules:
        v = rule.value
        limits = [
            f"{k} {fmt_number(x)}" for k, x in (("min", v.minimum), ("max", v.maximum)) if x is not None
        ]
        if v.items is not None:
            limits.append(f"items {'/'.join(v.items.types)}")
        detail = f" ({', '.join(limits)})" if limits else ""
        lines.append(f"  - {'.'.join(rule.path)}: {' or '.join(v.types)}{detail}")
    return "\n".join(lines)


def render(inputs: dict[str, Any], version: str | None = None) -> Prompt:
    """Render the prompt for ``inputs`` (see :mod:`arc_eval.recommend.inputs`)."""
    version = version or template_version()
    system, user = load_template(version)
    window = inputs.get("window", {})
    names = ", ".join(_cut(str(c["name"]), MAX_KEY_CHARS) for c in inputs.get("configurations", []))
    values = {
        "max_recommendations": str(MAX_RECOMMENDATIONS),
        "window_start": _cut(str(window.get("start", "")), MAX_KEY_CHARS),
        "window_end": _cut(str(window.get("end", "")), MAX_KEY_CHARS),
        "window_days": f"{float(window.get('days', 0)):g}",
        "config_names": names or "(none)",
        "inputs_json": untrusted_json(inputs),
        "data_begin": DATA_BEGIN,
        "data_end": DATA_END,
        "max_string_chars": str(MAX_STRING_CHARS),
        "truncation_mark": TRUNCATION_MARK,
        "patchable_paths": _patchable_paths(),
    }
    try:
        return Prompt(Template(system).substitute(values), Template(user).substitute(values), version)
    except (KeyError, ValueError) as exc:
        raise TemplateError(f"prompt template {version!r} has an unknown placeholder: {exc}") from None
