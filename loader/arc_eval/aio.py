"""The asyncio client, :class:`AsyncArcEval`: the same methods as :class:`arc_eval.ArcEval`, awaitable.

It shares everything but the I/O with the sync client (:class:`arc_eval.api.ClientBase`: validation,
SQL flows, row encoding, the retry policy, the chunked flush and the dead-letter accounting) and runs
the flows on psycopg's ``AsyncConnection``. Durability is the same as the sync client's: configuration
and simulation calls commit before they return; ``record_*`` validate and buffer, and a full batch is
handed to a writer task (``write_behind=True``, the default) or written before the call returns
(``write_behind=False``); rows are durable once ``await flush()`` or ``await close()`` returns (or
``async with`` is left), and rows still buffered at interpreter exit are written over a plain sync
connection. Nothing blocks the event loop: embeddings are computed in a worker thread and a full
buffer is waited for with ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import logging
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from . import core
from .api import DEFAULT_RETRY_TIMEOUT, ClientBase, FlowFactory, UnsentRowsError, outcome_kwargs, resolve_dsn
from .buffer import Pending
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
    """Run a flow on an async connection; errors are thrown into the flow (see :func:`arc_eval.client.drive`)."""
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
            except Exception as exc:
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
    """Async client for the raw tables; same arguments, limits and methods as :class:`arc_eval.ArcEval`.

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
        pool_kwargs: Mapping[str, Any] | None = None,
        embedder: Embedder | None = None,
        raw_schema: str | None = None,
        user_id: uuid.UUID | str | None = None,
        cluster_threshold: float = core.DEFAULT_CLUSTER_THRESHOLD,
        embed_trajectories: bool = False,
        write_mode: str = "auto",
        retry_timeout: float = DEFAULT_RETRY_TIMEOUT,
        retry_backoff: float = 0.2,
        write_behind: bool = True,
        limits: core.Limits | None = None,
        max_buffer_rows: int = 100_000,
        max_buffer_bytes: int = 256 * 1024 * 1024,
        backpressure_timeout: float = 30.0,
    ) -> None:
        self._init_base(
            batch_size=batch_size,
            embed_trajectories=embed_trajectories,
            raw_schema=raw_schema,
            embedder=embedder,
            user_id=user_id,
            cluster_threshold=cluster_threshold,
            write_mode=write_mode,
            limits=limits,
            max_buffer_rows=max_buffer_rows,
            max_buffer_bytes=max_buffer_bytes,
            backpressure_timeout=backpressure_timeout,
            retry_timeout=retry_timeout,
            retry_backoff=retry_backoff,
        )
        self.flush_interval = flush_interval
        self.write_behind = write_behind
        self._dsn = resolve_dsn(dsn)
        self._pool = AsyncConnectionPool(
            self._dsn,
            min_size=pool_min,
            max_size=pool_max,
            timeout=self.retry_timeout,
            kwargs={**self._connection_kwargs(), **client_kwargs()},
            configure=configure_async,
            check=AsyncConnectionPool.check_connection,
            open=False,
            name="arc-eval-async",
            **dict(pool_kwargs or {}),
        )
        self._opened = False
        self._closed = False
        self._flush_lock: asyncio.Lock | None = None
        self._queue: asyncio.Queue | None = None
        self._tasks: list[asyncio.Task] = []
        method = weakref.WeakMethod(self._at_exit)
        self._atexit_hook = lambda: (m := method()) and m()
        atexit.register(self._atexit_hook)

    # -- plumbing -------------------------------------------------------------------------------------

    async def open(self) -> AsyncArcEval:
        """Open the pool and start the writer and interval flush tasks (idempotent)."""
        self._check_open()
        if not self._opened:
            self._opened = True
            self._flush_lock = asyncio.Lock()
            await self._pool.open(wait=True, timeout=self.retry_timeout)
            if self.write_behind:
                self._queue = asyncio.Queue()
                self._tasks.append(asyncio.create_task(self._writer_loop(), name="arc-eval-writer"))
            if self.flush_interval:
                self._tasks.append(asyncio.create_task(self._timer_loop(), name="arc-eval-flush"))
        return self

    async def __aenter__(self) -> AsyncArcEval:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def run(
        self,
        make_flow: FlowFactory,
        *,
        connection: psycopg.AsyncConnection | None = None,
        deadline: float | None = None,
    ) -> Any:
        """Run a flow in its own transaction (retried as :meth:`arc_eval.ArcEval.run`), or in ``connection``'s."""
        if connection is not None:
            return await drive_async(connection, make_flow())
        await self.open()
        deadline = self._deadline(None) if deadline is None else deadline
        attempt = 0
        while True:
            try:
                async with self._pool.connection(timeout=self._wait(deadline)) as conn, conn.transaction():
                    return await drive_async(conn, make_flow())
            except psycopg.Error as exc:
                await asyncio.sleep(self._retry_delay(exc, attempt, deadline))
                attempt += 1

    async def _timer_loop(self) -> None:
        interval = float(self.flush_interval or 0)
        tick = max(0.01, min(1.0, interval / 4))
        while True:
            await asyncio.sleep(tick)
            if self._buffers.age() >= interval:
                try:
                    self._hand_off() if self._queue is not None else await self.flush()
                except Exception as exc:
                    log.error("background flush failed: %s", exc)

    def _at_exit(self) -> None:
        """Interpreter exit without ``close()``: write what is buffered over a sync connection."""
        if self._closed or not self._buffers.pending():
            return
        taken = self._buffers.take()
        try:
            with psycopg.connect(self._dsn, autocommit=True) as conn:
                for spec, chunk in self._chunks(taken):
                    with conn.transaction():
                        result = drive(
                            conn, self._chunk_flow(spec, chunk, self._embedded_rows(spec, chunk))()
                        )
                    self._written(spec, chunk, result)
        except Exception as exc:
            log.error("arc-eval: flush at exit failed: %s", exc)

    async def close(self, timeout: float | None = None) -> None:
        """Flush everything, stop the tasks and close the pool. Durable when it returns.

        As :meth:`arc_eval.ArcEval.close`: if the flush fails, the client stays open with its rows.
        """
        if self._closed:
            return
        if self._opened:
            await self.flush(timeout)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._opened:
            await self.flush(timeout)
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

    async def _write_taken(self, taken: dict[str, list[Pending]], timeout: float | None) -> list[WriteResult]:
        """As :meth:`arc_eval.ArcEval._write_taken`; embeddings are computed in a worker thread."""
        results: list[WriteResult] = []
        try:
            for spec, chunk in self._chunks(taken):
                if any(item.embed_text is not None for item in chunk):
                    rows = await asyncio.to_thread(self._embedded_rows, spec, chunk)
                else:
                    rows = [item.row for item in chunk]
                result = await self.run(self._chunk_flow(spec, chunk, rows), deadline=self._deadline(timeout))
                self._written(spec, chunk, result)
                results.append(result)
        except BaseException:
            self._buffers.restore(taken)
            raise
        return results

    async def _writer_loop(self) -> None:
        assert self._queue is not None
        while True:
            taken = await self._queue.get()
            try:
                await self._write_taken(taken, None)
            except Exception as exc:  # rows are back in the buffer; the next flush() writes them or raises
                log.error(
                    "background write failed (%s: %s); %d rows kept in the buffer",
                    type(exc).__name__,
                    core.error_text(exc),
                    self.unsent(),
                )
            finally:
                self._queue.task_done()

    def _hand_off(self) -> None:
        """Give what is buffered to the writer task (unless two batches already wait for it)."""
        assert self._queue is not None
        if self._queue.qsize() < 2:
            self._queue.put_nowait(self._buffers.take())

    async def _make_room(self) -> None:
        if self._queue is not None:
            self._hand_off()
            return
        try:
            await self.flush()
        except UnsentRowsError as exc:
            log.error("flush failed: %s", exc)

    async def _record(self, table: str, item: Pending) -> None:
        if not self._opened:
            await self.open()
        count = self._buffers.try_add(table, item)
        if count is None:
            await self._make_room()
            wait = self.backpressure_timeout if self._queue is not None else 0.0
            deadline = time.monotonic() + wait
            while (count := self._buffers.try_add(table, item)) is None:
                if time.monotonic() >= deadline:
                    raise self._buffers.full_error(wait)
                await asyncio.sleep(0.01)
        if self._added(table, item, count):
            await self._make_room()

    async def flush(self, timeout: float | None = None) -> list[WriteResult]:
        """Write every row recorded so far; durable when it returns (see :meth:`arc_eval.ArcEval.flush`)."""
        await self.open()
        assert self._flush_lock is not None
        started = time.monotonic()
        limit = self._limit(timeout)
        await self._progressing(self._flush_lock.acquire(), started, limit, "another flush made no progress")
        try:
            if self._queue is not None:
                await self._progressing(
                    self._queue.join(), started, limit, "background writes made no progress"
                )
            return await self._write_taken(self._buffers.take(), limit)
        except UnsentRowsError:
            raise
        except Exception as exc:
            raise self._unsent_error(exc, started) from exc
        finally:
            self._flush_lock.release()

    async def _progressing(self, awaitable: Any, started: float, limit: float, stalled: str) -> None:
        """Await ``awaitable`` while the database keeps taking chunks; give up after ``limit`` idle seconds."""
        task = asyncio.ensure_future(awaitable)
        try:
            while not task.done():
                idle = self._idle(started)
                if idle >= limit:
                    raise UnsentRowsError(
                        self.unsent(), time.monotonic() - started, f"{stalled} for {limit:g} s"
                    )
                await asyncio.wait({task}, timeout=min(1.0, limit - idle))
            task.result()
        finally:
            if not task.done():
                task.cancel()

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
        factory = await asyncio.to_thread(  # the embedder may be slow or remote: off the loop
            self._q_create_config_version,
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
        table, item, outcome_id = self._prepare_outcome(values)
        await self._record(table, item)
        return outcome_id

    async def record_tool_usage(self, **values: Any) -> uuid.UUID:
        """See :meth:`arc_eval.ArcEval.record_tool_usage`. Not durable on return."""
        self._check_open()
        table, item, usage_id = self._prepare_tool_usage(dict(values))
        await self._record(table, item)
        return usage_id

    async def record_failure(self, **values: Any) -> uuid.UUID:
        """See :meth:`arc_eval.ArcEval.record_failure`. Not durable on return."""
        self._check_open()
        table, item, pattern_id = self._prepare_failure(dict(values))
        await self._record(table, item)
        return pattern_id

    # -- similarity search ------------------------------------------------------------------------------

    async def similar_config_versions(
        self, query: str | Mapping[str, Any], k: int = 5, *, config_id: uuid.UUID | str | None = None
    ) -> list[dict[str, Any]]:
        """See :meth:`arc_eval.ArcEval.similar_config_versions`."""
        return await self.run(
            await asyncio.to_thread(self._q_similar, "config_versions", query, k, config_id=config_id)
        )

    async def similar_scenarios(self, text: str, k: int = 5) -> list[dict[str, Any]]:
        """See :meth:`arc_eval.ArcEval.similar_scenarios`."""
        return await self.run(await asyncio.to_thread(self._q_similar, "scenarios", text, k))

    async def similar_trajectories(
        self, query: str | Mapping[str, Any], k: int = 5, *, scenario_id: str | None = None
    ) -> list[dict[str, Any]]:
        """See :meth:`arc_eval.ArcEval.similar_trajectories`."""
        return await self.run(
            await asyncio.to_thread(self._q_similar, "outcomes", query, k, scenario_id=scenario_id)
        )

    async def similar_failures(self, error_message: str, k: int = 5) -> list[dict[str, Any]]:
        """See :meth:`arc_eval.ArcEval.similar_failures`."""
        return await self.run(await asyncio.to_thread(self._q_similar, "failure_patterns", error_message, k))

    async def embed_scenarios(self, *, overwrite: bool = False, limit: int = 100_000) -> int:
        """See :meth:`arc_eval.ArcEval.embed_scenarios`."""
        rows = await self.run(self._q_missing_embeddings("scenarios", limit, overwrite))
        return (
            await self.run(await asyncio.to_thread(self._q_store_embeddings, "scenarios", rows))
            if rows
            else 0
        )

    async def embed_trajectories_backfill(self, limit: int = 1000) -> int:
        """See :meth:`arc_eval.ArcEval.embed_trajectories_backfill`."""
        rows = await self.run(self._q_missing_embeddings("outcomes", limit, False))
        return (
            await self.run(await asyncio.to_thread(self._q_store_embeddings, "outcomes", rows)) if rows else 0
        )


__all__ = ["AsyncArcEval"]
