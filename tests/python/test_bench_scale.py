"""The scale benchmarks run end to end at small sizes, and the history generator is reproducible.

`bench/scale.py` at 200k outcomes under a statement timeout on every model and on `arc-eval recommend`
guards against plans that grow faster than the history (it exits non-zero when a statement times out);
no time is asserted. `bench/vectors.py` and `bench/failures.py` run at a small size.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from arc_eval import core, dbt
from arc_eval.connection import Target

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402  (bench/generate.py)


def _bench(server: Target, script: str, *args: str, timeout: int) -> str:
    env = dict(os.environ, ARC_EVAL_DSN=server.conninfo)
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def test_scale_benchmark_at_200k_outcomes_finishes_every_model_and_recommend(server: Target) -> None:
    out = _bench(
        server,
        "scale.py",
        *("--rows", "200000", "--queries", "2", "--loader-rows", "20000", "--statement-timeout", "5min"),
        timeout=3600,
    )
    table = out[out.index("measure") :]
    for model in (
        "failure_clusters",
        "config_version_comparison",
        "scenario_tool_coverage",
        "v_dashboard_performance_trends",
        "v_dashboard_cost_analysis",
        "v_llm_config_performance",
        "v_llm_failure_analysis",
        "v_llm_scenario_trends",
    ):
        assert f"x {model} (ms)" in table
    assert "timeout" not in table
    recommend = next(line for line in table.splitlines() if line.startswith("recommend s"))
    assert float(recommend.split()[2].replace(",", "")) > 0
    for kind in ("resident", "one command", "one command through dbt"):
        ratio = next(line for line in table.splitlines() if line.startswith(f"refresh ({kind}) / full"))
        assert 0 < float(ratio.split()[-4].rstrip("%")) < 100, ratio


def test_vector_benchmark_reports_recall_and_purity(server: Target) -> None:
    out = _bench(
        server,
        "vectors.py",
        *("--rows", "2000", "--dim", "32", "--queries", "10", "--simulations", "10"),
        timeout=900,
    )
    assert "exact scan" in out and "hnsw ef_search=40" in out
    recalls = [float(line.split()[2]) for line in out.splitlines() if line.startswith("hnsw ef_search=")]
    assert len(recalls) == 6 and all(0 <= r <= 1 for r in recalls)
    assert "purity" in out


def test_failure_benchmark_counts_the_cluster_members(server: Target) -> None:
    out = _bench(server, "failures.py", *("--members", "2000", "--batch", "3", "--repeat", "3"), timeout=600)
    # bench/failures.py exits non-zero unless the last failure written counts every earlier member.
    assert "the last member written counts 2,008 earlier members (checked)" in out
    ratio = next(
        line for line in out.splitlines() if line.startswith("(b) 3 failures into a cluster of 2,000")
    )
    assert float(ratio.split()[-1]) > 0


def _to_ms(t: dt.datetime) -> dt.datetime:
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def _fingerprint(target: Target) -> tuple[str, dict[str, int]]:
    r = dbt.raw_schema()
    with psycopg.connect(target.conninfo) as conn:
        digest = conn.execute(
            f"select md5(string_agg(concat_ws('|', outcome_id, scenario_id, status, reliability_score, tokens_used),"
            f" ',' order by outcome_id)) from {r}.outcomes"
        ).fetchone()[0]
        facts = conn.execute(
            f"""select
                  (select count(*) from {r}.outcomes) as outcomes,
                  (select count(distinct scenario_id) from {r}.outcomes) as scenarios,
                  (select count(distinct s.config_version_id) from {r}.simulations as s) as versions,
                  (select count(*) from {r}.failure_patterns) as failures,
                  (select count(*) from {r}.tool_usage) as tool_usage,
                  (select count(*) from {r}.failure_patterns as fp where not exists (
                      select from {r}.outcomes as o
                      where o.outcome_id = fp.outcome_id and o.execution_time = fp.execution_time)) as orphans,
                  (select count(*) from {r}.simulations as s
                   where s.completed_scenarios < (select count(*) from {r}.outcomes as o
                                              where o.simulation_id = s.simulation_id)) as late,
                  (select count(*) from {r}.outcomes where status in ('error', 'timeout')) as failed"""
        ).fetchone()
        ids = conn.execute(
            f"select o.outcome_id, o.execution_time, s.simulation_id, s.started_at"
            f" from {r}.outcomes as o join {r}.simulations as s using (simulation_id)"
        ).fetchall()
    untimed = sum(
        core.time_of_id(oid) != _to_ms(t) or core.time_of_id(sid) != _to_ms(started)
        for oid, t, sid, started in ids
    )
    return digest, {"untimed_ids": untimed} | dict(
        zip(
            ("outcomes", "scenarios", "versions", "failures", "tool_usage", "orphans", "late", "failed"),
            facts,
            strict=True,
        )
    )


def test_generator_is_reproducible_from_its_seed(make_database: Callable[[str], Target]) -> None:
    prints = []
    for label, seed in (("gen_a", 7), ("gen_b", 7), ("gen_c", 8)):
        target = make_database(label)
        dbt.init_warehouse(target)
        generate.generate(target, 6000, seed=seed, progress=lambda _: None)
        prints.append(_fingerprint(target))
    (a, facts), (b, _), (c, _) = prints
    assert a == b, "the same seed gives the same rows"
    assert a != c, "another seed gives other rows"
    assert facts["outcomes"] == 6000
    assert facts["scenarios"] >= 24
    assert facts["versions"] >= 8
    assert facts["orphans"] == 0
    assert facts["failures"] == facts["failed"] > 0, "one failure pattern per failed or timed-out outcome"
    assert facts["tool_usage"] > facts["outcomes"]
    assert facts["late"] > 0, (
        "late rows join the simulation running at their time, which then holds more rows"
    )
    assert facts["untimed_ids"] == 0, (
        "ids are UUIDv7 holding the outcome's execution time, the simulation's start"
    )
