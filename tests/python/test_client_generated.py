"""One client, two faces: client.py (sync ArcEval) is generated from aio.py (AsyncArcEval)."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from arc_eval import ArcEval, AsyncArcEval
from loader_helpers import YAML_V1, outcome_kwargs, scalar, scenario_ids, t, unique_name

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "async_to_sync.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("async_to_sync", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_client_py_is_what_the_tool_generates() -> None:
    done = subprocess.run([sys.executable, str(TOOL), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, f"client.py is stale; run `python tools/async_to_sync.py`\n{done.stderr}"


def test_check_fails_on_a_stale_client(tool, tmp_path, monkeypatch, capsys) -> None:
    stale = tmp_path / "client.py"
    stale.write_text(tool.TARGET.read_text().replace("def flush(", "def flush_(", 1))
    monkeypatch.setattr(tool, "TARGET", stale)
    assert tool.main(["--check"]) == 1
    assert "def flush(" in capsys.readouterr().err
    assert tool.main([]) == 0 and tool.main(["--check"]) == 0  # regenerated


def test_conversion_rules(tool) -> None:
    source = textwrap.dedent('''
        """Module of AsyncArcEval (arc_eval.aio); AsyncCursor stays in prose."""
        from ._acompat import ALock, asleep, off_loop


        class AsyncArcEval:
            async def __aenter__(self, cur: psycopg.AsyncCursor) -> AsyncArcEval:
                if True:  # ASYNC
                    face = "async"
                else:
                    face = "sync"
                if False:  # ASYNC
                    only_sync = 1
                async with ALock():
                    await asleep(await off_loop(compute, 1, k=2))
                return "arc-eval-async", face
    ''')
    out = tool.generate(source)
    assert out.startswith("# generated from aio.py by tools/async_to_sync.py; do not edit\n")
    assert '"""Module of ArcEval (arc_eval.client); AsyncCursor stays in prose."""' in out
    assert "from ._acompat import Lock, sleep\n" in out
    assert "class ArcEval:" in out and "def __enter__(self, cur: psycopg.Cursor) -> ArcEval:" in out
    assert 'face = "sync"' in out and 'face = "async"' not in out and "only_sync = 1" in out
    assert "with Lock():" in out and "sleep(compute(1, k=2))" in out
    assert 'return ("arc-eval", face)' in out
    body = out.split("\n", 1)[1]
    assert "async " not in body and "await" not in body and "__aenter__" not in body


def test_both_faces_have_the_same_methods() -> None:
    def public(cls):
        return {n: m for n, m in vars(cls).items() if not n.startswith("_") and inspect.isfunction(m)}

    sync, aio = public(ArcEval), public(AsyncArcEval)
    assert set(aio) - set(sync) == {"open"} and set(sync) <= set(aio)
    for name, method in sync.items():
        assert str(inspect.signature(method)) == str(inspect.signature(aio[name])).replace("Async", ""), name
        assert inspect.iscoroutinefunction(aio[name]) and not inspect.iscoroutinefunction(method), name
        assert method.__doc__ == aio[name].__doc__, name
    assert inspect.signature(ArcEval.__init__) == inspect.signature(AsyncArcEval.__init__)


@pytest.fixture
def sim(warehouse):
    with ArcEval(warehouse.conninfo, flush_interval=None) as db:
        version = db.create_config_version(db.create_configuration(unique_name("gen"), uuid.uuid4()), YAML_V1)
        return db.start_simulation(version.version_id, scenario_ids(warehouse, 3), "generated client")


def test_async_client_with_several_writer_tasks(warehouse, sim) -> None:
    scen = scenario_ids(warehouse, 1)[0]

    async def main() -> int:
        async with AsyncArcEval(warehouse.conninfo, flush_interval=None, batch_size=10, writers=3) as db:
            for _ in range(95):
                await db.record_outcome(**outcome_kwargs(sim, scen))
            assert len(db._writers) == 3
            await db.flush()
            return db.unsent()

    assert asyncio.run(main()) == 0
    assert scalar(warehouse, f"SELECT count(*) FROM {t('outcomes')} WHERE simulation_id = %s", [sim]) == 95


def test_async_client_flushes_at_interpreter_exit(warehouse, sim) -> None:
    scen = scenario_ids(warehouse, 1)[0]
    oid = uuid.uuid4()
    script = textwrap.dedent(f"""
        import asyncio, uuid
        from arc_eval import AsyncArcEval

        async def main():
            db = AsyncArcEval({warehouse.conninfo!r}, flush_interval=None)
            await db.record_outcome(simulation_id=uuid.UUID({str(sim)!r}), scenario_id={scen!r},
                status="success", reliability_score=1.0, execution_time_ms=1, tokens_used=1, cost_usd=0,
                trajectory={{"start_time": "t", "status": "success"}}, outcome_id=uuid.UUID({str(oid)!r}))
            return db  # no flush, no close: atexit writes it over a sync connection

        db = asyncio.run(main())
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert scalar(warehouse, f"SELECT count(*) FROM {t('outcomes')} WHERE outcome_id = %s", [oid]) == 1
