"""YAML parsing for text arc-eval does not trust (configuration versions, recommendation patches).

:func:`load` is ``yaml.safe_load`` with four more refusals, each checked while the document is being
composed, before any value is built:

- anchors and aliases (``&a``, ``*a``, and so ``<<`` merge keys): an alias is refused at the event
  that names it, so a "billion laughs" document is never expanded;
- explicit tags (``!custom``, ``!!python/...``, ``!!binary``, even ``!!str``): plain YAML only;
- more than ``max_nodes`` nodes (scalars, sequences and mappings);
- nesting deeper than ``max_depth``.

Each refusal raises :class:`UnsafeYAML` (a ``yaml.YAMLError``) whose message names the rule and the
line and column.
"""

from __future__ import annotations

from typing import Any

import yaml

DEFAULT_MAX_NODES = 100_000
DEFAULT_MAX_DEPTH = 64


class UnsafeYAML(yaml.YAMLError):
    """The document uses a YAML feature arc-eval refuses, or is too large or too deep."""

    def __init__(self, rule: str, mark: Any = None) -> None:
        self.rule = rule
        self.problem_mark = mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        super().__init__(f"{rule}{where}")


class _Loader(yaml.SafeLoader):
    max_nodes = DEFAULT_MAX_NODES
    max_depth = DEFAULT_MAX_DEPTH

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.nodes_composed = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise UnsafeYAML("aliases (*name) are not allowed", event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise UnsafeYAML("anchors (&name) are not allowed", event.start_mark)
        if _explicit_tag(event):
            raise UnsafeYAML(f"explicit tags ({event.tag}) are not allowed", event.start_mark)
        self.nodes_composed += 1
        if self.nodes_composed > self.max_nodes:
            raise UnsafeYAML(f"more than {self.max_nodes} nodes", event.start_mark)
        self._depth += 1
        if self._depth > self.max_depth:
            raise UnsafeYAML(f"nested deeper than {self.max_depth} levels", event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _explicit_tag(event: Any) -> bool:
    tag = getattr(event, "tag", None)
    if tag is None or tag == "!":  # "!" marks a quoted-but-untagged scalar
        return False
    if isinstance(event, yaml.ScalarEvent):
        return not event.implicit[0] and not event.implicit[1]
    return not getattr(event, "implicit", True)


def load(text: str, *, max_nodes: int = DEFAULT_MAX_NODES, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse one YAML document under the rules of this module; raises ``yaml.YAMLError``."""
    loader_class = type("_BoundedLoader", (_Loader,), {"max_nodes": max_nodes, "max_depth": max_depth})
    loader = loader_class(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
