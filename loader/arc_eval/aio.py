"""The client for the raw tables, :class:`AsyncArcEval`.

Durability, call by call:

* ``create_configuration``, ``create_config_version``, ``deactivate_configuration``, ``start_simulation``,
  ``set_scenario_status`` and ``finish_simulation`` commit before they return (or raise: then nothing
  of that call was committed, except when the connection broke after the commit was sent; a call
  with the same ids can be repeated).
* ``record_outcome``, ``record_tool_usage`` and ``record_failure`` validate and buffer: nothing is durable
  when they return, but the row is one the database accepts (a row that breaks a rule is refused at
  the call with ValidationError). When a table's buffer reaches ``batch_size`` it is handed to a writer
  (a thread in the sync client, a task in the asyncio client; with ``write_behind=False`` that call writes
  it before returning); every ``flush_interval`` seconds a timer hands over what is buffered. Everything
  recorded is durable (in its table, or in ``ingest_dead_letters`` if the database refused that row)
  when :meth:`AsyncArcEval.flush` or :meth:`AsyncArcEval.close` returns, when the ``with`` block (``async
  with`` for the asyncio client) is left, and at interpreter exit (the asyncio client writes what is
  buffered then over a plain sync connection, as no event loop runs any more). ``finish_simulation``
  flushes first. A flush that cannot reach the database within ``retry_timeout`` raises
  :class:`~arc_eval.api.UnsentRowsError`; the rows stay in the client for the next flush.
* Re-sending a record with the same id (after a crash or an UnsentRowsError) lands it once.

The asyncio client never blocks its event loop: embeddings are computed in a worker thread and a full
buffer is waited for with ``asyncio.sleep``.
"""

# This module is the one source of both clients: tools/async_to_sync.py writes client.py (the sync
# ArcEval) from it, dropping async/await, swapping the names of arc_eval._acompat's async primitives
# for their sync twins' and keeping one branch of each `if True:  # ASYNC` (the async one here, the
# `else:` there; `if False:  # ASYNC` is the sync face's alone). Run `make format` (or the tool) after
# an edit; `make lint` fails while client.py is stale. Comments (like this one) stay here.

from __future__ import annotations

import atexit
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
from ._acompat import AEvent, ALock, AQueue, AWorker, agather, asleep, aspawn, off_loop
from .api import (
    DEFAULT_RETRY_TIMEOUT,
    ClientBase,
    FlowFactory,
    UnsentRowsError,
    exit_budget,
    outcome_kwargs,
    resolve_dsn,
)
from .buffer import Pending
from .connection import client_kwargs
from .core import ConfigVersion, Flow, WriteResult
from .embeddings import Embedder

log = logging.getLogger(__name__)


async def run_op_async(cur: psycopg.AsyncCursor, op: core.Op) -> Any:
    """Execute one flow operation on a cursor."""
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
    """Run a flow on ``conn``; errors are thrown into the flow where they happened (whatever their
    class: a row that cannot be encoded fails on the client), unless the connection is gone."""
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
    except (psycopg.Error, ImportError) as exc:  # the schema may not exist yet: vectors stay text
        log.debug("pgvector types not registered: %s", type(exc).__name__)


class AsyncArcEval(ClientBase):
    """Client for the raw tables. The sync client is thread-safe, the asyncio client belongs to one event
    loop; one instance per process is enough. The sync client connects in its constructor; the asyncio
    client at ``async with``, ``await db.open()`` or its first call.

    ``dsn`` defaults to :func:`arc_eval.connection.resolve`; ``raw_schema`` to :func:`arc_eval.dbt.raw_schema`.
    Pool sizes default to one sandbox (min 1, max 4); ``pool_kwargs`` passes anything else to
    ``psycopg_pool.ConnectionPool`` (its async twin for the asyncio client).

    Time: ``retry_timeout`` (default 30 s) is the longest any call waits for a lost or busy database,
    retrying with exponential backoff from ``retry_backoff`` seconds; ``flush(timeout=)`` and
    ``close(timeout=)`` take their own. Then the call raises (a flush: UnsentRowsError, rows kept), and the
    same client works again once the database is back. Memory: at most ``max_buffer_rows`` rows and
    ``max_buffer_bytes`` bytes are held (buffered or being written); a ``record_*`` call that finds the
    buffer full waits up to ``backpressure_timeout`` seconds for room, then raises BufferFullError.
    ``limits`` (:class:`arc_eval.core.Limits`) bounds identifiers, text, JSON size and depth, and times.

    ``flush_interval=None`` disables the interval flush. ``write_behind=True`` (default) writes full
    batches in the background while the caller keeps recording (``writers`` writer threads, or tasks for
    the asyncio client, default 1). ``write_mode="auto"`` COPYs straight into the table and falls back to a
    staging table with ``ON CONFLICT DO NOTHING`` when a row already exists; ``"staged"`` always stages.
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
        writers: int = 1,
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
        self._flush_lock = ALock()
        self._stop = AEvent()
        self._queue: AQueue | None = AQueue() if write_behind else None
        self._writer_count = max(1, writers)
        self._writers: list[AWorker] = []
        self._timers: list[AWorker] = []
        if False:  # ASYNC: the sync client connects in its constructor, the async one in open()
            self._open()
        method = weakref.WeakMethod(self._at_exit)
        self._atexit_hook = lambda: (m := method()) and m()
        atexit.register(self._atexit_hook)

    # -- plumbing -------------------------------------------------------------------------------------

    async def _open(self) -> None:
        """Open the pool and start the writers and the interval flush, once; refused when closed."""
        self._check_open()
        if self._opened:
            return
        self._opened = True
        await self._pool.open(wait=True, timeout=self.retry_timeout)
        if self._queue is not None:
            for i in range(self._writer_count):
                self._writers.append(aspawn(self._writer_loop, name=f"arc-eval-writer-{i}"))
        if self.flush_interval:
            self._timers.append(aspawn(self._timer_loop, name="arc-eval-flush"))

    if True:  # ASYNC: the sync client has no open()

        async def open(self) -> AsyncArcEval:
            """Open the pool and start the writer and interval flush tasks (idempotent)."""
            await self._open()
            return self

    async def __aenter__(self) -> AsyncArcEval:
        await self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def run(
        self,
        make_flow: FlowFactory,
        *,
        connection: psycopg.AsyncConnection | None = None,
        deadline: float | None = None,
    ) -> Any:
        """Run a flow in its own transaction, or inside ``connection``'s.

        On its own transaction, errors of the connection or the server are retried until ``deadline``
        (``time.monotonic()`` seconds; default ``retry_timeout`` from now), then raised.
        """
        if connection is not None:
            return await drive_async(connection, make_flow())
        await self._open()
        deadline = self._deadline(None) if deadline is None else deadline
        attempt = 0
        while True:
            try:
                async with self._pool.connection(timeout=self._wait(deadline)) as conn, conn.transaction():
                    return await drive_async(conn, make_flow())
            except psycopg.Error as exc:
                await asleep(self._retry_delay(exc, attempt, deadline))
                attempt += 1

    async def _timer_loop(self) -> None:
        interval = float(self.flush_interval or 0)
        tick = max(0.01, min(1.0, interval / 4))
        while not await self._stop.wait_timeout(tick):
            if self._buffers.age() >= interval:
                try:
                    if self._queue is not None:
                        self._hand_off()
                    else:
                        await self.flush()
                except Exception as exc:  # the rows stay buffered; the next tick retries
                    log.error("background flush failed: %s", exc)

    def _at_exit(self) -> None:
        """Write what is left at interpreter exit, within the share of the exit budget still left
        (:func:`~arc_eval.api.exit_budget`); what cannot be written then is logged as lost."""
        if self._closed:
            return
        budget = exit_budget(self.retry_timeout)
        try:
            if True:  # ASYNC: no event loop runs at exit: write over a plain sync connection
                if self._buffers.pending():
                    self._write_at_exit(budget)
            else:
                self.close(budget)
        except Exception as exc:
            log.error("arc-eval: flush at exit failed, %d rows not written: %s", self.unsent(), exc)
            if False:  # ASYNC: the asyncio pool has no threads left to stop at exit
                self._pool.close(timeout=1)  # its threads would go on reconnecting for nothing

    if True:  # ASYNC: see _at_exit

        def _write_at_exit(self, budget: float) -> None:
            from .client import drive

            if budget <= 0:
                raise UnsentRowsError(self.unsent(), 0.0, "no time left of the exit budget")
            taken = self._buffers.take()
            with psycopg.connect(self._dsn, autocommit=True, connect_timeout=max(2, int(budget))) as conn:
                for spec, chunk in self._chunks(taken):
                    with conn.transaction():
                        result = drive(
                            conn, self._chunk_flow(spec, chunk, self._embedded_rows(spec, chunk))()
                        )
                    self._written(spec, chunk, result)

    async def close(self, timeout: float | None = None) -> None:
        """Flush everything, stop the timer and writers and close the pool. Durable when it returns.

        ``timeout`` bounds the wait for the database (default ``retry_timeout``). If the flush fails
        (UnsentRowsError), the client stays open with its rows: call ``close()`` or ``flush()`` again.
        """
        if self._closed:
            return
        if self._opened:
            await self.flush(timeout)
        self._stop.set()
        await agather(self._timers, timeout=5)
        if self._queue is not None:
            for _ in self._writers:
                self._queue.put_nowait(None)
            await agather(self._writers, timeout=5)
        self._timers, self._writers = [], []
        if self._opened:
            await self.flush(timeout)  # anything the timer handed over while stopping
        self._closed = True
        atexit.unregister(self._atexit_hook)
        await self._pool.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise core.ArcEvalError(f"this {type(self).__name__} client is closed")

    # -- flushing -------------------------------------------------------------------------------------

    async def _write_taken(self, taken: dict[str, list[Pending]], timeout: float | None) -> list[WriteResult]:
        """Write rows taken from the buffer, in table order, one transaction per ``batch_size`` chunk;
        each chunk may wait ``timeout`` seconds (default ``retry_timeout``) for the database.

        On an error the rows not yet written go back to the buffer and the error is raised.
        """
        results: list[WriteResult] = []
        try:
            for spec, chunk in self._chunks(taken):
                if any(item.embed_text is not None for item in chunk):
                    rows = await off_loop(self._embedded_rows, spec, chunk)
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
                if taken is None:
                    return
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
        """Give what is buffered to a writer (unless enough batches already wait for one)."""
        assert self._queue is not None
        if self._queue.qsize() < 2 * self._writer_count:
            self._queue.put_nowait(self._buffers.take())

    async def _make_room(self) -> None:
        """A table's buffer reached ``batch_size`` (or the buffer is full): write it now, or hand it over."""
        if self._queue is not None:
            self._hand_off()
            return
        try:
            await self.flush()
        except UnsentRowsError as exc:  # the rows stay buffered; the buffer's bounds limit how many
            log.error("flush failed: %s", exc)

    async def _record(self, table: str, item: Pending) -> None:
        await self._open()
        count = self._buffers.try_add(table, item)
        if count is None:
            await self._make_room()
            wait = self.backpressure_timeout if self._queue is not None else 0.0
            count = await self._buffers.add_async(table, item, timeout=wait)
        if self._added(table, item, count):
            await self._make_room()

    async def flush(self, timeout: float | None = None) -> list[WriteResult]:
        """Write every row recorded so far (and wait for background writes); durable when it returns.

        Tables are written in order (outcomes, tool usage, failures), each in chunks of ``batch_size``,
        one transaction per chunk. Rows the database refuses go to ``ingest_dead_letters``; every other
        row lands once. While the database is lost or busy, the flush retries; once it has made no
        progress for ``timeout`` seconds (default ``retry_timeout``), it raises UnsentRowsError with the
        number of rows unsent, and they stay buffered for the next flush. A large backlog on a working
        database is not cut short. Returns the results of the chunks this call wrote.
        """
        if True:  # ASYNC: the first call opens the async client (flush on a closed sync client returns [])
            await self._open()
        started = time.monotonic()
        limit = self._limit(timeout)
        while not await self._flush_lock.acquire_within(self._patience(started, limit)):
            self._check_stalled(started, limit, "another flush")
        try:
            while self._queue is not None and not await self._queue.join_within(
                self._patience(started, limit)
            ):
                self._check_stalled(started, limit, "background writes")
            return await self._write_taken(self._buffers.take(), limit)
        except UnsentRowsError:
            raise
        except Exception as exc:
            raise self._unsent_error(exc, started) from exc
        finally:
            self._flush_lock.release()

    # -- configurations -------------------------------------------------------------------------------

    async def create_configuration(
        self,
        name: str,
        user_id: uuid.UUID | str,
        sandbox_config: Mapping[str, Any] | None = None,
        modal_app_id: str | None = None,
    ) -> uuid.UUID:
        """Create a configuration, or return the active one with this name and owner. Committed on return.

        An active configuration of the same name owned by another user is refused (ValidationError).
        """
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
        """Store YAML text (or a dict) as the next version of ``config`` (a config_id or an active name).

        Validates (YAML parsed safely, ``model`` present, ``temperature`` in [0, 2], at most 1 MB), hashes
        the canonical JSON (SHA-256) and returns the existing version (``created=False``) when this
        configuration already has that content; if that version is not the current one (a revert), it
        becomes current again, with a diff. Otherwise assigns the next ``version_number`` under a
        row lock, moves ``latest_version_id`` and writes a ``config_diffs`` row against the previous
        latest version, in one transaction: committed on return, or part of ``connection``'s open
        transaction when given.
        """
        factory = await off_loop(  # the embedder may be slow or remote: off the event loop
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
        """The latest version of the active configuration ``name`` (NotFoundError if none)."""
        return await self.run(self._q_get_active_config(name))

    async def get_active_configurations(self) -> list[dict[str, Any]]:
        """Every active configuration that has a version, with its latest version."""
        return await self.run(self._q_get_active_configurations())

    async def deactivate_configuration(
        self, config_id: uuid.UUID | str, *, user_id: uuid.UUID | str | None = None
    ) -> bool:
        """Soft delete (``is_active = false``); versions stay. Returns whether it was active. Committed on return."""
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
        """Start a simulation (status ``running``) of a config version over scenarios, in order.

        Unknown or inactive scenarios, repeats and an empty list are refused (ValidationError). Committed
        on return; giving the same ``simulation_id`` again changes nothing and returns it.
        """
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
        """Move a scenario: pending -> running/skipped/failed, running -> completed/failed, failed -> running.

        Anything else, or a change in a finished simulation, raises IllegalTransitionError; repeating the
        current status changes nothing. ``failed -> running`` is a retry and adds one to ``retry_count``
        unless given. Committed on return.
        """
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
        """Flush, then close the simulation as completed / failed / cancelled with its totals.

        ``overall_score`` defaults to the mean reliability of its outcomes. Finishing a finished simulation
        with another status is refused (IllegalTransitionError); with the same status it changes nothing.
        Committed on return; returns the simulation row.
        """
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
        """Validate and buffer one outcome; returns its ``outcome_id`` (a UUIDv7 unless given).

        On return the row is validated and buffered, not durable: it is durable (stored, or dead-lettered if
        the database refuses it) once a later ``flush()``, ``close()`` or ``finish_simulation()`` returns.
        Raises ValidationError (nothing buffered) for a value that breaks a rule or a limit, and
        BufferFullError when the buffer stayed full for ``backpressure_timeout``. Recording the same
        ``outcome_id`` again lands the outcome once. Optional columns:
        outcome_id, metrics, modal_call_id, sandbox_id, sandbox_logs, retry_count, error_code,
        error_category, execution_metadata (any keys), trajectory_embedding.
        """
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
        """Validate and buffer one tool-usage row; returns its ``usage_id``. Durable as
        :meth:`record_outcome`'s row (not on return); the same ``usage_id`` recorded again lands once.

        Required: outcome_id, tool_name, call_count, avg_duration_ms, success_rate, and execution_time
        (the outcome's; may be omitted for an outcome recorded by this client).
        """
        self._check_open()
        table, item, usage_id = self._prepare_tool_usage(dict(values))
        await self._record(table, item)
        return usage_id

    async def record_failure(self, **values: Any) -> uuid.UUID:
        """Validate and buffer one failure; returns its ``pattern_id``. Durable as :meth:`record_outcome`'s
        row (not on return); the same ``pattern_id`` recorded again lands once.

        Required: outcome_id, failure_type, failure_category, and execution_time (the outcome's; may be
        omitted for an outcome recorded by this client). At flush, ``error_message`` is embedded and the
        failure joins the cluster of its nearest earlier failure when the cosine similarity is at least
        ``cluster_threshold`` (``cluster_confidence`` = similarity), else starts a new cluster;
        ``similar_failures_count`` is the number of failures already in that cluster when it is written.
        """
        self._check_open()
        table, item, pattern_id = self._prepare_failure(dict(values))
        await self._record(table, item)
        return pattern_id

    # -- similarity search ------------------------------------------------------------------------------

    async def similar_config_versions(
        self, query: str | Mapping[str, Any], k: int = 5, *, config_id: uuid.UUID | str | None = None
    ) -> list[dict[str, Any]]:
        """Config versions nearest to ``query`` (text or a config dict), with ``similarity`` (cosine)."""
        return await self.run(
            await off_loop(self._q_similar, "config_versions", query, k, config_id=config_id)
        )

    async def similar_scenarios(self, text: str, k: int = 5) -> list[dict[str, Any]]:
        """Scenarios nearest to ``text`` (embeddings come from :meth:`embed_scenarios`)."""
        return await self.run(await off_loop(self._q_similar, "scenarios", text, k))

    async def similar_trajectories(
        self, query: str | Mapping[str, Any], k: int = 5, *, scenario_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Outcomes whose trajectory is nearest to ``query`` (needs ``embed_trajectories=True`` or
        :meth:`embed_trajectories_backfill`)."""
        return await self.run(await off_loop(self._q_similar, "outcomes", query, k, scenario_id=scenario_id))

    async def similar_failures(self, error_message: str, k: int = 5) -> list[dict[str, Any]]:
        """Failures whose error message is nearest to ``error_message``."""
        return await self.run(await off_loop(self._q_similar, "failure_patterns", error_message, k))

    async def embed_scenarios(self, *, overwrite: bool = False, limit: int = 100_000) -> int:
        """Fill ``scenarios.scenario_embedding`` from name and task prompt. Returns rows updated."""
        rows = await self.run(self._q_missing_embeddings("scenarios", limit, overwrite))
        return await self.run(await off_loop(self._q_store_embeddings, "scenarios", rows)) if rows else 0

    async def embed_trajectories_backfill(self, limit: int = 1000) -> int:
        """Embed up to ``limit`` stored trajectories that have no embedding. Returns rows updated."""
        rows = await self.run(self._q_missing_embeddings("outcomes", limit, False))
        return await self.run(await off_loop(self._q_store_embeddings, "outcomes", rows)) if rows else 0


__all__ = ["AsyncArcEval", "ConfigVersion"]
