"""The recommendation prompt, rendered from a versioned template in ``arc_eval/templates``.

A template file ``<version>.txt`` has a ``=== system ===`` section and a ``=== user ===`` section, with
``$name`` placeholders (``string.Template``). The rendered prompt is deterministic for given inputs
(the inputs are serialised as JSON with sorted keys), and its SHA-256 is what sessions and
recommendations record.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

DEFAULT_TEMPLATE_VERSION = "recommend_v1"
TEMPLATE_ENV = "ARC_EVAL_PROMPT_TEMPLATE"
MAX_RECOMMENDATIONS = 10
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


def render(inputs: dict[str, Any], version: str | None = None) -> Prompt:
    """Render the prompt for ``inputs`` (see :mod:`arc_eval.recommend.inputs`)."""
    version = version or template_version()
    system, user = load_template(version)
    window = inputs.get("window", {})
    values = {
        "max_recommendations": str(MAX_RECOMMENDATIONS),
        "window_start": str(window.get("start", "")),
        "window_end": str(window.get("end", "")),
        "window_days": f"{float(window.get('days', 0)):g}",
        "config_names": ", ".join(c["name"] for c in inputs.get("configurations", [])) or "(none)",
        "inputs_json": inputs_json(inputs),
    }
    try:
        return Prompt(Template(system).substitute(values), Template(user).substitute(values), version)
    except (KeyError, ValueError) as exc:
        raise TemplateError(f"prompt template {version!r} has an unknown placeholder: {exc}") from None
