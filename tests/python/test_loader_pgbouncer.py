"""Many sandboxes at once: 200 clients write through PgBouncer in transaction pooling mode.

Each sandbox starts a simulation, writes 500 outcomes with tool usage and failures, and finishes. Every
row lands once, no error reaches a sandbox, and the server's connections stay within PgBouncer's pool
(and so within ``max_connections``), sampled from ``pg_stat_activity`` throughout.

PgBouncer is Debian's package. Without it the test is skipped with the reason, except in CI (``CI`` set,
as ``.ci/run`` does), where it must run.
"""

from __future__ import annotations

import os
import uuid

import pytest

from arc_eval import ArcEval, dbt
from loader_helpers import YAML_V1, scalar, scenario_ids, t, unique_name
from pgbouncer_helpers import ConnectionSampler, pgbouncer, pgbouncer_binary, run_crowd

CLIENTS = 200
OUTCOMES = 500
FAILURE_EVERY = 50
POOL_SIZE = 20

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bouncer_available() -> None:
    if pgbouncer_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is not installed in CI (.ci/run installs Debian's pgbouncer package)")
        pytest.skip("pgbouncer is not installed here (Debian: apt-get install pgbouncer; CI installs it)")


@pytest.fixture(scope="module")
def crowd_warehouse(bouncer_available, make_database):
    target = make_database("pgbouncer")
    dbt.init_warehouse(target)
    return target


def test_two_hundred_sandboxes_through_pgbouncer(crowd_warehouse, server, monkeypatch) -> None:
    dbname = crowd_warehouse.libpq_env_params()["dbname"]
    with ArcEval(crowd_warehouse.conninfo, flush_interval=None) as db:
        config_id = db.create_configuration(unique_name("crowd"), uuid.uuid4())
        version = db.create_config_version(config_id, YAML_V1)
    scenarios = scenario_ids(crowd_warehouse, 3)
    monkeypatch.setenv("ARC_EVAL_POOLER", "transaction")
    with (
        pgbouncer(server.conninfo, pool_size=POOL_SIZE) as bouncer,
        ConnectionSampler(server.conninfo, dbname) as sampler,
    ):
        result = run_crowd(
            bouncer.dsn(dbname),
            version.version_id,
            scenarios,
            clients=CLIENTS,
            outcomes=OUTCOMES,
            failure_every=FAILURE_EVERY,
        )
        log = bouncer.log()

    assert result.errors == [], result.errors[:5]
    assert len(result.simulations) == CLIENTS
    expected = CLIENTS * OUTCOMES
    failures = CLIENTS * (OUTCOMES // FAILURE_EVERY)
    assert (result.outcomes, result.tool_usage, result.failures) == (expected, expected, failures)
    # Every row landed once: counts per table, distinct ids, nothing dead-lettered.
    for table, key, want in (
        ("outcomes", "outcome_id", expected),
        ("tool_usage", "usage_id", expected),
        ("failure_patterns", "pattern_id", failures),
    ):
        rows, ids = (
            scalar(crowd_warehouse, f"SELECT count(*) FROM {t(table)}"),
            scalar(crowd_warehouse, f"SELECT count(DISTINCT {key}) FROM {t(table)}"),
        )
        assert (rows, ids) == (want, want), table
    assert scalar(crowd_warehouse, f"SELECT count(*) FROM {t('ingest_dead_letters')}") == 0
    per_simulation = scalar(
        crowd_warehouse,
        f"SELECT count(*) FROM (SELECT simulation_id FROM {t('outcomes')} GROUP BY simulation_id "
        "HAVING count(*) = %s AND count(DISTINCT modal_call_id) = %s) s",
        [OUTCOMES, OUTCOMES],
    )
    assert per_simulation == CLIENTS
    finished = scalar(
        crowd_warehouse,
        f"SELECT count(*) FROM {t('simulations')} WHERE simulation_id = ANY(%s) AND status = 'completed'",
        [result.simulations],
    )
    assert finished == CLIENTS
    # The server never saw more than PgBouncer's pool for this database, nor more than it allows.
    assert sampler.samples > 10
    assert 0 < sampler.peak_database <= POOL_SIZE, sampler.peak_database
    assert sampler.peak_server <= sampler.max_connections
    assert "prepared statement" not in log
