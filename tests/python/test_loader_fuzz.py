"""A seeded property-based fuzz of ``record_outcome``: 5,000 calls with hostile values, each followed by
a good row. No exception but ValidationError; every good row lands; every accepted fuzzed row is
either stored or dead-lettered, exactly once. It writes to a database of its own."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arc_eval import ArcEval, ValidationError
from arc_eval.core import OUTCOMES
from arc_eval.dbt import init_warehouse
from loader_helpers import YAML_V1, outcome_kwargs, query, t, unique_name

EXAMPLES = 50
CALLS_PER_EXAMPLE = 100  # 5,000 fuzzed calls in all
SCENARIO = "fuzz_scenario"
NOW = dt.datetime.now(dt.timezone.utc)

any_char = st.characters(codec=None, categories=None)  # every code point, lone surrogates and NUL included
text = st.one_of(
    st.text(any_char, max_size=20),
    st.sampled_from(
        ["C:\\u0000dir", "\\\\u0000", "\x00", "\ud800", "a" * 300, "success", "timeout", SCENARIO]
    ),
    st.text(st.sampled_from("ab\\u0"), max_size=12),
)
numbers = st.one_of(
    st.integers(min_value=-(10**500), max_value=10**500),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from([10**400, -(10**400), 1e39, 1e-50, 0.5, 3.4e38]),
)
times = st.one_of(
    st.datetimes(
        min_value=dt.datetime(1, 1, 1),
        max_value=dt.datetime(9999, 12, 31),
        timezones=st.just(dt.timezone.utc),
    ).filter(lambda d: d.year < 1970 or d > NOW + dt.timedelta(days=2)),  # refused: out of range
    st.datetimes(
        min_value=(NOW - dt.timedelta(days=1)).replace(tzinfo=None), max_value=NOW.replace(tzinfo=None)
    ),
    st.sampled_from(["9999-12-31T23:59:59-23:00", "0001-01-01T00:00:00+14:00", "not a time", "2026-13-01"]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=20,
)


def _deep(levels: int) -> dict:
    value: dict = {"start_time": "t", "status": "x"}
    for _ in range(levels):
        value = {"start_time": "t", "status": "x", "d": value}
    return value


ids = st.one_of(
    st.uuids(),
    st.uuids(version=4).map(str),
    st.integers(min_value=0, max_value=2**128 - 1).map(lambda n: uuid.UUID(int=n)),  # any version and time
    text,
)
anything = st.one_of(
    text, numbers, times, json_values, ids, st.binary(max_size=8), st.sampled_from([_deep(70)])
)
fields = st.sampled_from([*OUTCOMES.column_names, "not_a_column"])
mutation = st.dictionaries(fields, anything, min_size=1, max_size=3)


@pytest.fixture(scope="module")
def fuzz_db(make_database):
    target = make_database("fuzz")
    init_warehouse(target, seed=False)
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {t('scenarios')} (scenario_id, name, task_prompt) VALUES (%s, 'fuzz', 'Answer the question asked by the fuzz test.')",
            [SCENARIO],
        )
    with ArcEval(target.conninfo, flush_interval=None, batch_size=500) as db:
        cid = db.create_configuration(unique_name("fuzz"), uuid.uuid4())
        version = db.create_config_version(cid, YAML_V1)
        sim = db.start_simulation(version.version_id, [SCENARIO], "fuzz")
        state = {"good": [], "accepted": [], "refused": 0}
        yield target, db, sim, state


@settings(
    max_examples=EXAMPLES,
    derandomize=True,  # seeded: the same 5,000 calls on every run
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(st.lists(mutation, min_size=CALLS_PER_EXAMPLE, max_size=CALLS_PER_EXAMPLE))
def test_fuzzed_record_outcome(fuzz_db, mutations) -> None:
    target, db, sim, state = fuzz_db
    for change in mutations:
        values = outcome_kwargs(sim, SCENARIO) | change
        try:
            state["accepted"].append(db.record_outcome(**values))
        except ValidationError as exc:
            assert exc.field and str(exc).startswith(f"{exc.field}: ")
            state["refused"] += 1
        state["good"].append(db.record_outcome(**outcome_kwargs(sim, SCENARIO)))


def test_fuzz_outcome_counts(fuzz_db) -> None:
    """Runs after the fuzz (file order): every good row stored; each accepted row stored or dead-lettered."""
    target, db, sim, state = fuzz_db
    assert len(state["good"]) == EXAMPLES * CALLS_PER_EXAMPLE
    db.flush()
    assert db.unsent() == 0
    good = state["good"]
    stored_good = query(
        target, f"SELECT count(*) AS n FROM {t('outcomes')} WHERE outcome_id = ANY(%s)", [good]
    )
    assert stored_good[0]["n"] == len(good)
    accepted = list(dict.fromkeys(state["accepted"]))  # a fuzzed id may repeat: it lands once
    stored = query(
        target,
        f"SELECT outcome_id, count(*) AS n FROM {t('outcomes')} WHERE outcome_id = ANY(%s) GROUP BY 1",
        [accepted],
    )
    dead = query(
        target,
        f"SELECT DISTINCT record_id FROM {t('ingest_dead_letters')} WHERE record_id = ANY(%s)",
        [accepted],
    )
    stored_ids = {r["outcome_id"] for r in stored}
    dead_ids = {r["record_id"] for r in dead}
    assert state["refused"] > 1000 and len(accepted) > 100  # the fuzz reached both outcomes
    assert not stored_ids & dead_ids
    assert stored_ids | dead_ids == set(accepted)
    assert all(r["n"] == 1 for r in stored)
