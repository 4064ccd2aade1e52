"""What the sync and async clients share above the core: argument checks that turn a call into a flow.

Each ``_q_<method>`` validates its arguments (raising :class:`~arc_eval.core.ValidationError` before any
I/O) and returns a zero-argument factory of the flow that does the database work. The clients only
decide how to run it (blocking or awaited).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from . import core
from .buffer import FLUSH_ORDER, Pending, Recorder, fill_embedding
from .core import Flow, Sql, WriteResult
from .embeddings import Embedder, embedder_from_env, vector_literal

FlowFactory = Callable[[], Flow]
log = logging.getLogger("arc_eval.client")
DEFAULT_RETRY_TIMEOUT = 30.0
MAX_BACKOFF = 5.0


_exit_deadline: float | None = None


def exit_budget(retry_timeout: float) -> float:
    """Seconds a client may still spend writing at interpreter exit. The clients still open then share one
    budget, the first one's ``retry_timeout`` from its start, so many clients facing a lost database do not
    hold the exit for ``retry_timeout`` each, one after another."""
    global _exit_deadline
    now = time.monotonic()
    if _exit_deadline is None:
        _exit_deadline = now + max(0.0, float(retry_timeout))
    return max(0.0, min(float(retry_timeout), _exit_deadline - now))


class UnsentRowsError(core.ArcEvalError):
    """A flush could not write every row: the database was unreachable for the whole retry budget, or
    refused the work for a reason that is not a row's (a missing table, a permission). ``unsent`` rows
    stay in the client, in order, and the next ``flush()`` or ``close()`` sends them again."""

    def __init__(self, unsent: int, waited: float, cause: BaseException | str) -> None:
        self.unsent = unsent
        reason = cause if isinstance(cause, str) else f"{type(cause).__name__}: {core.error_text(cause)}"
        super().__init__(
            f"{unsent} rows unsent after {waited:.1f} s ({reason}); they stay buffered: "
            "call flush() or close() again"
        )


def resolve_dsn(dsn: str | None) -> str:
    if dsn:
        return dsn
    from .connection import resolve

    return resolve().conninfo


def resolve_schema(schema: str | None) -> str:
    if schema:
        return schema
    from .settings import raw_schema

    return raw_schema()


class ClientBase(Recorder):
    sql: Sql
    embedder: Embedder
    user_id: uuid.UUID | None
    cluster_threshold: float
    write_mode: str

    def _init_base(
        self,
        *,
        batch_size: int,
        embed_trajectories: bool,
        raw_schema: str | None,
        embedder: Embedder | None,
        user_id: Any,
        cluster_threshold: float,
        write_mode: str,
        limits: core.Limits | None = None,
        max_buffer_rows: int = 100_000,
        max_buffer_bytes: int = 256 * 1024 * 1024,
        backpressure_timeout: float = 30.0,
        retry_timeout: float = DEFAULT_RETRY_TIMEOUT,
        retry_backoff: float = 0.2,
    ) -> None:
        if write_mode not in ("auto", "staged"):
            raise ValueError("write_mode must be 'auto' or 'staged'")
        if not 0.0 <= float(cluster_threshold) <= 1.0:
            raise ValueError("cluster_threshold must be between 0 and 1")
        if float(retry_timeout) <= 0:
            raise ValueError("retry_timeout must be positive")
        self._init_recorder(
            batch_size,
            embed_trajectories,
            limits=limits,
            max_buffer_rows=max_buffer_rows,
            max_buffer_bytes=max_buffer_bytes,
            backpressure_timeout=backpressure_timeout,
        )
        self.retry_timeout = float(retry_timeout)
        self.retry_backoff = float(retry_backoff)
        self.sql = Sql(resolve_schema(raw_schema))
        self.embedder = embedder or embedder_from_env()
        self.user_id = None if user_id is None else core.check_uuid("user_id", user_id)
        self.cluster_threshold = float(cluster_threshold)
        self.write_mode = write_mode
        self.dead_letter_count = 0
        self._count_lock = threading.Lock()
        self._last_progress = time.monotonic()

    # -- retry policy (each face sleeps its own way) ---------------------------------------------------

    def _deadline(self, timeout: float | None) -> float:
        """The monotonic time by which a call gives up: ``timeout`` seconds, else ``retry_timeout``."""
        return time.monotonic() + (self.retry_timeout if timeout is None else max(0.0, float(timeout)))

    def _retry_delay(self, exc: BaseException, attempt: int, deadline: float) -> float:
        """Seconds to wait before attempt ``attempt + 1`` after ``exc``; re-raises ``exc`` when it is not
        an error of the connection or the server, or when the deadline leaves no time for another try."""
        remaining = deadline - time.monotonic()
        if not core.is_retryable(exc) or remaining <= 0.05:
            raise exc
        delay = min(self.retry_backoff * (2**attempt), MAX_BACKOFF, remaining / 2)
        log.warning(
            "database unavailable (%s); retry %d in %.2fs (%.1fs left)",
            type(exc).__name__,
            attempt + 1,
            delay,
            remaining,
        )
        return delay

    def _limit(self, timeout: float | None) -> float:
        return self.retry_timeout if timeout is None else max(0.0, float(timeout))

    def _idle(self, started: float) -> float:
        """Seconds since the database last took a chunk (or since ``started``, if later)."""
        return time.monotonic() - max(started, self._last_progress)

    def _patience(self, started: float, limit: float) -> float:
        """Seconds to wait for a lock or for the writers before looking at the progress again."""
        return min(1.0, max(0.01, limit - self._idle(started)))

    def _check_stalled(self, started: float, limit: float, waiting_for: str) -> None:
        """Raise UnsentRowsError when the database has taken no chunk for ``limit`` seconds."""
        if self._idle(started) >= limit:
            raise UnsentRowsError(
                self.unsent(), time.monotonic() - started, f"{waiting_for} made no progress for {limit:g} s"
            )

    def _connection_kwargs(self) -> dict[str, Any]:
        """libpq settings so that a dead server or a half-open connection is noticed within ``retry_timeout``
        (TCP keepalives and ``tcp_user_timeout``; ignored on Unix sockets)."""
        return {
            "autocommit": True,
            "connect_timeout": max(2, int(self.retry_timeout / 3)),
            "keepalives": 1,
            "keepalives_idle": max(1, int(self.retry_timeout / 3)),
            "keepalives_interval": max(1, int(self.retry_timeout / 10)),
            "keepalives_count": 3,
            "tcp_user_timeout": int(self.retry_timeout * 1000),
        }

    @staticmethod
    def _wait(deadline: float) -> float:
        """Seconds left before ``deadline`` (at least a little, so a last attempt can run)."""
        return max(0.05, deadline - time.monotonic())

    # -- chunked flush and dead-letter accounting ---------------------------------------------------------

    def _chunks(self, taken: dict[str, list[Pending]]) -> Iterator[tuple[core.TableSpec, list[Pending]]]:
        """The chunks of ``taken`` in table order, ``batch_size`` rows each. A chunk leaves ``taken`` only
        when the caller asks for the next one (after writing it), so on an error ``taken`` holds exactly
        the rows not yet written, ready for :meth:`Buffers.restore`."""
        for spec in FLUSH_ORDER:
            items = taken[spec.name]
            while items:
                chunk = items[: self.batch_size]
                yield spec, chunk
                items = taken[spec.name] = items[len(chunk) :]

    def _chunk_flow(self, spec: core.TableSpec, chunk: list[Pending], rows: list[tuple]) -> FlowFactory:
        id_index = spec.column_names.index(spec.id_column)
        check_ids = frozenset(item.row[id_index] for item in chunk if item.keyed_by_id)
        if spec is core.FAILURE_PATTERNS:
            return lambda: core.write_failures_flow(
                self.sql, rows, self.cluster_threshold, check_ids=check_ids
            )
        return lambda: core.write_batch_flow(self.sql, spec, rows, mode=self.write_mode, check_ids=check_ids)

    def _written(self, spec: core.TableSpec, chunk: list[Pending], result: WriteResult) -> None:
        """A chunk is in the database (rows, duplicates skipped and dead letters): count and free it."""
        if result.dead_letters:
            with self._count_lock:
                self.dead_letter_count += len(result.dead_letters)
            for row, message, _ in result.dead_letters:
                log.warning("%s row %s dead-lettered: %s", spec.name, row[0], message)
        self._buffers.release(chunk)
        self._last_progress = time.monotonic()

    def _unsent_error(self, exc: BaseException, started: float) -> UnsentRowsError:
        return UnsentRowsError(self.unsent(), time.monotonic() - started, exc)

    def _embedded_rows(self, spec: core.TableSpec, chunk: list[Pending]) -> list[tuple]:
        """Rows of a chunk with their pending embeddings computed (one embedder call per chunk)."""
        todo = [i for i, item in enumerate(chunk) if item.embed_text is not None]
        rows = [item.row for item in chunk]
        if todo:
            vectors = self.embedder.embed([chunk[i].embed_text for i in todo])
            for i, vector in zip(todo, vectors, strict=True):
                rows[i] = fill_embedding(spec, chunk[i], vector_literal(vector))
        return rows

    # -- request builders -------------------------------------------------------------------------------

    def _q_create_configuration(self, name, user_id, sandbox_config, modal_app_id) -> FlowFactory:
        checked = core.check_configuration(name, user_id, sandbox_config, modal_app_id)
        return lambda: core.create_configuration_flow(self.sql, *checked)

    def _q_create_config_version(
        self,
        config,
        content,
        generated_by,
        *,
        user_id,
        llm_generated,
        approval_status,
        approved_by,
        modal_deployment_id,
    ) -> FlowFactory:
        ref = core.config_ref(config)
        prepared = core.prepare_config(content)
        generated_by = core.check_text("generated_by", generated_by, choices=core.GENERATED_BY)
        approval_status = core.check_text("approval_status", approval_status, choices=core.APPROVAL_STATUSES)
        llm_generated = core.check_bool("llm_generated", llm_generated)
        user = None if user_id is None else core.check_uuid("user_id", user_id)
        approver = None if approved_by is None else core.check_uuid("approved_by", approved_by)
        deployment = (
            None
            if modal_deployment_id is None
            else core.check_text("modal_deployment_id", modal_deployment_id)
        )
        embedding = vector_literal(self.embedder.embed([prepared.canonical_json])[0])
        return lambda: core.create_config_version_flow(
            self.sql,
            ref,
            prepared,
            embedding,
            generated_by=generated_by,
            user_id=user or self.user_id,
            llm_generated=llm_generated,
            approval_status=approval_status,
            approved_by=approver,
            modal_deployment_id=deployment,
        )

    def _q_get_active_config(self, name) -> FlowFactory:
        name = core.check_text("name", name)
        return lambda: core.get_active_config_flow(self.sql, name)

    def _q_get_active_configurations(self) -> FlowFactory:
        return lambda: core.get_active_configurations_flow(self.sql)

    def _q_deactivate_configuration(self, config_id, user_id) -> FlowFactory:
        cid = core.check_uuid("config_id", config_id)
        user = None if user_id is None else core.check_uuid("user_id", user_id)
        return lambda: core.deactivate_configuration_flow(self.sql, cid, user or self.user_id)

    def _q_start_simulation(self, version_id, scenario_ids, simulation_name, **kwargs) -> FlowFactory:
        start = core.check_simulation_start(version_id, scenario_ids, simulation_name, **kwargs)
        return lambda: core.start_simulation_flow(self.sql, start)

    def _q_set_scenario_status(
        self, simulation_id, scenario_id, status, at, retry_count, modal_call_id, logs
    ):
        sid = core.check_uuid("simulation_id", simulation_id)
        scenario = core.check_text("scenario_id", scenario_id, max_len=100, pattern=core.SCENARIO_ID)
        status = core.check_text("status", status, choices=core.SCENARIO_STATUSES[1:])
        when = None if at is None else core.check_time("at", at)
        retries = None if retry_count is None else core.check_int("retry_count", retry_count, lo=0)
        call = None if modal_call_id is None else core.check_text("modal_call_id", modal_call_id)
        text = None if logs is None else core.check_text("logs", logs)
        return lambda: core.set_scenario_status_flow(
            self.sql, sid, scenario, status, when, retries, call, text
        )

    def _q_finish_simulation(self, simulation_id, status, overall_score, completed_at) -> FlowFactory:
        sid = core.check_uuid("simulation_id", simulation_id)
        status = core.check_text("status", status, choices=core.SIMULATION_FINAL)
        score = None if overall_score is None else core.check_real("overall_score", overall_score, lo=0, hi=1)
        when = None if completed_at is None else core.check_time("completed_at", completed_at)
        return lambda: core.finish_simulation_flow(self.sql, sid, status, score, when)

    def _q_get_simulation(self, simulation_id) -> FlowFactory:
        sid = core.check_uuid("simulation_id", simulation_id)
        table = self.sql.t("simulations")

        def flow() -> Flow:
            row = yield core.FetchOne(f"SELECT * FROM {table} WHERE simulation_id = %s", [sid])
            return None if row is None else dict(row)

        return flow

    def _literal(self, text: str) -> str:
        return vector_literal(self.embedder.embed([text])[0])

    def _q_similar(self, kind: str, query: Any, k: int, **filters: Any) -> FlowFactory:
        k = core.check_int("k", k, lo=1)
        where, params = "", []
        if kind == "config_versions":
            text = core.prepare_config(query).canonical_json if isinstance(query, Mapping) else str(query)
            if filters.get("config_id") is not None:
                where, params = "AND config_id = %s", [core.check_uuid("config_id", filters["config_id"])]
        elif kind == "outcomes":
            text = core.trajectory_text(query)
            if filters.get("scenario_id") is not None:
                where, params = (
                    "AND scenario_id = %s",
                    [core.check_text("scenario_id", filters["scenario_id"])],
                )
        else:
            text = core.check_text("query", query)
        literal = self._literal(text)
        return lambda: core.similar_flow(self.sql, kind, literal, k, where, params)

    def _q_missing_embeddings(self, kind: str, limit: int, overwrite: bool) -> FlowFactory:
        if kind == "scenarios":
            cond = "" if overwrite else " WHERE scenario_embedding IS NULL"
            sql = f"SELECT scenario_id, name, task_prompt FROM {self.sql.t('scenarios')}{cond} LIMIT %s"
        else:
            cond = "" if overwrite else " WHERE trajectory_embedding IS NULL"
            sql = (
                f"SELECT outcome_id, execution_time, trajectory FROM {self.sql.t('outcomes')}{cond} "
                "ORDER BY execution_time DESC LIMIT %s"
            )

        def flow() -> Flow:
            return (yield core.FetchAll(sql, [int(limit)]))

        return flow

    def _q_store_embeddings(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> FlowFactory:
        if kind == "scenarios":
            texts = [core.scenario_text(r["name"], r["task_prompt"]) for r in rows]
        else:
            texts = [core.trajectory_text(r["trajectory"]) for r in rows]
        vectors = [vector_literal(v) for v in self.embedder.embed(texts)] if rows else []

        def flow() -> Flow:
            for row, vector in zip(rows, vectors, strict=True):
                if kind == "scenarios":
                    yield core.Execute(
                        f"UPDATE {self.sql.t('scenarios')} SET scenario_embedding = %s::vector WHERE scenario_id = %s",
                        [vector, row["scenario_id"]],
                    )
                else:
                    yield core.Execute(
                        f"UPDATE {self.sql.t('outcomes')} SET trajectory_embedding = %s::vector "
                        "WHERE outcome_id = %s AND execution_time = %s",
                        [vector, row["outcome_id"], row["execution_time"]],
                    )
            return len(rows)

        return flow


def outcome_kwargs(
    simulation_id: Any,
    scenario_id: Any,
    status: Any,
    reliability_score: Any,
    execution_time_ms: Any,
    tokens_used: Any,
    cost_usd: Any,
    trajectory: Any,
    execution_time: dt.datetime | None,
    optional: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        **optional,
        "simulation_id": simulation_id,
        "scenario_id": scenario_id,
        "status": status,
        "reliability_score": reliability_score,
        "execution_time_ms": execution_time_ms,
        "tokens_used": tokens_used,
        "cost_usd": cost_usd,
        "trajectory": trajectory,
        "execution_time": execution_time,
    }
