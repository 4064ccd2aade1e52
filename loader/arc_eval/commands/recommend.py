"""``arc-eval recommend`` and ``arc-eval recommendations list|show|approve|reject|apply|feedback``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import uuid
from typing import Any

import psycopg

from .. import connection
from ..recommend import engine, ledger, review
from ..recommend.providers import PROVIDERS
from ..text import printable

_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhm]?)\s*$")


def parse_window(text: str) -> dt.timedelta:
    """``7``, ``7d``, ``36h`` or ``90m`` as a timedelta (a bare number is days)."""
    match = _WINDOW.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"window {text!r}: use a positive number of days, or 7d / 36h / 90m")
    value, unit = float(match.group(1)), match.group(2) or "d"
    return {"d": dt.timedelta(days=value), "h": dt.timedelta(hours=value), "m": dt.timedelta(minutes=value)}[
        unit
    ]


def _user(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"user {text!r} is not a UUID") from None


def _add_user(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--user",
        type=_user,
        default=None,
        help=f"acting user id (default ${engine.USER_ENV}, else the system user {engine.SYSTEM_USER_ID})",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    rec = subparsers.add_parser(
        "recommend",
        help="analyse recent outcomes (dbt models) and record configuration recommendations",
        description="Reads the dbt models only. Provider 'rules' is offline; 'openai' uses ARC_EVAL_LLM_* settings.",
    )
    rec.add_argument(
        "--window", type=parse_window, default=engine.DEFAULT_WINDOW, help="data window (default 7d)"
    )
    rec.add_argument("--config", metavar="NAME", help="one configuration (default: every active one)")
    rec.add_argument(
        "--provider",
        choices=PROVIDERS,
        default=os.environ.get("ARC_EVAL_LLM_PROVIDER") or "rules",
        help="recommendation provider (default $ARC_EVAL_LLM_PROVIDER, else rules)",
    )
    _add_user(rec)
    rec.add_argument(
        "--dry-run", action="store_true", help="print a summary of what would be written; write nothing"
    )
    rec.add_argument(
        "--show-prompt", action="store_true", help="also print the whole prompt sent to the provider"
    )
    rec.set_defaults(func=recommend_command)

    recs = subparsers.add_parser(
        "recommendations", help="review recommendations: list, show, approve, reject, apply"
    )
    actions = recs.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list recommendations, newest first")
    listing.add_argument("--state", choices=review.REVIEW_STATES, help="only this state")
    listing.add_argument("--config", metavar="NAME", help="only this configuration")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default %(default)s)")
    listing.set_defaults(func=list_command)
    show = actions.add_parser("show", help="show one recommendation, its YAML patch and the resulting diff")
    show.add_argument("id", help="recommendation id or unambiguous prefix")
    show.set_defaults(func=show_command)
    for name, helptext in (
        ("approve", "approve a pending recommendation as `show` displays it now"),
        ("reject", "reject a pending recommendation (with --reason)"),
        ("reopen", "make a rejected recommendation pending again"),
        ("apply", "apply an approved recommendation: make the next configuration version"),
    ):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("id", help="recommendation id or unambiguous prefix")
        if name == "reject":
            action.add_argument("--reason", required=True, help="why (stored with the recommendation)")
        _add_user(action)
        if name == "approve":
            action.add_argument(
                "--rebase",
                action="store_true",
                help="approve a stale recommendation (made against an older version) against the current version",
            )
        action.set_defaults(func=review_command)
    fb = actions.add_parser("feedback", help="score a recommendation from 1 (useless) to 5 (excellent)")
    fb.add_argument("id", help="recommendation id or unambiguous prefix")
    fb.add_argument(
        "score", type=int, choices=range(1, 6), metavar="SCORE", help="1 (useless) to 5 (excellent)"
    )
    _add_user(fb)
    fb.set_defaults(func=feedback_command)


def _connect() -> psycopg.Connection:
    return psycopg.connect(connection.resolve(start_embedded=False).conninfo, **connection.reader_kwargs())


def recommend_command(args: argparse.Namespace) -> int:
    with _connect() as conn:
        result = engine.recommend(
            conn,
            window=args.window,
            config_name=args.config,
            provider=args.provider,
            user_id=args.user,
            dry_run=args.dry_run,
        )
    if args.dry_run:
        print("=== would write (dry run: nothing was written) ===")
    _print(engine.describe(result))
    if args.show_prompt:
        print(f"\n=== prompt ({len(result.prompt.text):,} characters) ===")
        _print(result.prompt.text)
    elif args.dry_run:
        print(f"(the prompt, {len(result.prompt.text):,} characters, is shown with --show-prompt)")
    return 0 if result.status == "completed" else 1


def _print(text: str = "") -> None:
    """Print text that holds stored (maybe sandbox-written) values, without control characters."""
    print(printable(text))


_NEXT = {
    "pending": "approve, reject --reason",
    "approved": "apply",
    "rejected": "reopen",
    "applied": "nothing (final)",
}


def _state(row: dict[str, Any]) -> str:
    """The review state, or ``stale`` for an open recommendation whose configuration moved on."""
    state = review.state_of(row)
    return "stale" if state in ("pending", "approved") and review.is_stale(row) else state


def list_command(args: argparse.Namespace) -> int:
    with _connect() as conn:
        rows = review.list_recommendations(conn, state=args.state, config_name=args.config, limit=args.limit)
    if not rows:
        _print("no recommendations")
        return 0
    _print(f"{'id':8}  {'state':8}  {'conf':>4}  {'type':18}  {'configuration':24}  description")
    for r in rows:
        text = r["description"] if len(r["description"]) <= 70 else r["description"][:67] + "..."
        _print(
            f"{str(r['recommendation_id'])[:8]}  {_state(r):8}  {r['confidence']:4.2f}  {r['recommendation_type']:18}"
            f"  {(r['config_name'] or '-')[:24]:24}  {text}"
        )
    return 0


def show_command(args: argparse.Namespace) -> int:
    with _connect() as conn:
        rec = review.get_recommendation(conn, review.resolve_id(conn, args.id))
        try:
            pv: review.Preview | None = review.preview(conn, rec)
            problem = None
        except review.ReviewError as exc:
            pv, problem = None, str(exc)
        effect = ledger.realised_effect(conn, rec["recommendation_id"]) if rec["applied"] else None
    _print(f"recommendation {rec['recommendation_id']}")
    _print(f"  state: {_state(rec)}  type: {rec['recommendation_type']}  confidence: {rec['confidence']:.2f}")
    _print(f"  configuration: {rec['config_name']}  made against version {rec['base_version_number']}")
    _print(f"  source: {rec['source_type']} {rec['source_id']}")
    _print(
        f"  model: {rec['llm_model_used']}  prompt sha256: {rec['llm_prompt_hash']}  session: {rec['session_id']}"
    )
    _print(f"  impact: {json.dumps(rec['impact_estimate'], sort_keys=True)}")
    _print(
        f"  next: {_NEXT[review.state_of(rec)]}  (pending -> approved -> applied; pending -> rejected -> reopen)"
    )
    if review.is_stale(rec):
        _print(
            f"  stale: made against version {rec['base_version_number']}, the current version is"
            f" {rec['current_version_number']} (approve --rebase approves it against the current version)"
        )
    if rec["reviewed_by"]:
        role = f" (login {rec['reviewed_by_role']})" if rec["reviewed_by_role"] else ""
        _print(f"  reviewed by {rec['reviewed_by']}{role} at {rec['reviewed_at']}")
    if rec["review_reason"]:
        _print(f"  reason: {rec['review_reason']}")
    if rec["approved_patch_sha256"]:
        _print(
            f"  approved patch sha256 {rec['approved_patch_sha256']} against version {rec['approved_base_version_id']}"
            f" (sha256 {rec['approved_base_sha256']})"
        )
    if rec["applied"]:
        _print(
            f"  applied by {rec['applied_by']} at {rec['applied_at']} -> version {rec['applied_version_id']}"
        )
    if rec["applied"]:
        _print(ledger.describe_effect(rec.get("impact_estimate"), effect))
    if rec["feedback_score"]:
        _print(f"  feedback: {rec['feedback_score']}/5")
    _print(f"\n{rec['description']}\n")
    _print(f"YAML patch (sha256 {review.patch_sha256(rec['suggested_yaml_changes'])}):")
    _print((rec["suggested_yaml_changes"] or "").rstrip())
    if pv is not None:
        _print(f"\ndiff against the current version {pv.version_number}:")
        _print(pv.diff.rstrip() or "(no change)")
    else:
        _print(f"\ncannot show the resulting diff: {problem}")
    return 0


def review_command(args: argparse.Namespace) -> int:
    # A login with a principal mapping always acts as its own user: the database ignores this one then.
    user = args.user or engine.default_user_id()
    with _connect() as conn:
        rec_id = review.resolve_id(conn, args.id)
        if args.action == "apply":
            res = review.apply(conn, rec_id, user)
            print(res.message)
        elif args.action == "approve":
            print(review.approve(conn, rec_id, user, rebase=args.rebase).message)
        elif args.action == "reject":
            print(review.reject(conn, rec_id, user, reason=args.reason).message)
        else:
            print(review.reopen(conn, rec_id, user).message)
    return 0


def feedback_command(args: argparse.Namespace) -> int:
    user = args.user or engine.default_user_id()
    with _connect() as conn:
        rec_id = review.resolve_id(conn, args.id)
        review.feedback(conn, rec_id, args.score, user)
    print(f"recorded feedback {args.score}/5 on {rec_id}")
    return 0
