"""The loader service the recommender uses: configuration validation.

It delegates to the loader (:mod:`arc_eval.core` / :class:`arc_eval.ArcEval`); nothing is
reimplemented here. Versions made by applying a recommendation are created by the review
function in the database (:mod:`arc_eval.recommend.review`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def config_validator() -> Callable[[Mapping[str, Any]], None]:
    """The loader's configuration check; raises its ``ValidationError`` naming the field and rule."""
    from ..core import prepare_config

    def validate(config: Mapping[str, Any]) -> None:
        prepare_config(dict(config))

    return validate
