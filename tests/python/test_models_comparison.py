"""config_version_comparison: no false regressions beyond its error rate, and real changes are found.

Version pairs with identical behaviour (same per-scenario reliability distribution, independent noise)
must be called 'regression' in at most alpha (+ slack) of the pairs; a pair whose reliability drops on
every scenario must be called 'regression'; a pair with identical rows must get p = 1.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

import psycopg
import pytest

from arc_eval import dbt
from arc_eval.connection import Target
from models_helpers import copy_rows, create_configuration, create_simulation, outcome_row, scenario_ids

pytestmark = pytest.mark.slow

IDENTICAL_PAIRS = 150
SCENARIOS = 10
RUNS_PER_SCENARIO = 2
ALPHA = 0.05
SLACK = 0.03


def _spec(temperature: float) -> dict:
    return {"model": "gpt-4o-mini", "temperature": temperature}


def _write_pair(
    conn: psycopg.Connection,
    rng: random.Random,
    name: str,
    scenarios: list[str],
    *,
    shift: float = 0.0,
    copy_first: bool = False,
) -> None:
    """Two versions of one configuration; version 2's reliability is version 1's distribution + shift."""
    created = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)
    v1, v2 = create_configuration(conn, rng, name, [_spec(0.2), _spec(0.4)], created)
    base = {s: rng.uniform(0.3, 0.8) for s in scenarios}
    rows = []
    first: list[tuple[str, float]] = []
    for number, version in enumerate((v1, v2)):
        sim = create_simulation(conn, rng, version, scenarios, status="completed", created=created)
        for scenario in scenarios:
            for run in range(RUNS_PER_SCENARIO):
                if copy_first and number == 1:
                    reliability = first[scenarios.index(scenario) * RUNS_PER_SCENARIO + run][1]
                else:
                    noise = rng.gauss(0, 0.08)
                    reliability = min(1.0, max(0.0, base[scenario] + noise + (shift if number else 0.0)))
                    first.append((scenario, reliability))
                at = created + dt.timedelta(hours=1 + number, minutes=run)
                rows.append(
                    outcome_row(rng, sim, scenario, at, status="success", reliability=round(reliability, 4))
                )
    copy_rows(conn, "outcomes", rows)


@pytest.fixture(scope="module")
def compared(make_database: Callable[[str], Target]) -> dict[str, list[tuple]]:
    target = make_database("compare")
    dbt.init_warehouse(target)
    rng = random.Random(2024)
    with psycopg.connect(target.conninfo) as conn:
        scenarios = scenario_ids(conn)[:SCENARIOS]
        for i in range(IDENTICAL_PAIRS):
            _write_pair(conn, rng, f"same_{i:03d}", scenarios)
        _write_pair(conn, rng, "worse", scenarios, shift=-0.3)
        _write_pair(conn, rng, "better", scenarios, shift=+0.3)
        _write_pair(conn, rng, "copied", scenarios, copy_first=True)
    dbt.run(
        ["run", "--select", "+config_version_comparison"],
        target,
        quiet=True,
        dbt_vars={"comparison_alpha": ALPHA},
    )
    with psycopg.connect(target.conninfo) as conn:
        rows = conn.execute(
            "select c.name, v.verdict, v.p_value, v.paired_scenarios, v.test_name, v.alpha"
            f" from {dbt.analytics_schema()}.config_version_comparison v"
            f" join {dbt.raw_schema()}.configurations c using (config_id)"
        ).fetchall()
    by_name: dict[str, list[tuple]] = {}
    for row in rows:
        by_name.setdefault(row[0], []).append(row[1:])
    return by_name


def test_identical_behaviour_is_rarely_called_a_regression(compared: dict[str, list[tuple]]) -> None:
    same = [rows[0] for name, rows in compared.items() if name.startswith("same_")]
    assert len(same) == IDENTICAL_PAIRS
    assert all(r[2] == SCENARIOS for r in same), "every scenario is paired"
    regressions = sum(r[0] == "regression" for r in same)
    improvements = sum(r[0] == "improvement" for r in same)
    assert regressions / IDENTICAL_PAIRS <= ALPHA + SLACK
    assert improvements / IDENTICAL_PAIRS <= ALPHA + SLACK
    assert all(0 < r[1] <= 1 for r in same)


def test_a_drop_on_every_scenario_is_a_regression(compared: dict[str, list[tuple]]) -> None:
    ((verdict, p_value, paired, test_name, alpha),) = compared["worse"]
    assert verdict == "regression"
    assert p_value == pytest.approx(2 / 2**SCENARIOS)
    assert paired == SCENARIOS
    assert "sign test" in test_name
    assert alpha == ALPHA
    assert compared["better"][0][0] == "improvement"


def test_identical_rows_give_p_one(compared: dict[str, list[tuple]]) -> None:
    ((verdict, p_value, _paired, _name, _alpha),) = compared["copied"]
    assert verdict == "no_significant_change"
    assert p_value == 1.0
