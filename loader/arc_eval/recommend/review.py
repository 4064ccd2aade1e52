"""Review of recommendations: list, show, approve, reject, apply, feedback.

Review works on the recommender's own rows (raw ``recommendations``), because it changes them under
row locks. Every change runs in one transaction with ``arc_eval.user_id`` set, so the audit log
records the reviewer.

- ``approve``/``reject`` set ``review_status``, ``reviewed_by``, ``reviewed_at``; an applied
  recommendation can no longer be rejected.
- ``apply`` locks the recommendation ``FOR UPDATE``; if it is already applied it returns the version it
  made and creates nothing. Otherwise it applies the YAML patch to the configuration's *current*
  version, creates the next version through the loader (``generated_by='llm_recommendation'``, diff
  ``llm_generated``/``approved``/``approved_by``), and marks the recommendation applied (approving it
  if it was pending; a rejected one is refused). If the patched content equals an existing version of
  the configuration (a revert), the loader makes that version current again, with an approved diff from
  the version it replaces; no duplicate version is stored.
- ``feedback`` stores a score from 1 to 5.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import yaml
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .. import dbt
from . import loader_api
from .patch import PatchError, apply_patch, parse_patch, render_config, unified_diff

REVIEW_STATES = ("pending", "approved", "rejected", "applied")


class ReviewError(RuntimeError):
    """The recommendation does not exist, is ambiguous, or is in a state that forbids the action."""


@dataclass(frozen=True)
class ApplyResult:
    recommendation_id: uuid.UUID
    version_id: uuid.UUID
    version_number: int
    created: bool
    already_applied: bool


def _t(name: str) -> sql.Composed:
    return sql.Identifier(dbt.raw_schema(), name)


def resolve_id(conn: psycopg.Connection, text: str) -> uuid.UUID:
    """A full recommendation id, from the id or an unambiguous prefix of at least 4 hex digits."""
    text = text.strip().lower()
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    if len(text) < 4 or any(ch not in "0123456789abcdef-" for ch in text):
        raise ReviewError(f"{text!r} is not a recommendation id or id prefix")
    rows = conn.execute(
        sql.SQL("select recommendation_id from {} where recommendation_id::text like %s limit 2").format(
            _t("recommendations")
        ),
        (text + "%",),
    ).fetchall()
    conn.rollback()
    if not rows:
        raise ReviewError(f"no recommendation with id {text}")
    if len(rows) > 1:
        raise ReviewError(f"id prefix {text} is ambiguous")
    return rows[0][0]


_SELECT = """
    select r.*, c.name as config_name, bv.version_number as base_version_number
    from {recs} as r
    left join {configs} as c on c.config_id = r.config_id
    left join {versions} as bv on bv.version_id = r.base_version_id
"""


def _select() -> sql.Composed:
    return sql.SQL(_SELECT).format(
        recs=_t("recommendations"), configs=_t("configurations"), versions=_t("config_versions")
    )


def list_recommendations(
    conn: psycopg.Connection, *, state: str | None = None, config_name: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Recommendations, newest first; ``state`` is pending, approved, rejected or applied."""
    if state is not None and state not in REVIEW_STATES:
        raise ReviewError(f"state must be one of {', '.join(REVIEW_STATES)}")
    where = [sql.SQL("true")]
    params: list[Any] = []
    if state == "applied":
        where.append(sql.SQL("r.applied"))
    elif state is not None:
        where.append(sql.SQL("not coalesce(r.applied, false) and r.review_status = %s"))
        params.append(state)
    if config_name is not None:
        where.append(sql.SQL("c.name = %s"))
        params.append(config_name)
    query = sql.SQL("{} where {} order by r.created_at desc, r.confidence desc limit %s").format(
        _select(), sql.SQL(" and ").join(where)
    )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, [*params, limit]).fetchall()
    conn.rollback()
    return rows


def get_recommendation(conn: psycopg.Connection, rec_id: uuid.UUID) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL("{} where r.recommendation_id = %s").format(_select()), (rec_id,)
        ).fetchone()
    conn.rollback()
    if row is None:
        raise ReviewError(f"no recommendation with id {rec_id}")
    return row


def _current_version(conn: psycopg.Connection, config_id: uuid.UUID) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL(
                "select v.version_id, v.version_number, v.parsed_config, v.raw_yaml from {configs} as c"
                " join {versions} as v on v.version_id = c.latest_version_id where c.config_id = %s"
            ).format(configs=_t("configurations"), versions=_t("config_versions")),
            (config_id,),
        ).fetchone()
    if row is None:
        raise ReviewError(f"configuration {config_id} has no current version")
    row["config"] = _authored(row)
    return row


def _authored(row: dict[str, Any]) -> dict[str, Any]:
    """The version's configuration in the order its author wrote it (the YAML), else the stored JSON."""
    try:
        parsed = yaml.safe_load(row["raw_yaml"] or "")
    except yaml.YAMLError:
        parsed = None
    return parsed if isinstance(parsed, dict) and parsed == row["parsed_config"] else row["parsed_config"]


@dataclass(frozen=True)
class Preview:
    """The patch, the configuration it applies to, and the resulting YAML and diff."""

    patch_text: str
    version_id: uuid.UUID
    version_number: int
    current_yaml: str
    patched_yaml: str
    diff: str


def preview(conn: psycopg.Connection, rec: dict[str, Any]) -> Preview:
    """What applying ``rec`` to its configuration's current version would produce (writes nothing)."""
    if rec.get("config_id") is None:
        raise ReviewError("the recommendation names no configuration")
    current = _current_version(conn, rec["config_id"])
    conn.rollback()
    try:
        patched = apply_patch(current["config"], parse_patch(rec["suggested_yaml_changes"] or ""))
    except PatchError as exc:
        raise ReviewError(f"the patch no longer applies: {exc}") from None
    before, after = render_config(current["config"]), render_config(patched)
    diff = unified_diff(
        before,
        after,
        before_name=f"version {current['version_number']}",
        after_name="with this recommendation",
    )
    return Preview(
        rec["suggested_yaml_changes"] or "",
        current["version_id"],
        current["version_number"],
        before,
        after,
        diff,
    )


def _lock(conn: psycopg.Connection, rec_id: uuid.UUID) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL("select * from {} where recommendation_id = %s for update").format(_t("recommendations")),
            (rec_id,),
        ).fetchone()
    if row is None:
        raise ReviewError(f"no recommendation with id {rec_id}")
    return row


def _set_user(conn: psycopg.Connection, user_id: uuid.UUID) -> None:
    conn.execute("select set_config('arc_eval.user_id', %s, true)", (str(user_id),))


def set_review(
    conn: psycopg.Connection, rec_id: uuid.UUID, status: str, user_id: uuid.UUID, reason: str | None = None
) -> dict[str, Any]:
    """Mark ``rec_id`` approved or rejected by ``user_id`` now, with an optional ``reason`` (at most
    2000 characters); returns the updated row."""
    if status not in ("approved", "rejected"):
        raise ReviewError("a review sets 'approved' or 'rejected'")
    if reason is not None and len(reason) > 2000:
        raise ReviewError("reason: at most 2000 characters")
    with conn.transaction():
        _set_user(conn, user_id)
        row = _lock(conn, rec_id)
        if row["applied"] and status == "rejected":
            raise ReviewError("the recommendation is already applied and cannot be rejected")
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                sql.SQL(
                    "update {} set review_status = %s, reviewed_by = %s, reviewed_at = now(), review_reason = %s"
                    " where recommendation_id = %s returning *"
                ).format(_t("recommendations")),
                (status, user_id, reason, rec_id),
            ).fetchone()


def approve(conn: psycopg.Connection, rec_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any]:
    return set_review(conn, rec_id, "approved", user_id)


def reject(
    conn: psycopg.Connection, rec_id: uuid.UUID, user_id: uuid.UUID, reason: str | None = None
) -> dict[str, Any]:
    return set_review(conn, rec_id, "rejected", user_id, reason)


def feedback(conn: psycopg.Connection, rec_id: uuid.UUID, score: int, user_id: uuid.UUID) -> None:
    """Store a feedback score (1..5) on ``rec_id``."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise ReviewError("feedback score must be an integer from 1 to 5")
    with conn.transaction():
        _set_user(conn, user_id)
        _lock(conn, rec_id)
        conn.execute(
            sql.SQL("update {} set feedback_score = %s where recommendation_id = %s").format(
                _t("recommendations")
            ),
            (score, rec_id),
        )


def apply(conn: psycopg.Connection, rec_id: uuid.UUID, user_id: uuid.UUID) -> ApplyResult:
    """Apply ``rec_id`` (see the module docstring); at most one version per recommendation."""
    with conn.transaction():
        _set_user(conn, user_id)
        rec = _lock(conn, rec_id)
        if rec["applied"]:
            number = conn.execute(
                sql.SQL("select version_number from {} where version_id = %s").format(_t("config_versions")),
                (rec["applied_version_id"],),
            ).fetchone()
            return ApplyResult(rec_id, rec["applied_version_id"], number[0] if number else 0, False, True)
        if rec["review_status"] == "rejected":
            raise ReviewError("the recommendation was rejected; approve it first to apply it")
        if rec["config_id"] is None:
            raise ReviewError("the recommendation names no configuration")
        current = _current_version(conn, rec["config_id"])
        try:
            patched = apply_patch(current["config"], parse_patch(rec["suggested_yaml_changes"] or ""))
        except PatchError as exc:
            raise ReviewError(f"the patch no longer applies: {exc}") from None
        version = loader_api.create_version(conn, rec["config_id"], render_config(patched), user_id=user_id)
        if version.version_id != current["version_id"]:  # the loader recorded the diff; add the estimate
            conn.execute(
                sql.SQL(
                    "update {} set impact_prediction = %s where version_before = %s and version_after = %s"
                    " and impact_prediction is null"
                ).format(_t("config_diffs")),
                (Jsonb(rec["impact_estimate"]), current["version_id"], version.version_id),
            )
        conn.execute(
            sql.SQL(
                "update {} set applied = true, applied_at = %s, applied_by = %s, applied_version_id = %s,"
                " review_status = 'approved', reviewed_by = coalesce(reviewed_by, %s),"
                " reviewed_at = coalesce(reviewed_at, %s) where recommendation_id = %s"
            ).format(_t("recommendations")),
            (_now(), user_id, version.version_id, user_id, _now(), rec_id),
        )
        return ApplyResult(rec_id, version.version_id, version.version_number, version.created, False)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
