"""The seed's interfaces (sections 8, 9 and 10D) as thin async layers over :class:`arc_eval.AsyncArcEval`.

``ArcEvalDBClient``, ``ConfigurationManager``, ``BatchExecutionRecorder``, ``ExecutionEventHandler`` and
``DatabaseHealthChecker`` keep the seed's method names and dict arguments; all validation and SQL is
the loader's. Each takes an optional connection string (default: :func:`arc_eval.connection.resolve`,
i.e. ``ARC_EVAL_DSN``, ``PG*``, ``TIMESCALEDB_*`` or the embedded server) and opens itself on first use.

Durability: ``ArcEvalDBClient``, ``ConfigurationManager`` and ``ExecutionEventHandler`` calls are
durable when they return (they flush), as the seed's row-at-a-time inserts were.
``BatchExecutionRecorder`` buffers like the seed's: durable after ``flush_outcomes()``/``flush()``/``close()``
or a full batch (and on its interval).

Where the seed's dicts lack a column the tables require, a documented default fills it: ``tokens_used``
0, ``cost_usd`` 0, ``reliability_score`` 1.0 for a success and 0.0 otherwise, ``trajectory.start_time``
the execution's start and ``trajectory.status`` the outcome status.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import core
from .aio import AsyncArcEval
from .capabilities import PROBE_SQL, Capabilities
from .core import NotFoundError, ValidationError
from .ids import uuid7

log = logging.getLogger(__name__)

_SUCCESS_WORDS = {
    "success": "success",
    "succeeded": "success",
    "completed": "success",
    "passed": "success",
    "ok": "success",
    "error": "error",
    "failed": "error",
    "failure": "error",
    "timeout": "timeout",
    "timed_out": "timeout",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}
_OUTCOME_COLUMNS = set(core.OUTCOMES.column_names)
_TOOL_COLUMNS = set(core.TOOL_USAGE.column_names)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _outcome_status(value: Any) -> str:
    if isinstance(value, bool):
        return "success" if value else "error"
    if isinstance(value, str) and value.lower() in _SUCCESS_WORDS:
        return _SUCCESS_WORDS[value.lower()]
    return core.check_text("status", value, choices=core.OUTCOME_STATUSES)


def _trajectory(value: Any, start: dt.datetime | None, status: str) -> dict[str, Any]:
    trajectory = dict(value) if isinstance(value, Mapping) else {"value": value}
    trajectory.setdefault("start_time", (start or _now()).isoformat())
    trajectory.setdefault("status", status)
    return trajectory


def _ms_between(start: dt.datetime | None, end: dt.datetime) -> float:
    if start is None:
        return 0.0
    return max(0.0, (end - start).total_seconds() * 1000.0)


@dataclass
class _Execution:
    simulation_id: uuid.UUID
    scenario_ids: list[str]
    started_at: dt.datetime | None
    modal_call_id: str | None = None
    outcomes: dict[str, tuple[uuid.UUID, dt.datetime]] = field(default_factory=dict)
    last_outcome: tuple[uuid.UUID, dt.datetime] | None = None


class _Compat:
    """Shared plumbing: one AsyncArcEval, opened on first use."""

    def __init__(
        self, connection_string: str | None = None, *, db: AsyncArcEval | None = None, **client_kwargs: Any
    ):
        client_kwargs.setdefault("flush_interval", None)
        self.db = db or AsyncArcEval(connection_string, **client_kwargs)

    async def initialize(self) -> None:
        """Open the connection pool (optional: the first call opens it)."""
        await self.db.open()

    async def close(self) -> None:
        """Flush and close. Durable when it returns."""
        await self.db.close()

    async def __aenter__(self):
        await self.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _resolve_version(self, ref: Any, field: str = "config_version_id") -> uuid.UUID:
        """A config version id, a config id (-> its latest version) or an active configuration name."""
        text = str(ref) if ref is not None else ""
        try:
            candidate: uuid.UUID | None = ref if isinstance(ref, uuid.UUID) else uuid.UUID(text)
        except ValueError:
            candidate = None
        sql = self.db.sql

        def flow():
            if candidate is not None:
                row = yield core.FetchOne(
                    f"SELECT version_id FROM {sql.t('config_versions')} WHERE version_id = %s", [candidate]
                )
                if row is not None:
                    return row["version_id"]
                row = yield core.FetchOne(
                    f"SELECT latest_version_id FROM {sql.t('configurations')} WHERE config_id = %s",
                    [candidate],
                )
            else:
                row = yield core.FetchOne(
                    f"SELECT latest_version_id FROM {sql.t('configurations')} WHERE name = %s AND is_active "
                    "ORDER BY created_at LIMIT 1",
                    [text],
                )
            if row is None or row["latest_version_id"] is None:
                raise NotFoundError(
                    f"{field}: no configuration version found for {text!r} (a version id, config id or name)"
                )
            return row["latest_version_id"]

        return await self.db.run(flow)


class ArcEvalDBClient(_Compat):
    """The seed's database client (sections 8A and 10D). An execution is a simulation.

    ``record_execution_start`` returns the simulation id as the execution id; later calls may name it as
    ``execution_id`` or ``simulation_id``.
    """

    def __init__(self, connection_string: str | None = None, **client_kwargs: Any) -> None:
        super().__init__(connection_string, **client_kwargs)
        self._executions: dict[uuid.UUID, _Execution] = {}

    async def _execution(self, execution_id: Any) -> _Execution:
        sid = core.check_uuid("execution_id", execution_id)
        found = self._executions.get(sid)
        if found is not None:
            return found
        row = await self.db.get_simulation(sid)
        if row is None:
            raise NotFoundError(f"execution_id: execution {sid} not found")
        found = _Execution(sid, list(row["scenario_set"]), row["started_at"])
        self._executions[sid] = found
        return found

    async def record_execution_start(self, execution_data: dict) -> str:
        """Start a simulation and return its id. Durable on return.

        Keys: ``config_version_id`` or ``config_id`` (a version id, a config id or an active name);
        ``scenario_set`` (list) or ``scenario_id``; optional ``started_at``, ``modal_app_id``,
        ``modal_environment``, ``modal_call_id``, ``simulation_name``, ``metadata``, ``simulation_id``.
        A single-scenario execution also marks its scenario running.
        """
        data = dict(execution_data)
        ref = data.get("config_version_id") or data.get("config_id") or data.get("config_name")
        if ref is None:
            raise ValidationError("config_version_id", "is required (or config_id / config_name)")
        scenarios = data.get("scenario_set") or ([data["scenario_id"]] if data.get("scenario_id") else None)
        if not scenarios:
            raise ValidationError("scenario_set", "is required (or scenario_id)")
        field = next(k for k in ("config_version_id", "config_id", "config_name") if data.get(k))
        version = await self._resolve_version(ref, field)
        started = core.check_time("started_at", data["started_at"]) if data.get("started_at") else _now()
        sim = await self.db.start_simulation(
            version,
            list(scenarios),
            data.get("simulation_name"),
            simulation_id=data.get("simulation_id"),
            started_at=started,
            modal_app_id=data.get("modal_app_id"),
            modal_environment=data.get("modal_environment"),
            metadata=data.get("metadata"),
            sandbox_metadata=data.get("sandbox_metadata"),
        )
        execution = _Execution(sim, list(scenarios), started, data.get("modal_call_id"))
        self._executions[sim] = execution
        if len(scenarios) == 1:
            await self.db.set_scenario_status(
                sim, scenarios[0], "running", at=started, modal_call_id=execution.modal_call_id
            )
        return str(sim)

    async def _scenario_done(
        self, execution: _Execution, scenario_id: str, ok: bool, at: dt.datetime
    ) -> None:
        """Move the scenario to completed/failed; when every scenario is final, finish the simulation
        (``failed`` if a scenario failed, else ``completed``)."""
        sim = execution.simulation_id
        try:
            row = await self.db.run(self._scenario_status_flow(sim, scenario_id))
            if row == "pending":
                await self.db.set_scenario_status(sim, scenario_id, "running", at=execution.started_at or at)
                row = "running"
            if row == "running":
                await self.db.set_scenario_status(sim, scenario_id, "completed" if ok else "failed", at=at)
        except (NotFoundError, core.IllegalTransitionError) as exc:
            log.info("scenario status not changed: %s", exc)
            return
        open_left, failed = await self.db.run(self._open_scenarios_flow(sim))
        if open_left == 0:
            simulation = await self.db.get_simulation(sim)
            if simulation and simulation["status"] in ("pending", "running"):
                final = "failed" if failed else "completed"
                await self.db.finish_simulation(
                    sim, final, completed_at=max(at, simulation["started_at"] or at)
                )

    def _scenario_status_flow(self, sim: uuid.UUID, scenario_id: str):
        table = self.db.sql.t("simulations_scenarios")

        def flow():
            row = yield core.FetchOne(
                f"SELECT status FROM {table} WHERE simulation_id = %s AND scenario_id = %s",
                [sim, scenario_id],
            )
            if row is None:
                raise NotFoundError(f"scenario {scenario_id!r} is not part of simulation {sim}")
            return row["status"]

        return flow

    def _open_scenarios_flow(self, sim: uuid.UUID):
        table = self.db.sql.t("simulations_scenarios")

        def flow():
            row = yield core.FetchOne(
                f"SELECT count(*) FILTER (WHERE status IN ('pending', 'running')) AS open, "
                f"count(*) FILTER (WHERE status = 'failed') AS failed FROM {table} WHERE simulation_id = %s",
                [sim],
            )
            return row["open"], row["failed"]

        return flow

    async def record_execution_outcome(self, outcome_data: dict) -> str:
        """Record one scenario outcome of an execution; returns the outcome id. Durable on return.

        Keys: ``execution_id`` (or ``simulation_id``), ``status``, ``reliability_score``, ``trajectory``,
        ``cost_usd``, ``execution_time_ms``, ``tokens_used``; optional ``scenario_id`` (default: the
        execution's only scenario), ``execution_time``, ``modal_call_id``, ``sandbox_id``, ``metadata``
        (stored as ``execution_metadata``) and any other outcomes column.
        """
        data = dict(outcome_data)
        execution = await self._execution(data.pop("execution_id", None) or data.pop("simulation_id", None))
        scenario_id = data.pop("scenario_id", None)
        if scenario_id is None:
            if len(execution.scenario_ids) != 1:
                raise ValidationError("scenario_id", "is required for an execution with several scenarios")
            scenario_id = execution.scenario_ids[0]
        status = _outcome_status(data.pop("status", None))
        when = (
            core.check_time("execution_time", data.pop("execution_time"))
            if data.get("execution_time")
            else _now()
        )
        metadata = data.pop("metadata", None)
        if metadata is not None:
            data.setdefault("execution_metadata", metadata)
        data.pop("created_at", None)
        extra = {k: v for k, v in data.items() if k in _OUTCOME_COLUMNS}
        unknown = sorted(set(data) - _OUTCOME_COLUMNS)
        if unknown:
            extra.setdefault("execution_metadata", {})
            extra["execution_metadata"] = {
                **dict(extra["execution_metadata"]),
                **{k: data[k] for k in unknown},
            }
        extra.setdefault("modal_call_id", execution.modal_call_id)
        outcome_id = await self.db.record_outcome(
            simulation_id=execution.simulation_id,
            scenario_id=scenario_id,
            status=status,
            reliability_score=extra.pop("reliability_score", 1.0 if status == "success" else 0.0),
            execution_time_ms=extra.pop("execution_time_ms", _ms_between(execution.started_at, when)),
            tokens_used=extra.pop("tokens_used", 0),
            cost_usd=extra.pop("cost_usd", 0.0),
            trajectory=_trajectory(extra.pop("trajectory", {}), execution.started_at, status),
            execution_time=when,
            **{
                k: v
                for k, v in extra.items()
                if k not in ("simulation_id", "scenario_id", "status", "execution_time")
            },
        )
        await self.db.flush()
        execution.outcomes[scenario_id] = execution.last_outcome = (outcome_id, when)
        await self._scenario_done(execution, scenario_id, status == "success", when)
        return str(outcome_id)

    async def _outcome_for(self, data: dict) -> tuple[uuid.UUID, dt.datetime]:
        if data.get("outcome_id") is not None and data.get("execution_time") is not None:
            return core.check_uuid("outcome_id", data["outcome_id"]), core.check_time(
                "execution_time", data["execution_time"]
            )
        if data.get("outcome_id") is not None:
            oid = core.check_uuid("outcome_id", data["outcome_id"])
            table = self.db.sql.t("outcomes")

            def flow():
                row = yield core.FetchOne(
                    f"SELECT execution_time FROM {table} WHERE outcome_id = %s LIMIT 1", [oid]
                )
                if row is None:
                    raise NotFoundError(f"outcome {oid} not found")
                return row["execution_time"]

            return oid, await self.db.run(flow)
        execution = await self._execution(data.get("execution_id") or data.get("simulation_id"))
        scenario = data.get("scenario_id")
        found = execution.outcomes.get(scenario) if scenario else execution.last_outcome
        if found is None:
            raise NotFoundError(f"execution {execution.simulation_id} has no outcome yet")
        return found

    async def record_tool_usage(self, tool_events: list[dict]) -> None:
        """Record tool-usage rows (one per dict). Durable on return.

        Each dict names its outcome (``outcome_id``, or ``execution_id`` for that execution's latest
        outcome) and has ``tool_name``; ``call_count`` defaults to 1, ``avg_duration_ms`` to
        ``duration_ms``, ``success_rate`` to 1.0/0.0 from ``success``.
        """
        for event in tool_events:
            data = dict(event)
            outcome_id, when = await self._outcome_for(data)
            row = {k: v for k, v in data.items() if k in _TOOL_COLUMNS}
            row.update(outcome_id=outcome_id, execution_time=when)
            row.setdefault("call_count", 1)
            if "avg_duration_ms" not in row:
                row["avg_duration_ms"] = data.get("duration_ms", 0.0)
            if "success_rate" not in row:
                row["success_rate"] = 1.0 if data.get("success", True) else 0.0
            await self.db.record_tool_usage(**row)
        await self.db.flush()

    async def record_failure_pattern(self, failure_data: dict) -> None:
        """Record a structured failure. Durable on return.

        Keys: ``execution_id`` (or ``outcome_id``), ``error_type`` (stored as ``failure_type``),
        ``error_message``, ``failure_category``. When the execution has no outcome yet (the sandbox
        raised before producing one), an ``error`` outcome is recorded first, so the failure has one.
        """
        data = dict(failure_data)
        try:
            outcome_id, when = await self._outcome_for(data)
        except NotFoundError:
            if data.get("execution_id") is None and data.get("simulation_id") is None:
                raise
            execution = await self._execution(data.get("execution_id") or data.get("simulation_id"))
            category = data.get("failure_category")
            await self.record_execution_outcome(
                {
                    "execution_id": execution.simulation_id,
                    "scenario_id": data.get("scenario_id")
                    or (execution.scenario_ids[0] if len(execution.scenario_ids) == 1 else None),
                    "status": "timeout" if category == "timeout" else "error",
                    "reliability_score": 0.0,
                    "trajectory": {"error": data.get("error_message")},
                    "error_code": data.get("error_type"),
                    "error_category": category if category in core.ERROR_CATEGORIES else None,
                }
            )
            outcome_id, when = execution.last_outcome  # type: ignore[misc]
        await self.db.record_failure(
            outcome_id=outcome_id,
            execution_time=when,
            failure_type=data.get("error_type") or data.get("failure_type"),
            failure_category=data.get("failure_category") or "unknown",
            error_message=data.get("error_message"),
            **{
                k: data[k]
                for k in ("recovery_attempted", "recovery_successful", "resolution_steps", "llm_analysis")
                if k in data
            },
        )
        await self.db.flush()

    async def get_active_configurations(self) -> list[dict]:
        """Active configurations with their latest version (ids as strings, as in the seed)."""
        rows = await self.db.get_active_configurations()
        return [{**r, "config_id": str(r["config_id"]), "version_id": str(r["version_id"])} for r in rows]


class ConfigurationManager(_Compat):
    """The seed's configuration manager (section 8C)."""

    def __init__(
        self,
        connection_string: str | None = None,
        *,
        config_name: str | None = None,
        user_id: uuid.UUID | str | None = None,
        **client_kwargs: Any,
    ) -> None:
        super().__init__(connection_string, **client_kwargs)
        self.config_name = config_name
        self.owner = user_id or os.environ.get("ARC_EVAL_USER_ID")

    async def get_active_config(self, config_name: str) -> dict:
        """``{"config", "version_id", "modal_deployment_id", ...}`` of the active configuration's latest version."""
        row = await self.db.get_active_config(config_name)
        return {**row, "version_id": str(row["version_id"]), "config_id": str(row["config_id"])}

    async def create_config_version(
        self, config_data: dict, config_name: str | None = None, *, generated_by: str = "api"
    ) -> str:
        """Store ``config_data`` as a version of ``config_name`` (or the manager's); returns the version id.

        Identical content returns the existing version's id (dedupe per configuration). The seed's
        ``generated_by='modal_sandbox'`` is not allowed by the table: ``'api'`` is stored. A missing
        configuration is created when the manager knows a ``user_id`` (argument or ``ARC_EVAL_USER_ID``).
        Durable on return.
        """
        name = config_name or self.config_name
        if not name:
            raise ValidationError(
                "config_name", "is required (argument or ConfigurationManager(config_name=...))"
            )
        if generated_by not in core.GENERATED_BY:
            generated_by = "api"
        try:
            version = await self.db.create_config_version(name, config_data, generated_by)
        except NotFoundError:
            if not self.owner:
                raise
            await self.db.create_configuration(name, self.owner)
            version = await self.db.create_config_version(name, config_data, generated_by)
        return str(version.version_id)


class BatchExecutionRecorder(_Compat):
    """The seed's batch recorder (section 9A): buffered outcomes, tool usage and failures.

    Durable after ``flush_outcomes()`` / ``flush()`` / ``close()``, when a buffer reaches ``batch_size``,
    or ``flush_interval`` seconds after a row was buffered.
    """

    def __init__(
        self,
        batch_size: int = 100,
        flush_interval: int = 30,
        *,
        connection_string: str | None = None,
        **client_kwargs: Any,
    ) -> None:
        client_kwargs.setdefault("write_behind", False)  # the seed's recorder writes a full batch in the call
        super().__init__(
            connection_string, batch_size=batch_size, flush_interval=flush_interval, **client_kwargs
        )
        self.batch_size = batch_size
        self.flush_interval = flush_interval

    @property
    def outcome_buffer_size(self) -> int:
        return self.db.pending()

    async def record_outcome(self, outcome: dict) -> str:
        """Validate and buffer an outcome dict (the outcomes columns; ``created_at`` is set by the database)."""
        await self.db.open()
        data = {k: v for k, v in outcome.items() if k != "created_at"}
        if "metadata" in data:
            data.setdefault("execution_metadata", data.pop("metadata"))
        return str(await self.db.record_outcome(**data))

    async def record_tool_usage(self, usage: dict) -> str:
        await self.db.open()
        return str(await self.db.record_tool_usage(**usage))

    async def record_failure(self, failure: dict) -> str:
        await self.db.open()
        return str(await self.db.record_failure(**failure))

    async def flush_outcomes(self) -> None:
        """Write everything buffered (outcomes first). Durable on return."""
        await self.db.flush()

    async def flush(self) -> None:
        await self.db.flush()


EVENT_TYPES = (
    "execution_started",
    "scenario_completed",
    "execution_completed",
    "execution_failed",
    "tool_called",
)


@dataclass
class _PendingExecution:
    simulation_id: uuid.UUID
    started_at: dt.datetime
    modal_app_id: str | None
    version_ref: Any
    scenario_ids: list[str] | None
    created: bool = False
    tools: dict[str, list[dict]] = field(default_factory=dict)


class ExecutionEventHandler(_Compat):
    """The seed's event handler (section 8B), plus ``execution_failed`` and ``tool_called``.

    ``handle(event_type, event)`` dispatches; an unknown type raises ValueError. The configuration a
    simulation runs comes from the event (``config_version_id`` / ``config_id`` / ``config_name``), else
    ``config=`` here, else ``ARC_EVAL_CONFIG``, else the only active configuration. When
    ``execution_started`` names no scenarios, the simulation is created at the first
    ``scenario_completed`` with that scenario. ``tool_called`` events are aggregated per tool and written
    as tool-usage rows of the scenario's outcome. Every handler is durable when it returns.
    """

    def __init__(
        self,
        db: AsyncArcEval | None = None,
        *,
        connection_string: str | None = None,
        config: str | None = None,
        **client_kwargs: Any,
    ) -> None:
        super().__init__(connection_string, db=db, **client_kwargs)
        self.client = ArcEvalDBClient(db=self.db)
        self.config = config
        self._runs: dict[uuid.UUID, _PendingExecution] = {}

    async def handle(self, event_type: str, event: dict) -> Any:
        """Dispatch an event by type."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}; expected one of {', '.join(EVENT_TYPES)}")
        return await getattr(self, f"handle_{event_type}")(event)

    async def handle_event(self, event: dict) -> Any:
        """Dispatch an event carrying its type in ``type`` or ``event_type``."""
        kind = event.get("type") or event.get("event_type")
        if not kind:
            raise ValueError("event has no 'type' (or 'event_type')")
        return await self.handle(kind, {k: v for k, v in event.items() if k not in ("type", "event_type")})

    async def _default_config(self) -> Any:
        if self.config or os.environ.get("ARC_EVAL_CONFIG"):
            return self.config or os.environ["ARC_EVAL_CONFIG"]
        active = await self.db.get_active_configurations()
        if len(active) == 1:
            return active[0]["version_id"]
        raise ValidationError(
            "config_version_id",
            "is required: name it in the event, ExecutionEventHandler(config=...) or ARC_EVAL_CONFIG",
        )

    def _run(self, event: dict) -> _PendingExecution:
        sid = core.check_uuid("simulation_id", event.get("simulation_id"))
        run = self._runs.get(sid)
        if run is None:
            run = _PendingExecution(sid, _now(), None, None, None, created=True)
            self._runs[sid] = run
        return run

    async def _ensure_simulation(self, run: _PendingExecution, scenario_id: str | None) -> None:
        if run.created:
            return
        scenarios = run.scenario_ids or ([scenario_id] if scenario_id else None)
        if not scenarios:
            raise ValidationError(
                "scenario_id", "is needed to create the simulation (no scenario_set was given)"
            )
        ref = run.version_ref or await self._default_config()
        await self.client.record_execution_start(
            {
                "simulation_id": run.simulation_id,
                "config_version_id": ref,
                "scenario_set": scenarios,
                "started_at": run.started_at,
                "modal_app_id": run.modal_app_id,
            }
        )
        run.scenario_ids = list(scenarios)
        run.created = True

    async def handle_execution_started(self, event: dict) -> str:
        """``{"simulation_id", "modal_app_id", "timestamp"}`` (+ optional config and ``scenario_set``)."""
        sid = core.check_uuid("simulation_id", event.get("simulation_id") or uuid7())
        started = core.check_time("timestamp", event["timestamp"]) if event.get("timestamp") else _now()
        scenarios = event.get("scenario_set") or event.get("scenario_ids")
        run = _PendingExecution(
            sid,
            started,
            event.get("modal_app_id"),
            event.get("config_version_id") or event.get("config_id") or event.get("config_name"),
            list(scenarios) if scenarios else None,
        )
        self._runs[sid] = run
        if run.scenario_ids:
            await self._ensure_simulation(run, None)
        return str(sid)

    async def handle_tool_called(self, event: dict) -> None:
        """``{"simulation_id", "scenario_id", "tool_name", "duration_ms", "success", "cost_usd"?}``: kept in
        memory and written with the scenario's outcome (or at once when ``outcome_id`` names a stored outcome)."""
        core.check_text("tool_name", event.get("tool_name"), min_len=1, max_len=100)
        if event.get("outcome_id") is not None:
            await self.client.record_tool_usage([event])
            return
        run = self._run(event)
        run.tools.setdefault(event.get("scenario_id") or "", []).append(dict(event))

    def _tool_rows(self, run: _PendingExecution, scenario_id: str) -> list[dict]:
        events = run.tools.pop(scenario_id, []) + run.tools.pop("", [])
        rows: dict[str, dict] = {}
        for e in events:
            agg = rows.setdefault(
                e["tool_name"],
                {"tool_name": e["tool_name"], "n": 0, "ms": 0.0, "ok": 0, "cost": 0.0, "errors": []},
            )
            agg["n"] += 1
            agg["ms"] += float(e.get("duration_ms", 0.0))
            agg["ok"] += 1 if e.get("success", True) else 0
            agg["cost"] += float(e.get("cost_usd", 0.0))
            if e.get("error_type"):
                agg["errors"].append(str(e["error_type"]))
        return [
            {
                "tool_name": a["tool_name"],
                "call_count": a["n"],
                "avg_duration_ms": a["ms"] / a["n"],
                "success_rate": a["ok"] / a["n"],
                "total_cost_usd": a["cost"],
                "error_types": sorted(set(a["errors"])) or None,
                "tool_sequence": [e["tool_name"] for e in events],
            }
            for a in rows.values()
        ]

    async def handle_scenario_completed(self, event: dict) -> str:
        """``{"outcome_id", "simulation_id", "scenario_id", "timestamp", "status", "trajectory", "modal_call_id",
        "logs"?}`` plus optional scores and costs. Records the outcome and its aggregated tool calls."""
        run = self._run(event)
        scenario_id = event.get("scenario_id")
        await self._ensure_simulation(run, scenario_id)
        when = core.check_time("timestamp", event["timestamp"]) if event.get("timestamp") else _now()
        data = {
            "execution_id": run.simulation_id,
            "scenario_id": scenario_id,
            "execution_time": when,
            "status": event.get("status"),
            "trajectory": event.get("trajectory") or {},
            "modal_call_id": event.get("modal_call_id"),
            "sandbox_logs": event.get("logs", event.get("sandbox_logs")) or None,
        }
        if event.get("outcome_id") is not None:
            data["outcome_id"] = event["outcome_id"]
        for key in (
            "reliability_score",
            "execution_time_ms",
            "tokens_used",
            "cost_usd",
            "metrics",
            "sandbox_id",
            "retry_count",
            "error_code",
            "error_category",
            "execution_metadata",
            "metadata",
        ):
            if event.get(key) is not None:
                data[key] = event[key]
        if "execution_time_ms" not in data:
            data["execution_time_ms"] = _ms_between(run.started_at, when)
        outcome_id = await self.client.record_execution_outcome(data)
        tools = self._tool_rows(run, scenario_id)
        if tools:
            await self.client.record_tool_usage(
                [{**t, "outcome_id": outcome_id, "execution_time": when} for t in tools]
            )
        return outcome_id

    async def handle_execution_completed(self, event: dict) -> dict:
        """``{"simulation_id", "status"?, "timestamp", "overall_score"}``: finishes the simulation."""
        run = self._run(event)
        if not run.created:
            raise ValidationError("simulation_id", "has no recorded scenario: nothing to complete")
        when = core.check_time("timestamp", event["timestamp"]) if event.get("timestamp") else _now()
        sim = await self.db.get_simulation(run.simulation_id)
        if sim is not None and sim["status"] not in ("pending", "running"):
            return sim  # a single-scenario execution is finished when its outcome arrives
        return await self.db.finish_simulation(
            run.simulation_id,
            event.get("status", "completed"),
            overall_score=event.get("overall_score"),
            completed_at=when,
        )

    async def handle_execution_failed(self, event: dict) -> dict | None:
        """``{"simulation_id", "scenario_id"?, "timestamp", "error_type", "error_message", "failure_category"}``:
        records the failure (with an error outcome) and marks the simulation failed."""
        run = self._run(event)
        scenario_id = event.get("scenario_id")
        if not run.created and scenario_id:
            await self._ensure_simulation(run, scenario_id)
        if run.created:
            if scenario_id or (run.scenario_ids and len(run.scenario_ids) == 1):
                await self.client.record_failure_pattern(
                    {
                        "execution_id": run.simulation_id,
                        "scenario_id": scenario_id,
                        "error_type": event.get("error_type") or "ExecutionFailed",
                        "error_message": event.get("error_message"),
                        "failure_category": event.get("failure_category") or "unknown",
                    }
                )
            sim = await self.db.get_simulation(run.simulation_id)
            if sim is not None and sim["status"] in ("pending", "running"):
                return await self.db.finish_simulation(run.simulation_id, "failed")
            return sim
        return None


class DatabaseHealthChecker(_Compat):
    """The seed's health checks (section 9C), safe to run against production tables."""

    async def _require(self, table: str) -> None:
        qualified = self.db.sql.t(table)

        def flow():
            row = yield core.FetchOne("SELECT to_regclass(%s) IS NOT NULL AS present", [qualified])
            return row["present"]

        if not await self.db.run(flow):
            raise NotFoundError(
                f"table {qualified} does not exist in this database: run `arc-eval init` first"
            )

    async def check_write_performance(self, rows: int = 100) -> dict:
        """Time a COPY of ``rows`` outcome rows into a TEMP copy of ``outcomes`` (same columns and
        defaults, no foreign keys), then roll back: nothing is written to real tables.

        ``status`` is ``healthy`` above 50 rows/s (the seed's bar), else ``degraded``.
        """
        now = _now()
        encoded = [
            core.encode_row(
                core.OUTCOMES,
                {
                    "simulation_id": uuid.uuid4(),
                    "scenario_id": "test_scenario",
                    "execution_time": now,
                    "status": "success",
                    "reliability_score": 0.9,
                    "execution_time_ms": 1000,
                    "tokens_used": 100,
                    "cost_usd": 0.01,
                    "trajectory": {"test": True, "start_time": now.isoformat(), "status": "success"},
                },
            )
            for _ in range(rows)
        ]
        sql = self.db.sql
        columns = ", ".join(core.OUTCOMES.column_names)

        class _Rollback(Exception):
            pass

        timing: dict[str, float] = {}

        def flow():
            yield core.Execute(
                f"CREATE TEMP TABLE arc_eval_health_outcomes (LIKE {sql.t('outcomes')} INCLUDING DEFAULTS) "
                "ON COMMIT DROP"
            )
            start = time.perf_counter()
            yield core.CopyIn(f"COPY arc_eval_health_outcomes ({columns}) FROM STDIN", encoded)
            timing["seconds"] = time.perf_counter() - start
            written = yield core.FetchOne("SELECT count(*) AS n FROM arc_eval_health_outcomes")
            timing["rows"] = written["n"]
            raise _Rollback

        await self._require("outcomes")
        with contextlib.suppress(_Rollback):
            await self.db.run(flow)
        seconds = max(timing.get("seconds", 0.0), 1e-9)
        throughput = timing.get("rows", 0) / seconds
        return {
            "status": "healthy" if throughput > 50 else "degraded",
            "throughput_per_second": throughput,
            "batch_write_time_ms": seconds * 1000,
            "rows": int(timing.get("rows", 0)),
            "method": "COPY into a temporary copy of outcomes, rolled back",
        }

    async def capabilities(self) -> Capabilities:
        """The server's capability probe (:mod:`arc_eval.capabilities`)."""

        def flow():
            return (yield core.FetchOne(PROBE_SQL))

        return Capabilities(**(await self.db.run(flow)))

    async def check_hypertable_health(self, table: str = "outcomes") -> dict:
        """Chunks, sizes and compression of a raw table, from TimescaleDB's catalog functions.

        Uses ``timescaledb_information.hypertables``/``chunks``, ``hypertable_detailed_size()`` and, where
        the license has compression, ``hypertable_compression_stats()``. On a server without TimescaleDB
        (or without compression) the matching keys are None and ``unavailable`` says why.
        """
        if table not in ("outcomes", "failure_patterns", "tool_usage"):
            raise ValidationError("table", "must be one of outcomes, failure_patterns, tool_usage")
        await self._require(table)
        caps = await self.capabilities()
        sql = self.db.sql
        qualified = sql.t(table)
        unavailable: dict[str, str] = {}

        def flow():
            size = yield core.FetchOne(
                "SELECT pg_total_relation_size(%s::regclass) AS total_bytes", [qualified]
            )
            result: dict[str, Any] = {"table": f"{sql.schema}.{table}", "total_bytes": size["total_bytes"]}
            if not caps.has_hypertables:
                return result
            ht = yield core.FetchOne(
                "SELECT num_chunks, compression_enabled FROM timescaledb_information.hypertables "
                "WHERE hypertable_schema = %s AND hypertable_name = %s",
                [sql.schema, table],
            )
            if ht is None:
                result["is_hypertable"] = False
                return result
            result["is_hypertable"] = True
            chunks = yield core.FetchOne(
                "SELECT count(*) AS n, min(range_start) AS oldest, max(range_end) AS newest "
                "FROM timescaledb_information.chunks WHERE hypertable_schema = %s AND hypertable_name = %s",
                [sql.schema, table],
            )
            result.update(
                chunk_count=chunks["n"],
                oldest_chunk_start=chunks["oldest"],
                newest_chunk_end=chunks["newest"],
            )
            detail = yield core.FetchOne(
                "SELECT table_bytes, index_bytes, toast_bytes, total_bytes FROM hypertable_detailed_size(%s::regclass)",
                [qualified],
            )
            if detail is not None:
                result.update(
                    {k: detail[k] for k in ("table_bytes", "index_bytes", "toast_bytes", "total_bytes")}
                )
            result["compression_enabled"] = bool(ht["compression_enabled"])
            if caps.has_compression and ht["compression_enabled"]:
                stats = yield core.FetchOne(
                    "SELECT total_chunks, number_compressed_chunks, before_compression_total_bytes AS before, "
                    "after_compression_total_bytes AS after FROM hypertable_compression_stats(%s::regclass)",
                    [qualified],
                )
                if stats is not None:
                    result["compressed_chunks"] = stats["number_compressed_chunks"]
                    before, after = stats["before"], stats["after"]
                    result["compression_ratio"] = (before / after) if before and after else None
            return result

        result = await self.db.run(flow)
        if not caps.has_hypertables:
            unavailable["hypertables"] = caps.timescaledb_reason() or "TimescaleDB is not available"
        elif not result.get("is_hypertable"):
            unavailable["hypertables"] = f"{table} is not a hypertable in this database"
        if not caps.has_compression:
            unavailable["compression"] = caps.license_reason() or "compression is not available"
        elif result.get("is_hypertable") and not result.get("compression_enabled"):
            unavailable["compression"] = f"compression is not enabled on {table}"
        elif result.get("compressed_chunks") == 0:
            unavailable["compression_ratio"] = "no chunk is compressed yet"
        ratio = result.get("compression_ratio")
        result.setdefault("chunk_count", None)
        result.setdefault("compression_ratio", None)
        result["hypertable_status"] = "healthy" if result.get("is_hypertable") else "unavailable"
        result["storage_efficiency"] = (
            "unknown" if ratio is None else "good" if ratio > 2 else "needs_attention"
        )
        result["unavailable"] = unavailable
        return result

    async def check_all(self) -> dict:
        """Write performance and the health of every hypertable candidate."""
        return {
            "write_performance": await self.check_write_performance(),
            "hypertables": {
                t: await self.check_hypertable_health(t)
                for t in ("outcomes", "failure_patterns", "tool_usage")
            },
        }


__all__ = [
    "ArcEvalDBClient",
    "BatchExecutionRecorder",
    "ConfigurationManager",
    "DatabaseHealthChecker",
    "ExecutionEventHandler",
]
