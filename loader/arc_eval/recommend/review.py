"""Review of recommendations: list, show, approve, reject, re-open, apply, feedback.

The database enforces the review (docs/security.md): every change of state goes through a SECURITY
DEFINER function of the raw schema, which locks the recommendation, checks its state, records who
acted and returns what happened; guard triggers refuse any other change, for every role. One state
machine::

    pending -> approved -> applied,   pending -> rejected,   rejected -> pending (re-open)

A recommendation is *stale* once its configuration's current version is no longer the one it was made
against (or approved against): approve refuses it unless re-based on purpose (``rebase=True``, which
approves its patch against the current version), and apply refuses an approved one whose base moved.

- ``approve`` pins what the reviewer saw: the SHA-256 of the patch and the configuration version it was
  shown against (by default what :func:`preview` shows now). It is refused if either changed since.
- ``reject`` needs a reason, stored with the recommendation. Approving or rejecting twice changes nothing
  and says so (``ReviewResult.changed`` is False). An applied recommendation cannot be rejected.
- ``apply`` applies the approved patch to the version it was approved against and re-validates the
  result here; the database function then refuses a patch changed since approval or a base that moved,
  under a row lock, and creates the next version (``generated_by='llm_recommendation'``, an approved,
  ``llm_generated`` diff), or makes identical earlier content current again (a revert). Applying twice
  returns the version of the first apply.
- ``feedback`` stores a score from 1 to 5.

The acting user is the principal's user when the session's login has one (``arc-eval principal add``),
else ``user_id``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import yaml
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .. import core, dbt, safe_yaml
from ..embeddings import default_embedder
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
    message: str = ""


@dataclass(frozen=True)
class ReviewResult:
    """What a review action did: ``changed`` is False for a repeated approve/reject/re-open."""

    recommendation_id: uuid.UUID
    changed: bool
    state: str
    message: str


def state_of(row: dict[str, Any]) -> str:
    """The review state of a recommendation row: pending, approved, rejected or applied."""
    return "applied" if row["applied"] else row["review_status"]


def patch_sha256(patch_text: str | None) -> str:
    """SHA-256 (hex) of a patch as stored: what an approval pins."""
    return hashlib.sha256((patch_text or "").encode("utf-8")).hexdigest()


def _t(name: str) -> sql.Composed:
    return sql.Identifier(dbt.raw_schema(), name)


def resolve_id(conn: psycopg.Connection, text: str) -> uuid.UUID:
    """A full recommendation id, from the id or an unambiguous prefix of at least 4 hex digits."""
    text = text.strip().lower()
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    if not text or any(ch not in "0123456789abcdef-" for ch in text):
        raise ReviewError(f"{text!r} is not a recommendation id or id prefix (hex digits and dashes)")
    if len(text) < 4:
        raise ReviewError(f"id prefix {text!r} is too short: give at least 4 characters of the id")
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
    select r.*, c.name as config_name, bv.version_number as base_version_number,
           c.latest_version_id as current_version_id, cv.version_number as current_version_number
    from {recs} as r
    left join {configs} as c on c.config_id = r.config_id
    left join {versions} as bv on bv.version_id = coalesce(r.approved_base_version_id, r.base_version_id)
    left join {versions} as cv on cv.version_id = c.latest_version_id
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
        parsed = safe_yaml.load(row["raw_yaml"] or "")  # stored text: no aliases, bounded size
    except yaml.YAMLError:
        parsed = None
    return parsed if isinstance(parsed, dict) and parsed == row["parsed_config"] else row["parsed_config"]


@dataclass(frozen=True)
class Preview:
    """The patch, the configuration it applies to, and the resulting YAML and diff."""

    patch_text: str
    patch_sha256: str
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
        patch_sha256(rec["suggested_yaml_changes"]),
        current["version_id"],
        current["version_number"],
        before,
        after,
        diff,
    )


# Refusals raised by the review functions and guards: wrong state, not found, bad argument, rule, privilege.
_REFUSALS = ("55000", "P0002", "22023", "23514", "42501")


def _call(conn: psycopg.Connection, function: str, args: list[Any]) -> dict[str, Any]:
    """Run one review function in its own transaction; a refusal becomes a ReviewError."""
    query = sql.SQL("select * from {}({})").format(
        sql.Identifier(dbt.raw_schema(), function), sql.SQL(", ").join(sql.Placeholder() * len(args))
    )
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(query, args).fetchone()
    except psycopg.Error as exc:
        if exc.sqlstate in _REFUSALS and exc.diag.message_primary:
            raise ReviewError(exc.diag.message_primary) from None
        raise
    if row is None:
        raise ReviewError(f"{function}: no result")
    return row


def _result(rec_id: uuid.UUID, row: dict[str, Any]) -> ReviewResult:
    return ReviewResult(rec_id, row["changed"], row["review_state"], row["message"])


def is_stale(rec: dict[str, Any]) -> bool:
    """``rec`` (a row of :func:`get_recommendation`) is not applied, and its configuration has moved past
    the version it was made against (or, once approved, the version it was approved against)."""
    base = rec.get("approved_base_version_id") or rec.get("base_version_id")
    return (
        not rec["applied"]
        and base is not None
        and rec.get("current_version_id") is not None
        and base != rec["current_version_id"]
    )


def _stale_error(rec: dict[str, Any], advice: str) -> ReviewError:
    base = rec.get("approved_base_version_id") or rec.get("base_version_id")
    return ReviewError(
        f"recommendation {rec['recommendation_id']} is stale: it was made against version"
        f" {rec['base_version_number']} ({base}) but the current version is {rec['current_version_number']}"
        f" ({rec['current_version_id']}); {advice}"
    )


def approve(
    conn: psycopg.Connection,
    rec_id: uuid.UUID,
    user_id: uuid.UUID | None = None,
    *,
    patch_sha256: str | None = None,
    base_version_id: uuid.UUID | None = None,
    rebase: bool = False,
) -> ReviewResult:
    """Approve ``rec_id`` as shown: the patch with ``patch_sha256`` against ``base_version_id``.

    Without them, what :func:`preview` shows now. Refused when the patch or the configuration's current
    version differ from those, or the recommendation is rejected (re-open it first) or applied. A stale
    recommendation (its configuration moved past the version it was made against) is refused unless
    ``rebase``: then its patch is approved against the current version, on purpose.
    """
    try:
        rec = get_recommendation(conn, rec_id)
    except psycopg.errors.InsufficientPrivilege:  # not a reviewer: the review function says so below
        conn.rollback()
        rec = None
    # Shown against a version the caller names: the database refuses it if that version is no longer current.
    if (
        rec is not None
        and base_version_id is None
        and state_of(rec) == "pending"
        and is_stale(rec)
        and not rebase
    ):
        raise _stale_error(
            rec,
            f"approve it with --rebase to approve its patch against version {rec['current_version_number']},"
            " or run the recommender again",
        )
    if rec is not None and (patch_sha256 is None or base_version_id is None):
        shown = preview(conn, rec)
        patch_sha256 = shown.patch_sha256 if patch_sha256 is None else patch_sha256
        base_version_id = shown.version_id if base_version_id is None else base_version_id
    row = _call(conn, "arc_eval_review_approve", [rec_id, patch_sha256, base_version_id, user_id])
    return _result(rec_id, row)


def reject(
    conn: psycopg.Connection, rec_id: uuid.UUID, user_id: uuid.UUID | None = None, *, reason: str
) -> ReviewResult:
    """Reject a pending ``rec_id`` with a reason (1 to 2000 characters, not blank)."""
    return _result(rec_id, _call(conn, "arc_eval_review_reject", [rec_id, reason, user_id]))


def reopen(conn: psycopg.Connection, rec_id: uuid.UUID, user_id: uuid.UUID | None = None) -> ReviewResult:
    """Make a rejected ``rec_id`` pending again (the only way back from rejected)."""
    return _result(rec_id, _call(conn, "arc_eval_review_reopen", [rec_id, user_id]))


def feedback(
    conn: psycopg.Connection, rec_id: uuid.UUID, score: int, user_id: uuid.UUID | None = None
) -> ReviewResult:
    """Store a feedback score (1..5) on ``rec_id``."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise ReviewError("feedback score must be an integer from 1 to 5")
    return _result(rec_id, _call(conn, "arc_eval_review_feedback", [rec_id, score, user_id]))


def _version(conn: psycopg.Connection, version_id: uuid.UUID) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL(
                "select version_id, config_id, version_number, parsed_config, raw_yaml from {} where version_id = %s"
            ).format(_t("config_versions")),
            (version_id,),
        ).fetchone()
    if row is None:
        raise ReviewError(f"configuration version {version_id} not found")
    row["config"] = _authored(row)
    return row


def _patched(conn: psycopg.Connection, rec: dict[str, Any]) -> list[Any]:
    """The arguments of the apply function for an approved ``rec``: the patch applied to the version it
    was approved against, re-validated (the patch parses and applies; the result is a valid configuration)."""
    if rec["config_id"] is None or rec["approved_base_version_id"] is None:
        raise ReviewError("the recommendation names no configuration version to apply to")
    if not 0 <= float(rec["confidence"]) <= 1:
        raise ReviewError("confidence must be between 0 and 1")
    base = _version(conn, rec["approved_base_version_id"])
    try:
        patched = apply_patch(base["config"], parse_patch(rec["suggested_yaml_changes"] or ""))
        prepared = core.prepare_config(render_config(patched))
    except (PatchError, core.ValidationError) as exc:
        raise ReviewError(f"the patch no longer gives a valid configuration: {exc}") from None
    number = conn.execute(
        sql.SQL(
            "select coalesce((select version_number from {v} where config_id = %s and config_hash = %s"
            " and not coalesce(is_deleted, false) order by version_number limit 1),"
            " (select coalesce(max(version_number), 0) + 1 from {v} where config_id = %s))"
        ).format(v=_t("config_versions")),
        (rec["config_id"], prepared.config_hash, rec["config_id"]),
    ).fetchone()[0]
    conn.rollback()
    diff = core.unified_yaml_diff(
        base["raw_yaml"], prepared.raw_yaml, f"version {base['version_number']}", f"version {number}"
    )
    summary = core.change_summary(base["parsed_config"] or {}, prepared.parsed)
    embedding = default_embedder().embed([prepared.canonical_json])[0]
    return [prepared.raw_yaml, prepared.canonical_json, embedding, diff, Jsonb(summary)]


def apply(conn: psycopg.Connection, rec_id: uuid.UUID, user_id: uuid.UUID | None = None) -> ApplyResult:
    """Apply an approved ``rec_id`` (see the module docstring); at most one version per recommendation."""
    rec = get_recommendation(conn, rec_id)
    content: list[Any] = [None] * 5
    if state_of(rec) == "approved" and rec["approved_base_version_id"] is not None:
        content = _patched(conn, rec)  # without a pinned base the database refuses it, saying why
    query = sql.SQL("select * from {}(%s, %s, %s, %s, %s::real[], %s, %s, %s)").format(
        sql.Identifier(dbt.raw_schema(), "arc_eval_review_apply")
    )
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                query, [rec_id, patch_sha256(rec["suggested_yaml_changes"]), *content, user_id]
            ).fetchone()
    except psycopg.Error as exc:
        if exc.sqlstate in _REFUSALS and exc.diag.message_primary:
            raise ReviewError(exc.diag.message_primary) from None
        raise
    return ApplyResult(
        rec_id,
        row["version_id"],
        row["version_number"],
        row["created"],
        row["already_applied"],
        row["message"],
    )
