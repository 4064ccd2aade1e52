"""The recommender reads only dbt models for its analysis: no staging model, no raw table.

Static checks of the recommender's source (the database-level check, a role without access to the raw
schema or the staging models, is in test_recommend_engine.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import arc_eval
from arc_eval.recommend import inputs

PACKAGE = Path(arc_eval.__file__).parent
MODELS = Path(__file__).resolve().parents[2] / "models"


def test_no_recommender_module_names_a_staging_model() -> None:
    offenders = [
        f"{path.name}:{n}"
        for path in sorted((PACKAGE / "recommend").glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\bstg_\w+", line)
    ]
    assert offenders == []


def test_the_inputs_reader_never_reads_the_raw_schema() -> None:
    text = (PACKAGE / "recommend" / "inputs.py").read_text()
    assert "raw_schema" not in text and "arc_eval_raw" not in text
    assert "analytics_schema()" in text


def test_every_input_model_is_a_dbt_model_outside_staging() -> None:
    models = {p.stem: p.parent.name for p in MODELS.rglob("*.sql")}
    read = (*inputs.REQUIRED_MODELS, *inputs.OPTIONAL_MODELS)
    assert {"recommendation_impact_ledger", "recommender_calibration", "v_llm_failure_analysis"} <= set(read)
    for name in read:
        assert name in models, f"{name} is not a dbt model"
        assert models[name] != "staging", f"{name} is a staging model"
