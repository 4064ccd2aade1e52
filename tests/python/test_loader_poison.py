"""One bad row costs only itself: each poison kind mixed into 1,000 good rows in one buffer.

For every kind, the bad row is either refused at the call (ValidationError naming the field) or
accepted and then dead-lettered (or stored, when it is valid after all); the 1,000 good rows land,
and the same client then writes 100 more.
"""

from __future__ import annotations

import decimal
import os
import uuid

import pytest

from arc_eval import ArcEval, Limits, ValidationError, uuid7
from arc_eval.buffer import Pending, row_size
from arc_eval.core import OUTCOMES
from loader_helpers import YAML_V1, outcome_kwargs, query, scalar, scenario_ids, t, unique_name

GOOD = 1000


def deep(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def _trajectory(**extra):
    return {"start_time": "2026-01-01T00:00:00Z", "status": "success", **extra}


FAR_FUTURE_ID = uuid7(unix_ms=(10889 - 1970) * 365 * 86_400_000)  # a UUIDv7 in year 10889

# (case id, overrides of a valid outcome, field named by the refusal, or None when it must be accepted)
OUTCOME_POISON = [
    ("surrogate-error_code", {"error_code": "\ud800"}, "error_code"),
    ("surrogate-modal_call_id", {"modal_call_id": "call-\udfff"}, "modal_call_id"),
    ("surrogate-sandbox_id", {"sandbox_id": "\udc00"}, "sandbox_id"),
    ("surrogate-sandbox_logs", {"sandbox_logs": "log \ud83d line"}, "sandbox_logs"),
    ("surrogate-scenario_id", {"scenario_id": "\ud800"}, "scenario_id"),
    ("surrogate-trajectory-value", {"trajectory": _trajectory(step="\ud800")}, "trajectory"),
    ("surrogate-trajectory-key", {"trajectory": _trajectory(**{"\udc80": 1})}, "trajectory"),
    ("surrogate-metrics", {"metrics": {"m": ["\ud800"]}}, "metrics"),
    ("surrogate-execution_metadata-key", {"execution_metadata": {"\ud800k": "v"}}, "execution_metadata"),
    ("identifier-5000", {"modal_call_id": "c" * 5000}, "modal_call_id"),
    ("int-10e400-cost", {"cost_usd": 10**400}, "cost_usd"),
    ("int-10e400-reliability", {"reliability_score": 10**400}, "reliability_score"),
    ("int-10e400-ms", {"execution_time_ms": 10**400}, "execution_time_ms"),
    ("int-10e400-tokens", {"tokens_used": 10**400}, "tokens_used"),
    ("int-10e400-retry", {"retry_count": 10**400}, "retry_count"),
    ("real-overflow", {"execution_time_ms": 1e39}, "execution_time_ms"),
    ("decimal-snan", {"cost_usd": decimal.Decimal("sNaN")}, "cost_usd"),
    ("decimal-nan", {"reliability_score": decimal.Decimal("NaN")}, "reliability_score"),
    ("decimal-inf", {"execution_time_ms": decimal.Decimal("-Infinity")}, "execution_time_ms"),
    ("decimal-snan-json", {"metrics": {"x": decimal.Decimal("sNaN")}}, "metrics"),
    ("json-deep-1200", {"trajectory": _trajectory(d=deep(1200))}, "trajectory"),
    ("json-deep-65", {"execution_metadata": deep(65)}, "execution_metadata"),
    ("json-too-large", {"metrics": {"x": "y" * (1 << 20)}}, "metrics"),
    ("far-future-id", {"outcome_id": FAR_FUTURE_ID}, "outcome_id"),
    ("far-future-time", {"execution_time": "9999-12-31T00:00:00+00:00"}, "execution_time"),
    ("nul-text", {"error_code": "a\x00b"}, "error_code"),
    ("nul-json", {"metrics": {"x": "a\x00b"}}, "metrics"),
    # accepted: valid after all, so stored
    ("literal-backslash-u0000-text", {"error_code": "C:\\u0000dir"}, None),
    ("literal-backslash-u0000-json", {"trajectory": _trajectory(path="C:\\u0000dir")}, None),
    ("json-int-10e400", {"metrics": {"x": 10**400}}, None),
    ("json-deep-64", {"execution_metadata": deep(64)}, None),
    ("real-underflow-is-zero", {"execution_time_ms": 1e-50}, None),
]


@pytest.fixture(scope="module")
def sim(warehouse):
    with ArcEval(warehouse.conninfo, flush_interval=None) as db:
        cid = db.create_configuration(unique_name("poison"), uuid.uuid4())
        version = db.create_config_version(cid, YAML_V1)
        return db.start_simulation(version.version_id, scenario_ids(warehouse, 1), "poison")


def _stored(warehouse, table: str, column: str, ids: list) -> int:
    return scalar(warehouse, f"SELECT count(*) FROM {t(table)} WHERE {column} = ANY(%s)", [ids])


def _dead(warehouse, record_id) -> list[dict]:
    return query(warehouse, f"SELECT * FROM {t('ingest_dead_letters')} WHERE record_id = %s", [record_id])


def _good(db, sim, scen, n: int, start: int = 0) -> list[uuid.UUID]:
    return [
        db.record_outcome(**outcome_kwargs(sim, scen, execution_metadata={"i": i}))
        for i in range(start, start + n)
    ]


def _mixed_in(warehouse, sim, db, bad_call) -> tuple[list, object]:
    """1,000 good rows with the bad call half-way, one flush; then 100 more with the same client."""
    scen = scenario_ids(warehouse, 1)[0]
    good = _good(db, sim, scen, GOOD // 2)
    try:
        outcome = bad_call()
    except ValidationError as exc:
        outcome = exc
    good += _good(db, sim, scen, GOOD // 2, GOOD // 2)
    db.flush()
    assert _stored(warehouse, "outcomes", "outcome_id", good) == GOOD
    more = _good(db, sim, scen, 100, GOOD)
    db.flush()
    assert _stored(warehouse, "outcomes", "outcome_id", more) == 100
    assert db.unsent() == 0
    return good, outcome


@pytest.mark.parametrize(
    ("overrides", "field"), [c[1:] for c in OUTCOME_POISON], ids=[c[0] for c in OUTCOME_POISON]
)
def test_outcome_poison_in_a_thousand_good_rows(warehouse, sim, overrides, field) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    with ArcEval(warehouse.conninfo, flush_interval=None, batch_size=2 * GOOD) as db:
        _, outcome = _mixed_in(
            warehouse, sim, db, lambda: db.record_outcome(**outcome_kwargs(sim, scen) | overrides)
        )
    if field is None:
        assert isinstance(outcome, uuid.UUID), outcome
        assert _stored(warehouse, "outcomes", "outcome_id", [outcome]) == 1
    else:
        assert isinstance(outcome, ValidationError), f"accepted: {outcome}"
        assert outcome.field == field and str(outcome).startswith(f"{field}: "), str(outcome)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"tool_name": "\ud800"}, "tool_name"),
        ({"sandbox_tool_logs": "\udfff"}, "sandbox_tool_logs"),
        ({"error_types": ["ok", "\ud800"]}, "error_types[1]"),
        ({"tool_sequence": ["\ud800"]}, "tool_sequence"),
        ({"modal_function_calls": deep(100)}, "modal_function_calls"),
        ({"avg_duration_ms": 10**400}, "avg_duration_ms"),
        ({"total_cost_usd": decimal.Decimal("sNaN")}, "total_cost_usd"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else str(v),
)
def test_tool_usage_poison_is_refused(warehouse, sim, values, field) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    with ArcEval(warehouse.conninfo, flush_interval=None) as db:
        oid = db.record_outcome(**outcome_kwargs(sim, scen))
        base = {
            "outcome_id": oid,
            "tool_name": "web",
            "call_count": 1,
            "avg_duration_ms": 1.0,
            "success_rate": 1,
        }
        with pytest.raises(ValidationError) as info:
            db.record_tool_usage(**(base | values))
        assert info.value.field == field, str(info.value)
        db.record_tool_usage(**base)
        db.flush()
        assert _stored(warehouse, "tool_usage", "outcome_id", [oid]) == 1


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"error_message": "boom \ud800"}, "error_message"),
        ({"resolution_steps": "\udc00"}, "resolution_steps"),
        ({"llm_analysis": {"\ud800": 1}}, "llm_analysis"),
        ({"failure_type": "x" * 101}, "failure_type"),
        ({"resolution_steps": "r" * 70_000}, "resolution_steps"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else str(v),
)
def test_failure_poison_is_refused(warehouse, sim, values, field) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    with ArcEval(warehouse.conninfo, flush_interval=None) as db:
        oid = db.record_outcome(**outcome_kwargs(sim, scen))
        base = {"outcome_id": oid, "failure_type": "timeout", "failure_category": "timeout"}
        with pytest.raises(ValidationError) as info:
            db.record_failure(**(base | values))
        assert info.value.field == field, str(info.value)
        db.record_failure(**base)
        db.flush()
        assert _stored(warehouse, "failure_patterns", "outcome_id", [oid]) == 1


def test_row_refused_by_the_server_for_its_size_is_dead_lettered(warehouse, sim) -> None:
    """With the identifier limit raised past what a btree entry holds, the server refuses the row
    (SQLSTATE 54000, index row too large): it is dead-lettered, the 1,000 others land."""
    scen = scenario_ids(warehouse, 1)[0]
    huge = os.urandom(6000).hex()  # 12,000 characters that do not compress below a btree entry's limit
    limits = Limits(identifier_chars=20_000)
    with ArcEval(warehouse.conninfo, flush_interval=None, batch_size=2 * GOOD, limits=limits) as db:
        _, bad = _mixed_in(
            warehouse, sim, db, lambda: db.record_outcome(**outcome_kwargs(sim, scen, modal_call_id=huge))
        )
        assert db.dead_letter_count == 1
    assert _stored(warehouse, "outcomes", "outcome_id", [bad]) == 0
    [dead] = _dead(warehouse, bad)
    assert dead["sqlstate"] == "54000" and dead["payload"]["modal_call_id"] == huge


def test_row_that_fails_to_encode_on_the_client_is_dead_lettered(warehouse, sim) -> None:
    """Whatever a row's error class: a row that cannot be encoded (a lone surrogate slipped past
    validation, put straight into the buffer) is dead-lettered with a storable payload."""
    scen = scenario_ids(warehouse, 1)[0]
    with ArcEval(warehouse.conninfo, flush_interval=None, batch_size=2 * GOOD) as db:

        def smuggle():
            table, item, oid = db._prepare_outcome(outcome_kwargs(sim, scen, error_code="ok"))
            names = OUTCOMES.column_names
            row = list(item.row)
            row[names.index("error_code")] = "bad \ud800"
            db._record(table, Pending(tuple(row), None, row_size(tuple(row))))
            return oid

        _, bad = _mixed_in(warehouse, sim, db, smuggle)
        assert db.dead_letter_count == 1
    [dead] = _dead(warehouse, bad)
    assert "UnicodeEncodeError" in dead["error_message"] and dead["sqlstate"] is None
    assert dead["payload"]["error_code"] == "bad ?"


def test_foreign_key_violation_is_dead_lettered(warehouse, sim) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    with ArcEval(warehouse.conninfo, flush_interval=None, batch_size=2 * GOOD) as db:
        _, bad = _mixed_in(
            warehouse, sim, db, lambda: db.record_outcome(**outcome_kwargs(uuid.uuid4(), scen))
        )
    [dead] = _dead(warehouse, bad)
    assert dead["sqlstate"] == "23503"
