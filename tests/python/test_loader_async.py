"""The async client behaves like the sync one: the same scenarios, awaited."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from arc_eval import AsyncArcEval, IllegalTransitionError, ValidationError, uuid7
from loader_helpers import YAML_V1, outcome_kwargs, query, scalar, scenario_ids, t, unique_name


def run(coro):
    return asyncio.run(coro)


def count(target, table: str, column: str, value) -> int:
    return scalar(target, f"SELECT count(*) FROM {t(table)} WHERE {column} = %s", [value])


def test_versions_concurrency_diff_and_dedupe(warehouse) -> None:
    async def main():
        async with AsyncArcEval(warehouse.conninfo, flush_interval=None, pool_max=8) as db:
            cid = await db.create_configuration(unique_name("async"), uuid.uuid4())
            v1 = await db.create_config_version(cid, YAML_V1)
            again = await db.create_config_version(cid, YAML_V1 + "\n# a comment changes nothing\n")
            assert (again.version_id, again.created) == (v1.version_id, False)
            results = await asyncio.gather(
                *[
                    db.create_config_version(cid, {"model": "gpt-4o", "temperature": 0.1, "writer": i})
                    for i in range(16)
                ]
            )
            return cid, v1, results

    cid, v1, results = run(main())
    assert sorted(v.version_number for v in results) == list(range(2, 18))
    latest = scalar(
        warehouse, f"SELECT latest_version_id FROM {t('configurations')} WHERE config_id = %s", [cid]
    )
    top = max(results, key=lambda v: v.version_number)
    assert latest == top.version_id
    assert scalar(warehouse, f"SELECT count(*) FROM {t('config_diffs')} WHERE config_id = %s", [cid]) == 16
    summary = query(
        warehouse,
        f"SELECT change_summary FROM {t('config_diffs')} WHERE version_before = %s",
        [v1.version_id],
    )
    changed = summary[0]["change_summary"]
    assert changed["changed"]["temperature"] == {"old": 0.2, "new": 0.1}
    assert "system_prompt" in changed["removed"] and "writer" in changed["added"]


def test_batches_idempotency_dead_letters_and_flush_triggers(warehouse) -> None:
    scen = scenario_ids(warehouse, 1)[0]

    async def main():
        async with AsyncArcEval(warehouse.conninfo, flush_interval=None, batch_size=1000) as db:
            cid = await db.create_configuration(unique_name("async"), uuid.uuid4())
            v = await db.create_config_version(cid, YAML_V1)
            sim = await db.start_simulation(v.version_id, [scen])
            # the same batch twice
            rows = [outcome_kwargs(sim, scen, outcome_id=uuid7()) for _ in range(30)]
            for _ in range(2):
                for values in rows:
                    await db.record_outcome(**values)
                await db.flush()
            assert count(warehouse, "outcomes", "simulation_id", sim) == 30
            # 1,000 rows with 3 bad ones
            bad = []
            for i in range(1000):
                values = outcome_kwargs(sim, scen)
                if i in (10, 20, 990):
                    values["simulation_id"] = uuid.uuid4()
                oid = await db.record_outcome(**values)
                if i in (10, 20, 990):
                    bad.append(oid)
            assert db.pending() == 0  # the full batch went to the writer task
            await db.flush()  # and is written when flush() returns
            assert db.unsent() == 0 and db.dead_letter_count == 3
            assert count(warehouse, "outcomes", "simulation_id", sim) == 30 + 997
            dead = query(
                warehouse, f"SELECT sqlstate FROM {t('ingest_dead_letters')} WHERE record_id = ANY(%s)", [bad]
            )
            assert [d["sqlstate"] for d in dead] == ["23503"] * 3
            # refused before buffering
            with pytest.raises(ValidationError, match="reliability_score"):
                await db.record_outcome(**outcome_kwargs(sim, scen, reliability_score=2))
            assert db.pending() == 0
            last = await db.record_outcome(**outcome_kwargs(sim, scen))
            assert count(warehouse, "outcomes", "outcome_id", last) == 0
        return last  # leaving `async with` flushed it

    last = run(main())
    assert count(warehouse, "outcomes", "outcome_id", last) == 1


def test_flush_on_interval(warehouse) -> None:
    scen = scenario_ids(warehouse, 1)[0]

    async def main():
        async with AsyncArcEval(warehouse.conninfo, flush_interval=0.2) as db:
            cid = await db.create_configuration(unique_name("async"), uuid.uuid4())
            v = await db.create_config_version(cid, YAML_V1)
            sim = await db.start_simulation(v.version_id, [scen])
            oid = await db.record_outcome(**outcome_kwargs(sim, scen))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while loop.time() < deadline:
                found = await asyncio.to_thread(count, warehouse, "outcomes", "outcome_id", oid)
                if found:
                    return found
                await asyncio.sleep(0.05)
            return 0

    assert run(main()) == 1


def test_lifecycle_and_failures(warehouse) -> None:
    scen = scenario_ids(warehouse, 2)

    async def main():
        async with AsyncArcEval(warehouse.conninfo, flush_interval=None) as db:
            cid = await db.create_configuration(unique_name("async"), uuid.uuid4())
            v = await db.create_config_version(cid, YAML_V1)
            with pytest.raises(ValidationError, match="unknown: zz_missing"):
                await db.start_simulation(v.version_id, [scen[0], "zz_missing"])
            start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
            sim = await db.start_simulation(v.version_id, scen, "async", started_at=start)
            await db.set_scenario_status(sim, scen[0], "running")
            await db.set_scenario_status(sim, scen[0], "completed")
            with pytest.raises(IllegalTransitionError):
                await db.set_scenario_status(sim, scen[0], "failed")
            oid = await db.record_outcome(
                **outcome_kwargs(sim, scen[0], status="error", reliability_score=0.4)
            )
            await db.record_tool_usage(
                outcome_id=oid, tool_name="calculator", call_count=1, avg_duration_ms=2, success_rate=0.0
            )
            pid = await db.record_failure(
                outcome_id=oid,
                failure_type="ZeroDivisionError",
                failure_category="tool_error",
                error_message="division by zero in step 4",
            )
            row = await db.finish_simulation(sim, "failed")
            with pytest.raises(IllegalTransitionError):
                await db.finish_simulation(sim)
            return oid, pid, row

    oid, pid, row = run(main())
    assert row["status"] == "failed" and row["completed_at"] is None and row["completed_scenarios"] == 1
    assert row["overall_score"] == pytest.approx(0.4) and row["execution_time_ms"] >= 3_600_000
    assert count(warehouse, "tool_usage", "outcome_id", oid) == 1
    fp = query(
        warehouse,
        f"SELECT error_embedding IS NOT NULL AS e, pattern_cluster_id FROM {t('failure_patterns')} "
        "WHERE pattern_id = %s",
        [pid],
    )[0]
    assert fp["e"] and fp["pattern_cluster_id"] is not None


class SlowEmbedder:
    """A blocking embedder (a remote model would block on the network): 0.5 s per call."""

    def __init__(self) -> None:
        from arc_eval import HashingEmbedder

        self.inner = HashingEmbedder()
        self.dimensions = self.inner.dimensions

    def embed(self, texts):
        import time

        time.sleep(0.5)
        return self.inner.embed(texts)


def test_the_event_loop_is_never_blocked(warehouse) -> None:
    """Embeddings (of versions, failures, trajectories, queries) run off the loop, and write-behind
    writes full batches while the caller keeps recording: a ticker task keeps ticking meanwhile."""
    scen = scenario_ids(warehouse, 1)[0]

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        async with AsyncArcEval(
            warehouse.conninfo,
            flush_interval=None,
            batch_size=5,
            embedder=SlowEmbedder(),
            embed_trajectories=True,
        ) as db:
            task = asyncio.create_task(ticker())
            seen = []
            cid = await db.create_configuration(unique_name("loop"), uuid.uuid4())
            before = ticks
            v = await db.create_config_version(cid, YAML_V1)
            seen.append(ticks - before)
            sim = await db.start_simulation(v.version_id, [scen])
            before = ticks
            oids = [await db.record_outcome(**outcome_kwargs(sim, scen)) for _ in range(5)]  # a full batch
            await db.record_failure(outcome_id=oids[0], failure_type="timeout", failure_category="timeout")
            await db.flush()  # two embedder calls (trajectories, failures) of 0.5 s each
            seen.append(ticks - before)
            before = ticks
            await db.similar_failures("timeout")
            seen.append(ticks - before)
            task.cancel()
            return sim, seen

    sim, seen = run(main())
    assert all(n >= 5 for n in seen), seen  # the loop ran during every blocking embedder call
    assert count(warehouse, "outcomes", "simulation_id", sim) == 5
