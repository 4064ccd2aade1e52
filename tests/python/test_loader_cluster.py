"""Failure clustering with pgvector, and similarity search over trajectories and scenarios."""

from __future__ import annotations

import random
import uuid

import pytest

from arc_eval import ArcEval
from loader_helpers import YAML_V1, outcome_kwargs, query, scenario_ids, t, unique_name


def _tag() -> str:
    """A made-up component name, so this test's messages are far from any other test's."""
    return "".join(random.choice("bcdfghjklmnpqrstvwxz") for _ in range(10))


def test_near_duplicates_share_a_cluster_and_different_errors_do_not(warehouse) -> None:
    tag = _tag()
    rng = random.Random(7)
    groups = {
        "timeout": lambda: (
            f"ToolTimeoutError: {tag}.web_search did not answer within {rng.randint(100, 9999)} ms "
            f"(query q_{uuid.uuid4().hex[:10]})"
        ),
        "keyerror": lambda: (
            f"KeyError: 'result' missing in {tag} parser output at line {rng.randint(1, 900)}"
        ),
        "ratelimit": lambda: (
            f"RateLimitError: 429 Too Many Requests for {tag} model gpt-4o, request id {uuid.uuid4()}, "
            f"retry after {rng.randint(1, 60)}s"
        ),
        "oom": lambda: (
            f"Sandbox {tag}-{rng.randint(1, 99)} out of memory: process {rng.randint(1000, 99999)} killed "
            f"at 0x{rng.getrandbits(32):08x}"
        ),
    }
    sizes = {"timeout": 5, "keyerror": 4, "ratelimit": 4, "oom": 3}
    with ArcEval(warehouse.conninfo, flush_interval=None) as db:
        cid = db.create_configuration(unique_name("clu"), uuid.uuid4())
        v = db.create_config_version(cid, YAML_V1)
        scen = scenario_ids(warehouse, 1)[0]
        sim = db.start_simulation(v.version_id, [scen])
        order = [g for g, n in sizes.items() for _ in range(n)]
        random.Random(3).shuffle(order)
        ids: dict[uuid.UUID, str] = {}
        for i, group in enumerate(order):
            oid = db.record_outcome(**outcome_kwargs(sim, scen, status="error", reliability_score=0.0))
            pid = db.record_failure(
                outcome_id=oid, failure_type=group, failure_category="unknown", error_message=groups[group]()
            )
            ids[pid] = group
            if i == len(order) // 2:
                db.flush()  # half are matched against stored rows, half within a batch
        db.flush()
        rows = query(
            warehouse,
            f"SELECT pattern_id, pattern_cluster_id, cluster_confidence, similar_failures_count "
            f"FROM {t('failure_patterns')} WHERE pattern_id = ANY(%s)",
            [list(ids)],
        )
        hits = db.similar_failures(groups["timeout"](), k=3)
    assert len(rows) == len(order)
    clusters: dict[str, set] = {}
    for row in rows:
        clusters.setdefault(ids[row["pattern_id"]], set()).add(row["pattern_cluster_id"])
    for group, found in clusters.items():
        assert len(found) == 1, f"{group} split over {len(found)} clusters"
    assert len({next(iter(c)) for c in clusters.values()}) == len(sizes), (
        "different errors must not share a cluster"
    )
    # Each failure counts the members its cluster had when it was written (in the order recorded, over
    # the two flushes); a stored row is never rewritten.
    earlier: dict[str, int] = {}
    expected = {}
    for pid, group in ids.items():
        expected[pid] = earlier.get(group, 0)
        earlier[group] = expected[pid] + 1
    assert {row["pattern_id"]: row["similar_failures_count"] for row in rows} == expected
    for row in rows:
        assert 0.85 <= row["cluster_confidence"] <= 1.0
    assert all(ids.get(h["pattern_id"]) == "timeout" for h in hits)
    assert hits[0]["similarity"] > 0.9


def test_cluster_threshold_is_configurable(warehouse) -> None:
    tag = _tag()
    with (
        ArcEval(warehouse.conninfo, flush_interval=None, cluster_threshold=1.0) as strict,
        ArcEval(warehouse.conninfo, flush_interval=None, cluster_threshold=0.2) as loose,
    ):
        cid = strict.create_configuration(unique_name("thr"), uuid.uuid4())
        v = strict.create_config_version(cid, YAML_V1)
        scen = scenario_ids(warehouse, 1)[0]
        sim = strict.start_simulation(v.version_id, [scen])
        oid = strict.record_outcome(**outcome_kwargs(sim, scen, status="error"))
        strict.flush()
        when = query(warehouse, f"SELECT execution_time FROM {t('outcomes')} WHERE outcome_id = %s", [oid])[
            0
        ]["execution_time"]
        common = {
            "outcome_id": oid,
            "execution_time": when,
            "failure_type": "E",
            "failure_category": "unknown",
        }
        first = strict.record_failure(**common, error_message=f"{tag} disk quota exceeded on volume data")
        strict.flush()
        second = strict.record_failure(**common, error_message=f"{tag} disk quota exceeded on volume logs")
        strict.flush()
        third = loose.record_failure(**common, error_message=f"{tag} disk quota exceeded on volume cache")
        loose.flush()
    rows = {
        r["pattern_id"]: r
        for r in query(
            warehouse,
            f"SELECT pattern_id, pattern_cluster_id, cluster_confidence FROM {t('failure_patterns')} "
            "WHERE pattern_id = ANY(%s)",
            [[first, second, third]],
        )
    }
    assert rows[first]["pattern_cluster_id"] != rows[second]["pattern_cluster_id"]
    assert rows[third]["pattern_cluster_id"] in {
        rows[first]["pattern_cluster_id"],
        rows[second]["pattern_cluster_id"],
    }
    assert 0.2 <= rows[third]["cluster_confidence"] < 1.0


def test_similar_trajectories_and_scenarios(warehouse) -> None:
    tag = _tag()
    with ArcEval(warehouse.conninfo, flush_interval=None, embed_trajectories=True) as db:
        cid = db.create_configuration(unique_name("traj"), uuid.uuid4())
        v = db.create_config_version(cid, YAML_V1)
        scen = scenario_ids(warehouse, 1)[0]
        sim = db.start_simulation(v.version_id, [scen])
        plan = {
            "start_time": "t0",
            "status": "success",
            "steps": [f"{tag} search flights", "compare fares", "book"],
        }
        other = {"start_time": "t0", "status": "error", "steps": ["open spreadsheet", "sum column", "crash"]}
        a = db.record_outcome(**outcome_kwargs(sim, scen, trajectory=plan))
        db.record_outcome(**outcome_kwargs(sim, scen, trajectory=other))
        db.flush()
        hits = db.similar_trajectories({**plan, "status": "error"}, k=2, scenario_id=scen)
        assert hits[0]["outcome_id"] == a and hits[0]["similarity"] > 0.8
        assert db.embed_scenarios() >= 0
        assert (
            db.embed_scenarios(overwrite=True)
            == query(warehouse, f"SELECT count(*) AS n FROM {t('scenarios')}")[0]["n"]
        )
        name, prompt = query(
            warehouse, f"SELECT name, task_prompt FROM {t('scenarios')} WHERE scenario_id = %s", [scen]
        )[0].values()
        found = db.similar_scenarios(f"{name}\n{prompt}", k=1)
        assert found[0]["scenario_id"] == scen and found[0]["similarity"] == pytest.approx(1.0, abs=1e-5)
