"""One recommendation run: read the models, render the prompt, ask the provider, validate, write.

Guarantees of :func:`recommend`:

- inputs come from the dbt models only (:mod:`.inputs`); no transaction is open while the provider
  is called;
- the session row and all its recommendations are written in ONE transaction: either all of them
  exist afterwards or none does;
- a provider error or malformed output still records the session, as ``failed`` with its
  ``error_message`` and no recommendations; invalid items are dropped and counted
  (``recommendations_dropped``, ``dropped_reasons``);
- with ``scope`` = all active configurations, the oldest ``requested`` session for the same window
  length (made by ``trigger_llm_recommendation_analysis``) is completed instead of adding a new row;
- a recommendation whose patch equals (as parsed YAML) the patch of one already pending, approved or
  applied for the same configuration is not written again: the session lists it in ``dropped_reasons``
  with ``duplicate_of``; the check and the insert run under a per-configuration advisory lock, so two
  runs at once write it once;
- ``dry_run=True`` writes nothing and calls only an offline provider: a paid one is never called and
  needs no key (the prompt is still rendered).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from .. import dbt
from ..connection import reader_kwargs
from . import inputs as inputs_mod
from .loader_api import config_validator
from .patch import PatchError, parse_patch
from .prompt import Prompt, render
from .providers import Provider, ProviderError, ProviderResult, get_provider
from .validate import (
    Candidate,
    ConfigTarget,
    MalformedOutput,
    ValidationContext,
    parse_response,
    validate_items,
)

log = logging.getLogger(__name__)

SYSTEM_USER_ID = uuid.UUID(int=0)
USER_ENV = "ARC_EVAL_USER_ID"
DEFAULT_WINDOW = dt.timedelta(days=7)


def default_user_id() -> uuid.UUID:
    """``ARC_EVAL_USER_ID`` if set, else the system user (the nil UUID, as the SQL trigger uses)."""
    value = os.environ.get(USER_ENV)
    return uuid.UUID(value) if value else SYSTEM_USER_ID


@dataclass
class RunResult:
    """What a run did (or, on a dry run, would do)."""

    status: str
    prompt: Prompt
    provider: str
    model: str
    temperature: float
    user_id: uuid.UUID
    window_start: str
    window_end: str
    analysis_start: dt.datetime
    analysis_end: dt.datetime
    outcomes_analyzed: int
    patterns_identified: int
    candidates: list[Candidate] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    error_message: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float = 0.0
    config_id: str | None = None
    session_id: uuid.UUID | None = None
    recommendation_ids: list[uuid.UUID] = field(default_factory=list)
    fulfilled_request: bool = False
    dry_run: bool = False
    provider_called: bool = False
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def recommendations_generated(self) -> int:
        """Recommendations written (or, on a dry run, that would be)."""
        return len(self.candidates) if self.status == "completed" else 0


def validation_context(
    inputs: Mapping[str, Any], validator: Callable[[Mapping[str, Any]], None] | None = None
) -> ValidationContext:
    """The checks for items answering ``inputs``: configurations in scope and the rows shown."""
    configs = {
        str(c["config_id"]): ConfigTarget(
            str(c["config_id"]), c["name"], str(c["version_id"]), int(c["version_number"]), c["config"] or {}
        )
        for c in inputs.get("configurations", [])
    }
    return ValidationContext(configs, inputs_mod.known_sources(inputs), validator or config_validator())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def run(target: Any, **options: Any) -> RunResult:
    """:func:`recommend` on a new connection to ``target`` (a :class:`arc_eval.connection.Target` or conninfo)."""
    conninfo = target.conninfo if hasattr(target, "conninfo") else str(target)
    with psycopg.connect(conninfo, **reader_kwargs()) as conn:
        return recommend(conn, **options)


def recommend(
    conn: psycopg.Connection,
    *,
    window: dt.timedelta = DEFAULT_WINDOW,
    config_name: str | None = None,
    provider: Provider | str = "rules",
    user_id: uuid.UUID | None = None,
    dry_run: bool = False,
    template_version: str | None = None,
) -> RunResult:
    """Run one analysis on ``conn`` (a connection not inside a transaction); see the module docstring."""
    user = user_id or default_user_id()
    chosen = get_provider(provider, require_key=not dry_run) if isinstance(provider, str) else provider
    started = _now()
    try:
        data = inputs_mod.read_inputs(conn, window=window, config_name=config_name)
    finally:
        conn.rollback()
    prompt = render(data, template_version)
    scope = data["configurations"][0]["config_id"] if config_name is not None else None
    result = RunResult(
        status="completed",
        prompt=prompt,
        provider=chosen.name,
        model=chosen.model,
        temperature=float(chosen.temperature),
        user_id=user,
        window_start=data["window"]["start"],
        window_end=data["window"]["end"],
        analysis_start=started,
        analysis_end=started,
        outcomes_analyzed=inputs_mod.outcomes_analyzed(data),
        patterns_identified=inputs_mod.patterns_identified(data),
        config_id=scope,
        dry_run=dry_run,
        inputs=data,
    )
    if not data["configurations"]:
        log.warning("no active configuration with a version: nothing to analyse")
    elif dry_run and not getattr(chosen, "offline", False):
        log.info("dry run: the %s provider is not called", chosen.name)
    else:
        _ask(chosen, prompt, data, result)
    result.analysis_end = max(_now(), started)
    if dry_run:
        try:
            drop_duplicates(conn, result)
        finally:
            conn.rollback()
    else:
        write_session(conn, result, window)
    return result


def drop_duplicates(conn: psycopg.Connection, result: RunResult) -> None:
    """Move the candidates whose patch equals that of a pending, approved or applied recommendation of
    the same configuration from ``result.candidates`` to ``result.duplicates``."""
    configs = sorted({c.config_id for c in result.candidates})
    if not configs:
        return
    rows = conn.execute(
        sql.SQL(
            "select recommendation_id, config_id::text, suggested_yaml_changes,"
            " case when applied then 'applied' else review_status end"
            " from {} where config_id = any(%s::uuid[]) and (applied or review_status in ('pending', 'approved'))"
            " order by created_at, recommendation_id"
        ).format(sql.Identifier(dbt.raw_schema(), "recommendations")),
        (configs,),
    ).fetchall()
    existing: list[tuple[uuid.UUID, str, dict[str, Any], str]] = []
    for rec_id, config_id, text, state in rows:
        try:
            existing.append((rec_id, config_id, parse_patch(text or ""), state))
        except PatchError:
            continue
    kept = []
    for c in result.candidates:
        twin = next((e for e in existing if e[1] == c.config_id and e[2] == c.patch), None)
        if twin is None:
            kept.append(c)
            continue
        result.duplicates.append(
            {
                "reason": f"duplicate of {twin[3]} recommendation {twin[0]} (same patch for the same configuration)",
                "duplicate_of": str(twin[0]),
                "config_id": c.config_id,
                "recommendation_type": c.recommendation_type,
            }
        )
    result.candidates = kept


def _ask(provider: Provider, prompt: Prompt, data: dict[str, Any], result: RunResult) -> None:
    answer: ProviderResult | None = None
    result.provider_called = True
    try:
        answer = provider.complete(prompt, data)
        items = parse_response(answer.text)
    except (ProviderError, MalformedOutput) as exc:
        result.status = "failed"
        result.error_message = str(exc)
        log.error("recommendation session failed: %s", exc)
    else:
        result.candidates, result.dropped = validate_items(items, validation_context(data))
        for drop in result.dropped:
            log.warning("dropped recommendation #%d: %s", drop["index"], drop["reason"])
    if answer is not None:
        result.model = answer.model
        result.prompt_tokens = answer.prompt_tokens
        result.completion_tokens = answer.completion_tokens
        result.cost_usd = answer.cost_usd


def write_session(conn: psycopg.Connection, result: RunResult, window: dt.timedelta) -> None:
    """Write the session and its recommendations in one transaction; sets the ids on ``result``."""
    raw = dbt.raw_schema()
    table = sql.Identifier(raw, "llm_recommendation_sessions")
    with conn.transaction():
        conn.execute("select set_config('arc_eval.user_id', %s, true)", (str(result.user_id),))
        for config_id in sorted({c.config_id for c in result.candidates}):
            conn.execute(
                "select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"recommendations:{config_id}",)
            )
        drop_duplicates(conn, result)
        values: dict[str, Any] = {
            "user_id": result.user_id,
            "analysis_start_time": result.analysis_start,
            "analysis_end_time": result.analysis_end,
            "data_window_start": dt.datetime.fromisoformat(result.window_start),
            "data_window_end": dt.datetime.fromisoformat(result.window_end),
            "llm_model": result.model,
            "llm_temperature": result.temperature,
            "prompt_template_version": result.prompt.template_version,
            "total_outcomes_analyzed": result.outcomes_analyzed,
            "patterns_identified": result.patterns_identified,
            "recommendations_generated": result.recommendations_generated,
            "analysis_cost_usd": result.cost_usd,
            "session_status": result.status,
            "error_message": result.error_message,
            "config_id": result.config_id,
            "provider": result.provider,
            "prompt_sha256": result.prompt.sha256,
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "recommendations_dropped": len(result.dropped) + len(result.duplicates),
            "dropped_reasons": Jsonb(result.dropped + result.duplicates),
        }
        requested = None
        if result.config_id is None:
            requested = conn.execute(
                sql.SQL(
                    "select session_id, user_id from {} where session_status = 'requested' and config_id is null"
                    " and data_window_end - data_window_start = %s"
                    " order by created_at, session_id limit 1 for update skip locked"
                ).format(table),
                (window,),
            ).fetchone()
        if requested:
            session_id, requester = requested
            values["user_id"] = requester
            assignments = sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values
            )
            conn.execute(
                sql.SQL("update {} set {} where session_id = {}").format(
                    table, assignments, sql.Placeholder("sid")
                ),
                {**values, "sid": session_id},
            )
            result.fulfilled_request = True
        else:
            session_id = uuid.uuid4()
            values["session_id"] = session_id
            conn.execute(
                sql.SQL("insert into {} ({}) values ({})").format(
                    table,
                    sql.SQL(", ").join(map(sql.Identifier, values)),
                    sql.SQL(", ").join(map(sql.Placeholder, values)),
                ),
                values,
            )
        result.session_id = session_id
        if result.status != "completed" or not result.candidates:
            return
        rows = []
        for c in result.candidates:
            rec_id = uuid.uuid4()
            result.recommendation_ids.append(rec_id)
            rows.append(
                (
                    rec_id,
                    c.source_type,
                    c.source_id,
                    c.recommendation_type,
                    c.description,
                    c.suggested_yaml_changes,
                    Jsonb(c.impact_estimate),
                    c.confidence,
                    result.model,
                    result.prompt.sha256,
                    window,
                    session_id,
                    c.config_id,
                    c.base_version_id,
                )
            )
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL(
                    "insert into {} (recommendation_id, source_type, source_id, recommendation_type, description,"
                    " suggested_yaml_changes, impact_estimate, confidence, llm_model_used, llm_prompt_hash,"
                    " historical_data_window, session_id, config_id, base_version_id)"
                    " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                ).format(sql.Identifier(raw, "recommendations")),
                rows,
            )


def describe(result: RunResult) -> str:
    """A human-readable account of the run: the session and each recommendation with its patch."""
    verb = "would write" if result.dry_run else "wrote"
    lines = [
        f"session: {result.session_id or '(dry run)'}"
        + (" (fulfilled a requested session)" if result.fulfilled_request else ""),
        f"  status: {result.status}" + (f" ({result.error_message})" if result.error_message else ""),
        f"  provider: {result.provider}  model: {result.model}  temperature: {result.temperature:g}"
        + ("" if result.provider_called or not result.dry_run else "  (not called in a dry run)"),
        f"  template: {result.prompt.template_version}  prompt sha256: {result.prompt.sha256}",
        f"  data window: {result.window_start} .. {result.window_end}",
        f"  outcomes analysed: {result.outcomes_analyzed}  failure patterns: {result.patterns_identified}",
        f"  tokens: {result.prompt_tokens or 0} prompt + {result.completion_tokens or 0} completion"
        f"  cost: ${result.cost_usd:.6f}",
        f"  recommendations: {verb} {len(result.candidates) if result.status == 'completed' else 0},"
        f" dropped {len(result.dropped)}, duplicates not written {len(result.duplicates)}",
    ]
    for drop in result.dropped:
        lines.append(f"    dropped #{drop['index']}: {drop['reason']}")
    for twin in result.duplicates:
        lines.append(f"    not written: {twin['recommendation_type']}, {twin['reason']}")
    names = {str(c["config_id"]): c["name"] for c in result.inputs.get("configurations", [])}
    ids = result.recommendation_ids or [None] * len(result.candidates)
    for rec_id, c in zip(ids, result.candidates, strict=True):
        lines.append("")
        lines.append(
            f"[{str(rec_id)[:8] if rec_id else 'new'}] {c.recommendation_type} for {names.get(c.config_id, c.config_id)}"
            f" (confidence {c.confidence:.2f}; source {c.source_type} {c.source_id})"
        )
        lines.append(f"  {c.description}")
        lines.append(f"  impact: {json.dumps(c.impact_estimate, sort_keys=True)}")
        lines.append("  patch:")
        lines.extend(f"    {line}" for line in c.suggested_yaml_changes.rstrip().splitlines())
    return "\n".join(lines)
