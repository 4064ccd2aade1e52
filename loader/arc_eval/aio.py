"""The asyncio client, :class:`AsyncArcEval`: the same methods as :class:`arc_eval.ArcEval`, awaitable.

It runs the same core flows (validation, SQL, row encoding) on psycopg's ``AsyncConnection``.
Durability is the same as the sync client's: configuration and simulation calls commit before they
return; ``record_*`` only buffer, and rows are durable once a flush commits (buffer full, every
``flush_interval`` seconds from a background task, ``await flush()``, ``await close()`` / leaving
``async with``). At interpreter exit, rows still buffered are written over a plain sync connection.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import logging
import uuid
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from . import core
from .api import ClientBase, FlowFactory, outcome_kwargs, resolve_dsn
from .buffer import FLUSH_ORDER
from .client import drive
from .connection import client_kwargs
from .core import ConfigVersion, Flow, WriteResult
from .embeddings import Embedder

log = logging.getLogger(__name__)


async def run_op_async(cur: psycopg.AsyncCursor, op: core.Op) -> Any:
    """Execute one flow operation on an async cursor."""
    if isinstance(op, core.Execute):
        await cur.execute(op.sql, op.params)
        return cur.rowcount
    if isinstance(op, core.FetchOne):
        await cur.execute(op.sql, op.params)
        return await cur.fetchone()
    if isinstance(op, core.FetchAll):
        await cur.execute(op.sql, op.params)
        return await cur.fetchall()
    if isinstance(op, core.CopyIn):
        async with cur.copy(op.sql) as copy:
            for row in op.rows:
                await copy.write_row(row)
        return None
    raise TypeError(f"unknown operation {op!r}")


async def drive_async(conn: psycopg.AsyncConnection, flow: Flow) -> Any:
    """Run a flow on an async connection; database errors are thrown into the flow."""
    cur = conn.cursor(row_factory=dict_row)
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                op = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                value = await run_op_async(cur, op)
            except psycopg.Error as exc:
                if core.is_connection_error(exc) or conn.closed:
                    raise
                error = exc
    finally:
        flow.close()
        await cur.close()


async def configure_async(conn: psycopg.AsyncConnection) -> None:
    """Per-connection setup: pgvector types (the ``vector`` extension lives in ``public``)."""
    try:
        from pgvector.psycopg import register_vector_async

        await register_vector_async(conn)
    except (psycopg.Error, ImportError) as exc:
        log.debug("pgvector types not registered: %s", type(exc).__name__)


class AsyncArcEval(ClientBase):
    """Async client for the raw tables; same arguments and methods as :class:`arc_eval.ArcEval`.

    Use ``async with AsyncArcEval(...) as db`` or ``await db.open()``; the first call opens it too.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        batch_size: int = 100,
        flush_interval: float | None = 30.0,
        pool_min: int = 1,
        pool_max: int = 4,
        pool_timeout: float = 30.0,
        pool_kwargs: Mapping[str, Any] | None = None,
        embedder: Embedder | None = None,
        raw_schema: str | None = None,
        user_id: uuid.UUID | str | None = None,
        cluster_threshold: float = core.DEFAULT_CLUSTER_THRESHOLD,
        embed_trajectories: bool = False,
        write_mode: str = "auto",
        max_retries: int = 3,
        retry_backoff: float = 0.2,
    ) -> None:
        self._init_base(
            batch_size=batch_size,
            embed_trajectories=embed_trajectories,
            raw_schema=raw_schema,
            embedder=embedder,
            user_id=user_id,
            cluster_threshold=cluster_threshold,
            write_mode=write_mode,
        )
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.flush_interval = flush_interval
        self.pool_timeout = pool_timeout
        self._dsn = resolve_dsn(dsn)
        self._pool = AsyncConnectionPool(
            self._dsn,
            min_size=pool_min,
            max_size=pool_max,
            timeout=pool_timeout,
            kwargs={"autocommit": True, **client_kwargs()},
            configure=configure_async,
            check=AsyncConnectionPool.check_connection,
            open=False,
            name="arc-eval-async",
            **dict(pool_kwargs or {}),
        )
        self._opened = False
        self._closed = False
        self._flush_lock: asyncio.Lock | None = None
        self._timer: asyncio.Task | None = None
        method = weakref.WeakMethod(self._at_exit)
        self._atexit_hook = lambda: (m := method()) and m()
        atexit.register(self._atexit_hook)

    # -- plumbing -------------------------------------------------------------------------------------

    async def open(self) -> AsyncArcEval:
        """Open the pool and start the interval flush task (idempotent)."""
        if self._closed:
            raise core.ArcEvalError("this AsyncArcEval client is closed")
        if not self._opened:
            self._opened = True
            self._flush_lock = asyncio.Lock()
            await self._pool.open(wait=True, timeout=self.pool_timeout)
            if self.flush_interval:
                self._timer = asyncio.create_task(self._timer_loop(), name="arc-eval-flush")
        return self

    async def __aenter__(self) -> AsyncArcEval:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def run(self, make_flow: FlowFactory, *, connection: psycopg.AsyncConnection | None = None) -> Any:
        """Run a flow in its own transaction (retried on connection loss), or inside ``connection``'s."""
        if connection is not None:
            return await drive_async(connection, make_flow())
        await self.open()
        attempt = 0
        while True:
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    return await drive_async(conn, make_flow())
            except psycopg.Error as exc:
                if not core.is_connection_error(exc) or attempt >= self.max_retries:
                    raise
                delay = self.retry_backoff * (2**attempt)
                log.warning(
                    "database connection lost (%s); retry %d in %.1fs", type(exc).__name__, attempt + 1, delay
                )
                await asyncio.sleep(delay)
                attempt += 1

    async def _timer_loop(self) -> None:
        interval = float(self.flush_interval or 0)
        tick = max(0.01, min(1.0, interval / 4))
        while True:
            await asyncio.sleep(tick)
            if self._buffers.age() >= interval:
                try:
                    await self.flush()
                except Exception as exc:
                    log.error(
                        "background flush failed (%s: %s); rows kept in the buffer", type(exc).__name__, exc
                    )

    def _at_exit(self) -> None:
        """Interpreter exit without ``close()``: write what is buffered over a sync connection."""
        if self._closed or not self._buffers.pending():
            return
        taken = self._buffers.take()
        try:
            with psycopg.connect(self._dsn, autocommit=True) as conn:
                for spec in FLUSH_ORDER:
                    for start in range(0, len(taken[spec.name]), self.batch_size):
                        chunk = taken[spec.name][start : start + self.batch_size]
                        with conn.transaction():
                            drive(conn, self._write_flow(spec, self._embedded_rows(spec, chunk))())
        except Exception as exc:
            log.error("arc-eval: flush at exit failed: %s", exc)

    async def close(self) -> None:
        """Flush everything buffered, stop the timer and close the pool. Durable when it returns."""
        if self._closed:
            return
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        try:
            if self._opened:
                await self.flush()
        finally:
            self._closed = True
            atexit.unregister(self._atexit_hook)
            await self._pool.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise core.ArcEvalError("this AsyncArcEval client is closed")

    # -- flushing -------------------------------------------------------------------------------------

    async def flush(self) -> list[WriteResult]:
        """Write every buffered row; durable when it returns (see :meth:`arc_eval.ArcEval.flush`)."""
        await self.open()
        assert self._flush_lock is not None
        async with self._flush_lock:
            taken = self._buffers.take()
            results: list[WriteResult] = []
            try:
                for spec in FLUSH_ORDER:
                    items = taken[spec.name]
                    while items:
                        chunk = items[: self.batch_size]
                        if any(item.embed_text is not None for item in chunk):
                            rows = await asyncio.to_thread(self._embedded_rows, spec, chunk)
                        else:
                            rows = [item.row for item in chunk]
                        result = await self.run(self._write_flow(spec, rows))
                        results.append(result)
                        self.dead_letter_count += len(result.dead_letters)
                        for row, message, _ in result.dead_letters:
                            log.warning("%s row %s dead-lettered: %s", spec.name, row[0], message)
                        items = taken[spec.name] = items[len(chunk) :]
            except BaseException:
                self._buffers.restore(taken)
                raise
            return results

    # -- configurations -------------------------------------------------------------------------------

    async def create_configuration(
        self,
        name: str,
        user_id: uuid.UUID | str,
        sandbox_config: Mapping[str, Any] | None = None,
        modal_app_id: str | None = None,
    ) -> uuid.UUID:
        """See :meth:`arc_eval.ArcEval.create_configuration`. Committed on return."""
        return await self.run(self._q_create_configuration(name, user_id, sandbox_config, modal_app_id))

    async def create_config_version(
        self,
        config: uuid.UUID | str,
        content: str | Mapping[str, Any],
        generated_by: str = "api",
        *,
        user_id: uuid.UUID | str | None = None,
        llm_generated: bool = False,
        approval_status: str = "pending",
        approved_by: uuid.UUID | str | None = None,
        modal_deployment_id: str | None = None,
        connection: psycopg.AsyncConnection | None = None,
    ) -> ConfigVersion:
        """See :meth:`arc_eval.ArcEval.create_config_version`. Committed on return (or in ``connection``'s
        transaction)."""
        factory = self._q_create_config_version(
            config,
            content,
            generated_by,
            user_id=user_id,
            llm_generated=llm_generated,
            approval_status=approval_status,
            approved_by=approved_by,
            modal_deployment_id=modal_deployment_id,
        )
        return await self.run(factory, connection=connection)

    async def get_active_config(self, name: str) -> dict[str, Any]:
        """See :meth:`arc_eval.ArcEval.get_active_config`."""
        return await self.run(self._q_get_active_config(name))

    async def get_active_configurations(self) -> list[dict[str, Any]]:
        """See :meth:`arc_eval.ArcEval.get_active_configurations`."""
        return await self.run(self._q_get_active_configurations())

    async def deactivate_configuration(
        self, config_id: uuid.UUID | str, *, user_id: uuid.UUID | str | None = None
    ) -> bool:
        """See :meth:`arc_eval.ArcEval.deactivate_configuration`. Committed on return."""
        return await self.run(self._q_deactivate_configuration(config_id, user_id))

    # -- simulations ----------------------------------------------------------------------------------

    async def start_simulation(
        self,
        version_id: uuid.UUID | str,
        scenario_ids: Sequence[str],
        simulation_name: str | None = None,
        *,
        simulation_id: uuid.UUID | str | None = None,
        started_at: dt.datetime | None = None,
        modal_app_id: str | None = None,
        modal_environment: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        sandbox_metadata: Mapping[str, Any] | None = None,
        priority: int | None = None,
    ) -> uuid.UUID:
        """See :meth:`arc_eval.ArcEval.start_simulation`. Committed on return."""
        return await self.run(
            self._q_start_simulation(
                version_id,
                scenario_ids,
                simulation_name,
                simulation_id=simulation_id,
                started_at=started_at,
                modal_app_id=modal_app_id,
                modal_environment=modal_environment,
                metadata=metadata,
                sandbox_metadata=sandbox_metadata,
                priority=priority,
            )
        )

    async def set_scenario_status(
        self,
        simulation_id: uuid.UUID | str,
        scenario_id: str,
        status: str,
        *,
        at: dt.datetime | None = None,
        retry_count: int | None = None,
        modal_call_id: str | None = None,
        logs: str | None = None,
    ) -> str:
        """See :meth:`arc_eval.ArcEval.set_scenario_status`. Committed on return."""
        return await self.run(
            self._q_set_scenario_status(
                simulation_id, scenario_id, status, at, retry_count, modal_call_id, logs
            )
        )

    async def finish_simulation(
        self,
        simulation_id: uuid.UUID | str,
        status: str = "completed",
        *,
        overall_score: float | None = None,
        completed_at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """See :meth:`arc_eval.ArcEval.finish_simulation`. Flushes first; committed on return."""
        factory = self._q_finish_simulation(simulation_id, status, overall_score, completed_at)
        await self.flush()
        return await self.run(factory)

    async def get_simulation(self, simulation_id: uuid.UUID | str) -> dict[str, Any] | None:
        """The simulation row as a dict (None if unknown)."""
        return await self.run(self._q_get_simulation(simulation_id))

    # -- outcomes, tool usage, failures -----------------------------------------------------------------

    async def record_outcome(
        self,
        *,
        simulation_id: uuid.UUID | str,
        scenario_id: str,
        status: str,
        reliability_score: float,
        execution_time_ms: float,
        tokens_used: int,
        cost_usd: float,
        trajectory: Mapping[str, Any],
        execution_time: dt.datetime | None = None,
        **optional_columns: Any,
    ) -> uuid.UUID:
        """See :meth:`arc_eval.ArcEval.record_outcome`. Not durable on return unless the buffer filled."""
        self._check_open()
        values = outcome_kwargs(
            simulation_id,
            scenario_id,
            status,
            reliability_score,
            execution_time_ms,
            tokens_used,
            cost_usd,
            trajectory,
            execution_time,
            optional_columns,
        )
        outcome_id, full = self._add_outcome(values)
        if full:
            await self.flush()
        return outcome_id

    async def record_tool_usage(self, **values: Any) -> uuid.UUID:
        """See :meth:`arc_eval.ArcEval.record_tool_usage`. Not durable on return."""
        self._check_open()
        usage_id, full = self._add_tool_usage(dict(values))
        if full:
            await self.flush()
        return usage_id

    async def record_failure(self, **values: Any) -> uuid.UUID:
        """See :meth:`arc_eval.ArcEval.record_failure`. Not durable on return."""
        self._check_open()
        pattern_id, full = self._add_failure(dict(values))
        if full:
            await self.flush()
        return pattern_id

    # -- similarity search ------------------------------------------------------------------------------

    async def similar_config_versions(
        self, query: str | Mapping[str, Any], k: int = 5, *, config_id: uuid.UUID | str | None = None
    ) -> list[dict[str, Any]]:
        """See :meth:`arc_eval.ArcEval.similar_config_versions`."""
        return await self.run(self._q_similar("config_versions", query, k, config_id=config_id))

    async def similar_scenarios(self, text: str, k: int = 5) -> list[dict[str, Any]]:
        """See :meth:`arc_eval.ArcEval.similar_scenarios`."""
        return await self.run(self._q_similar("scenarios", text, k))

    async def similar_trajectories(
        self, query: str | Mapping[str, Any], k: int = 5, *, scenario_id: str | None = None
    ) -> list[dict[str, Any]]:
        """See :meth:`arc_eval.ArcEval.similar_trajectories`."""
        return await self.run(self._q_similar("outcomes", query, k, scenario_id=scenario_id))

    async def similar_failures(self, error_message: str, k: int = 5) -> list[dict[str, Any]]:
        """See :meth:`arc_eval.ArcEval.similar_failures`."""
        return await self.run(self._q_similar("failure_patterns", error_message, k))

    async def embed_scenarios(self, *, overwrite: bool = False, limit: int = 100_000) -> int:
        """See :meth:`arc_eval.ArcEval.embed_scenarios`."""
        rows = await self.run(self._q_missing_embeddings("scenarios", limit, overwrite))
        return await self.run(self._q_store_embeddings("scenarios", rows)) if rows else 0

    async def embed_trajectories_backfill(self, limit: int = 1000) -> int:
        """See :meth:`arc_eval.ArcEval.embed_trajectories_backfill`."""
        rows = await self.run(self._q_missing_embeddings("outcomes", limit, False))
        return await self.run(self._q_store_embeddings("outcomes", rows)) if rows else 0


__all__ = ["AsyncArcEval"]
