"""The review state machine, enforced by the database: every transition, allowed and refused.

pending -> approved -> applied, pending -> rejected, rejected -> pending (re-open); nothing else, for any
role; approve pins the patch and base it was shown; apply refuses a patch changed since approval or a
base that moved. Boundaries: confidence 0 and 1, reasons of 1 and 2000 characters, scores 1 and 5.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
import yaml
from psycopg.rows import dict_row

from arc_eval import cli, dbt, roles
from arc_eval.client import ArcEval
from arc_eval.recommend import review
from security_helpers import RAW, REVIEWER_USER, add_recommendation, build_world, drop_logins

pytestmark = pytest.mark.slow

ACTOR = uuid.UUID("dddddddd-4444-4444-8444-444444444444")


@pytest.fixture(scope="module")
def world(make_database):
    target = make_database("review")
    dbt.init_warehouse(target)
    built, names = build_world(target)
    yield built
    drop_logins(target, names)


@pytest.fixture
def owner(world):
    with psycopg.connect(world.owner.conninfo) as conn:
        yield conn


def row(conn, rec_id) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(
            f"select * from {RAW}.recommendations where recommendation_id = %s", [rec_id]
        ).fetchone()
    conn.rollback()
    return found


def audit_rows(conn, rec_id) -> int:
    n = conn.execute(
        f"select count(*) from {RAW}.audit_log where table_name = 'recommendations'"
        " and new_data ->> 'recommendation_id' = %s",
        [str(rec_id)],
    ).fetchone()[0]
    conn.rollback()
    return n


def current_version(conn, config_id) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(
            f"select v.* from {RAW}.configurations c join {RAW}.config_versions v on v.version_id = c.latest_version_id"
            " where c.config_id = %s",
            [config_id],
        ).fetchone()
    conn.rollback()
    return found


def test_approve_then_apply_and_every_refusal_around_them(world, owner):
    rec_id = add_recommendation(world.owner, world.a, "timeout_ms: 2000\n")
    with pytest.raises(review.ReviewError, match="pending: only an approved recommendation is applied"):
        review.apply(owner, rec_id, ACTOR)
    again = review.reopen(owner, rec_id, ACTOR)
    assert not again.changed and again.state == "pending" and "already pending" in again.message
    with pytest.raises(review.ReviewError, match="no acting user"):
        review.approve(owner, rec_id)

    base = current_version(owner, world.a.config_id)
    approved = review.approve(owner, rec_id, ACTOR)
    assert approved.changed and approved.state == "approved"
    stored = row(owner, rec_id)
    assert stored["approved_patch_sha256"] == review.patch_sha256("timeout_ms: 2000\n")
    assert stored["approved_base_version_id"] == base["version_id"]
    assert stored["approved_base_sha256"] == base["config_hash"]
    assert stored["reviewed_by"] == ACTOR and stored["reviewed_by_role"] == owner.info.user
    audits = audit_rows(owner, rec_id)
    twice = review.approve(owner, rec_id, ACTOR)
    assert not twice.changed and "already approved" in twice.message and audit_rows(owner, rec_id) == audits
    with pytest.raises(review.ReviewError, match="approved recommendation is applied, not rejected"):
        review.reject(owner, rec_id, ACTOR, reason="changed my mind")
    with pytest.raises(review.ReviewError, match="only a rejected recommendation can be re-opened"):
        review.reopen(owner, rec_id, ACTOR)

    applied = review.apply(owner, rec_id, ACTOR)
    assert applied.created and not applied.already_applied and "applied by" in applied.message
    version = current_version(owner, world.a.config_id)
    assert version["version_id"] == applied.version_id and version["generated_by"] == "llm_recommendation"
    assert yaml.safe_load(version["raw_yaml"])["timeout_ms"] == 2000
    with owner.cursor(row_factory=dict_row) as cur:
        diff = cur.execute(
            f"select * from {RAW}.config_diffs where version_after = %s", [applied.version_id]
        ).fetchone()
    owner.rollback()
    assert diff["approval_status"] == "approved" and diff["approved_by"] == ACTOR and diff["llm_generated"]
    assert diff["version_before"] == base["version_id"] and "+timeout_ms: 2000" in diff["diff_yaml"]
    assert diff["change_summary"] == {
        "added": {},
        "removed": {},
        "changed": {"timeout_ms": {"old": 1000, "new": 2000}},
    }
    repeat = review.apply(owner, rec_id, ACTOR)
    assert repeat.already_applied and repeat.version_id == applied.version_id and not repeat.created
    for action, message in (
        (
            lambda: review.reject(owner, rec_id, ACTOR, reason="late"),
            "already applied and cannot be rejected",
        ),
        (lambda: review.approve(owner, rec_id, ACTOR), "already applied: nothing to approve"),
        (lambda: review.reopen(owner, rec_id, ACTOR), "is applied: only a rejected"),
    ):
        with pytest.raises(review.ReviewError, match=message):
            action()
    assert review.state_of(row(owner, rec_id)) == "applied"

    # The LLM-generated version can become current again only through the review: a writer reverting to
    # the base is fine, resubmitting the LLM content is refused.
    with ArcEval(world.logins["writer_a"], flush_interval=None, pool_min=1, pool_max=1) as db:
        back = db.create_config_version(world.a.config_id, base["raw_yaml"])
        assert back.version_id == base["version_id"] and not back.created
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match="LLM-generated version becomes current"
        ):
            db.create_config_version(world.a.config_id, version["raw_yaml"])


def test_reject_reopen_and_their_refusals(world, owner):
    rec_id = add_recommendation(world.owner, world.a, "temperature: 0.5\n")
    for reason, message in (
        ("", "a reason is required"),
        ("   ", "a reason is required"),
        ("x" * 2001, "at most 2000"),
    ):
        with pytest.raises(review.ReviewError, match=message):
            review.reject(owner, rec_id, ACTOR, reason=reason)
    assert review.state_of(row(owner, rec_id)) == "pending"
    rejected = review.reject(owner, rec_id, ACTOR, reason="x")
    assert rejected.changed and rejected.state == "rejected" and row(owner, rec_id)["review_reason"] == "x"
    audits = audit_rows(owner, rec_id)
    twice = review.reject(owner, rec_id, ACTOR, reason="again")
    assert not twice.changed and "already rejected" in twice.message and audit_rows(owner, rec_id) == audits
    assert row(owner, rec_id)["review_reason"] == "x"
    with pytest.raises(review.ReviewError, match="was rejected \\(x\\): re-open it first"):
        review.approve(owner, rec_id, ACTOR)
    with pytest.raises(review.ReviewError, match="re-open and approve it first"):
        review.apply(owner, rec_id, ACTOR)
    reopened = review.reopen(owner, rec_id, ACTOR)
    assert reopened.changed and reopened.state == "pending"
    assert row(owner, rec_id)["review_reason"] is None and row(owner, rec_id)["approved_patch_sha256"] is None
    assert review.approve(owner, rec_id, ACTOR).state == "approved"

    longest = add_recommendation(world.owner, world.a, "temperature: 0.6\n")
    assert review.reject(owner, longest, ACTOR, reason="y" * 2000).changed


def test_approve_refuses_what_was_not_shown(world, owner):
    rec_id = add_recommendation(world.owner, world.a, "temperature: 0.7\n")
    shown = review.preview(owner, review.get_recommendation(owner, rec_id))
    owner.execute(
        f"update {RAW}.recommendations set suggested_yaml_changes = 'timeout_ms: 4321' where recommendation_id = %s",
        [rec_id],
    )
    owner.commit()
    with pytest.raises(review.ReviewError, match="the patch changed since it was shown"):
        review.approve(
            owner, rec_id, ACTOR, patch_sha256=shown.patch_sha256, base_version_id=shown.version_id
        )
    shown = review.preview(owner, review.get_recommendation(owner, rec_id))
    with ArcEval(world.logins["writer_a"], flush_interval=None, pool_min=1, pool_max=1) as db:
        db.create_config_version(
            world.a.config_id, {"model": "gpt-4o", "temperature": 0.25, "timeout_ms": 1000}
        )
    with pytest.raises(review.ReviewError, match="the configuration moved"):
        review.approve(
            owner, rec_id, ACTOR, patch_sha256=shown.patch_sha256, base_version_id=shown.version_id
        )
    assert review.state_of(row(owner, rec_id)) == "pending"


def test_apply_refuses_a_changed_patch_or_a_moved_base(world, owner):
    changed = add_recommendation(world.owner, world.a, "temperature: 0.8\n")
    review.approve(owner, changed, ACTOR)
    with pytest.raises(psycopg.errors.CheckViolation, match="cannot change its content"):
        owner.execute(
            f"update {RAW}.recommendations set suggested_yaml_changes = 'timeout_ms: 4321' where recommendation_id = %s",
            [changed],
        )
    owner.rollback()
    # Even with the guard switched off by the owner, apply checks the approved SHA-256.
    owner.execute(f"alter table {RAW}.recommendations disable trigger arc_eval_review_check")
    owner.execute(
        f"update {RAW}.recommendations set suggested_yaml_changes = 'timeout_ms: 4321' where recommendation_id = %s",
        [changed],
    )
    owner.execute(f"alter table {RAW}.recommendations enable trigger arc_eval_review_check")
    owner.commit()
    with pytest.raises(review.ReviewError, match="the stored patch changed after it was approved"):
        review.apply(owner, changed, ACTOR)

    moved = add_recommendation(world.owner, world.a, "temperature: 0.9\n")
    review.approve(owner, moved, ACTOR)
    with ArcEval(world.logins["writer_a"], flush_interval=None, pool_min=1, pool_max=1) as db:
        db.create_config_version(
            world.a.config_id, {"model": "gpt-4o", "temperature": 0.35, "timeout_ms": 1000}
        )
    with pytest.raises(review.ReviewError, match="the base moved"):
        review.apply(owner, moved, ACTOR)
    assert review.state_of(row(owner, moved)) == "approved"


def test_state_changes_outside_the_review_functions_are_refused(world, owner):
    rec_id = add_recommendation(world.owner, world.a, "temperature: 1.0\n")
    for statement in (
        "update {t} set review_status = 'approved' where recommendation_id = %s",
        "update {t} set review_status = 'rejected', review_reason = 'r' where recommendation_id = %s",
        "update {t} set applied = true, applied_at = now() where recommendation_id = %s",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only through the review functions"):
            owner.execute(statement.format(t=f"{RAW}.recommendations"), [rec_id])
        owner.rollback()
    # An 'approved' row inserted by the owner (an import) pins nothing, and apply refuses it.
    imported = uuid.uuid4()
    owner.execute(
        f"insert into {RAW}.recommendations (recommendation_id, source_type, source_id, recommendation_type,"
        " description, suggested_yaml_changes, confidence, config_id, review_status, reviewed_by)"
        " values (%s, 'simulation', %s, 'config_change', 'approved at birth', 'model: x', 0.5, %s, 'approved', %s)",
        [imported, uuid.uuid4(), world.a.config_id, ACTOR],
    )
    owner.commit()
    with pytest.raises(review.ReviewError, match="not approved through the review"):
        review.apply(owner, imported, ACTOR)
    # As the schema owner itself (what the functions run as), the state machine still holds.
    schema_owner = owner.execute(
        "select pg_get_userbyid(nspowner) from pg_namespace where nspname = %s", [RAW]
    ).fetchone()[0]
    owner.execute(f'set role "{schema_owner}"')
    for statement, message in (
        (
            "update {t} set applied = true, applied_at = now() where recommendation_id = %s",
            "pending -> applied is not",
        ),
        ("update {t} set review_status = 'approved' where recommendation_id = %s", "records its reviewer"),
        ("update {t} set review_status = 'rejected' where recommendation_id = %s", "needs a reason"),
    ):
        with pytest.raises(psycopg.errors.CheckViolation, match=message):
            owner.execute(statement.format(t=f"{RAW}.recommendations"), [rec_id])
        owner.rollback()
        owner.execute(f'set role "{schema_owner}"')
    owner.rollback()


def test_reviewer_login_acts_as_its_own_user(world):
    rec_id = add_recommendation(world.owner, world.a, "temperature: 0.45\n")
    with psycopg.connect(world.logins["reviewer"]) as conn:
        done = review.approve(conn, rec_id, ACTOR)  # the login's user wins over the one passed
        assert done.changed and str(REVIEWER_USER) in done.message
        stored = row(conn, rec_id)
        assert (
            stored["reviewed_by"] == REVIEWER_USER and stored["reviewed_by_role"] == world.names["reviewer"]
        )
        applied = review.apply(conn, rec_id)
        assert applied.created
        assert row(conn, rec_id)["applied_by"] == REVIEWER_USER
    with psycopg.connect(world.owner.conninfo) as owner:
        users = {
            r[0]
            for r in owner.execute(
                f"select user_id from {RAW}.audit_log where table_name = 'recommendations' and operation = 'UPDATE'"
                " and new_data ->> 'recommendation_id' = %s",
                [str(rec_id)],
            )
        }
    assert users == {REVIEWER_USER}


def test_boundaries_of_confidence_and_feedback(world, owner):
    for confidence in (0.0, 1.0):
        add_recommendation(world.owner, world.a, confidence=confidence)
    for confidence in (-1e-6, 1.000001):
        with pytest.raises(psycopg.errors.CheckViolation, match="recommendations_confidence_check"):
            add_recommendation(world.owner, world.a, confidence=confidence)
    rec_id = add_recommendation(world.owner, world.a)
    for score in (1, 5):
        assert review.feedback(owner, rec_id, score, ACTOR).state == "pending"
    for score in (0, 6):
        with pytest.raises(review.ReviewError, match="1 to 5"):
            review.feedback(owner, rec_id, score, ACTOR)
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="1 to 5"):
            owner.execute(f"select * from {RAW}.arc_eval_review_feedback(%s, %s, %s)", [rec_id, score, ACTOR])
        owner.rollback()
    assert row(owner, rec_id)["feedback_score"] == 5


def test_cli_review_commands(world, monkeypatch, capsys):
    monkeypatch.setenv("ARC_EVAL_DSN", world.owner.conninfo)
    rec_id = str(add_recommendation(world.owner, world.a, "temperature: 0.15\n"))
    user = ["--user", str(ACTOR)]
    assert cli.main(["recommendations", "show", rec_id]) == 0
    shown = capsys.readouterr().out
    assert "state: pending" in shown and "next: approve, reject --reason" in shown
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["recommendations", "reject", rec_id, *user])
    assert exit_info.value.code == 2 and "--reason" in capsys.readouterr().err
    assert cli.main(["recommendations", "reject", rec_id, "--reason", "too risky", *user]) == 0
    assert "rejected by" in capsys.readouterr().out
    assert cli.main(["recommendations", "approve", rec_id, *user]) == 1
    assert "re-open it first" in capsys.readouterr().err
    assert cli.main(["recommendations", "show", rec_id]) == 0
    assert "reason: too risky" in capsys.readouterr().out
    assert cli.main(["recommendations", "reopen", rec_id, *user]) == 0
    assert "pending again" in capsys.readouterr().out
    assert cli.main(["recommendations", "approve", rec_id, *user]) == 0
    assert "approved by" in capsys.readouterr().out
    assert cli.main(["recommendations", "approve", rec_id, *user]) == 0
    assert "already approved" in capsys.readouterr().out
    assert cli.main(["recommendations", "apply", rec_id, *user]) == 0
    assert "created version" in capsys.readouterr().out
    assert cli.main(["recommendations", "show", rec_id]) == 0
    assert "state: applied" in capsys.readouterr().out
    with psycopg.connect(world.owner.conninfo) as conn:
        assert roles.group_roles(conn)["reviewer"] == "arc_eval_reviewer"
