"""The realised effect of an applied recommendation, read from the ``recommendation_impact_ledger`` model.

The ledger (a dbt model) compares the version a recommendation produced with its base version, paired
by scenario; this module reads one row and renders it next to the prediction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .. import dbt

LEDGER_MODEL = "recommendation_impact_ledger"


def realised_effect(conn: psycopg.Connection, rec_id: uuid.UUID) -> dict[str, Any] | None:
    """The ledger row of ``rec_id``, or None when it has none (or the model is not built yet)."""
    query = sql.SQL("select * from {} where recommendation_id = %s").format(
        sql.Identifier(dbt.analytics_schema(), LEDGER_MODEL)
    )
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, (rec_id,)).fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    finally:
        conn.rollback()


def _signed(value: Any) -> str:
    return "-" if value is None else f"{float(value):+.4g}"


def describe_effect(impact: Mapping[str, Any] | None, row: Mapping[str, Any] | None) -> str:
    """Lines that put the prediction (``impact_estimate``) next to the ledger's measurement."""
    impact = impact or {}
    lines = [f"  predicted: {impact.get('metric', '?')} {_signed(impact.get('expected_delta'))}"]
    if row is None:
        lines.append("  realised: not in the impact ledger yet (run `arc-eval dbt build` after new runs)")
        return "\n".join(lines)
    versions = f"v{row['applied_version_number']} vs v{row['base_version_number']}"
    if row["state"] != "measured":
        lines.append(
            f"  realised: {row['state']} ({versions}: {row['metric_pairs']} paired scenarios so far,"
            f" {row['runs_after']} runs since the change)"
        )
        return "\n".join(lines)
    if row["metric_measurable"]:
        interval = (
            f" [{float(row['ci_low']):+.4g}, {float(row['ci_high']):+.4g}]"
            if row["ci_low"] is not None
            else ""
        )
        lines.append(
            f"  realised: {row['metric']} {_signed(row['realised_delta'])}{interval} ({versions},"
            f" {row['metric_pairs']} paired scenarios, p={float(row['p_value']):.3g}):"
            f" {row['verdict']}, prediction {row['prediction']}"
        )
    else:
        lines.append(f"  realised: {row['prediction']} ({row['metric']!r}; {versions})")
    lines.append(
        f"  also: reliability {_signed(row['reliability_delta'])}, success rate {_signed(row['success_rate_delta'])},"
        f" cost per run {_signed(row['cost_per_run_delta_usd'])} USD"
    )
    return "\n".join(lines)
