"""`arc-eval maintain` removes rows older than each retention window and keeps the recent ones, with
drop_chunks on hypertables and a batched DELETE elsewhere."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from arc_eval import cli
from arc_eval.connection import Target
from arc_eval.maintain import RETENTION, apply_retention
from schema_helpers import RAW, capabilities, create_raw_schema

AGES = {"old": "3 years", "recent": "1 day"}


@pytest.fixture()
def filled(make_database) -> Target:
    """A fresh warehouse with an old and a recent row in each retained table."""
    target = make_database("maint")
    create_raw_schema(target)
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        if capabilities(target).has_policies:
            # The community license's own retention jobs would race this test for the old rows: pause them.
            conn.execute("select alter_job(job_id, scheduled => false) from timescaledb_information.jobs")
        conn.execute(
            f"insert into {RAW}.scenarios (scenario_id, name, task_prompt) values ('m_s', 'Maint', 'A maintenance test')"
        )
        config_id, version_id, sim_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        conn.execute(
            f"insert into {RAW}.configurations (config_id, name, user_id) values (%s, 'maint config', %s)",
            [config_id, uuid.uuid4()],
        )
        conn.execute(
            f"""insert into {RAW}.config_versions (version_id, config_id, version_number, raw_yaml, parsed_config,
                config_hash) values (%s, %s, 1, 'm', '{{"model": "m", "temperature": 0}}', repeat('a', 64))""",
            [version_id, config_id],
        )
        conn.execute(
            f"""insert into {RAW}.simulations (simulation_id, config_version_id, scenario_set, total_scenarios)
                values (%s, %s, '{{m_s}}', 1)""",
            [sim_id, version_id],
        )
        for label, age in AGES.items():
            outcome_id = uuid.uuid4()
            at = conn.execute("select now() - %s::interval", [age]).fetchone()[0]
            conn.execute(
                f"""insert into {RAW}.outcomes (outcome_id, simulation_id, scenario_id, execution_time, status,
                    reliability_score, execution_time_ms, tokens_used, cost_usd, trajectory, error_code)
                    values (%s, %s, 'm_s', %s, 'error', 0, 1, 1, 0, '{{"start_time": "t", "status": "error"}}', %s)""",
                [outcome_id, sim_id, at, label],
            )
            conn.execute(
                f"""insert into {RAW}.tool_usage (outcome_id, execution_time, tool_name, call_count, avg_duration_ms,
                    success_rate, sandbox_tool_logs) values (%s, %s, 'calculator', 1, 1, 1, %s)""",
                [outcome_id, at, label],
            )
            conn.execute(
                f"""insert into {RAW}.failure_patterns (outcome_id, execution_time, failure_type, failure_category,
                    error_message) values (%s, %s, 'E', 'unknown', %s)""",
                [outcome_id, at, label],
            )
            conn.execute(
                f"""insert into {RAW}.audit_log (table_name, operation, user_agent, "timestamp")
                    values ('t', 'INSERT', %s, %s)""",
                [label, at],
            )
    return target


LABEL_COLUMN = {
    "outcomes": "error_code",
    "tool_usage": "sandbox_tool_logs",
    "failure_patterns": "error_message",
    "audit_log": "user_agent",
}


def labels(target: Target) -> dict[str, list[str]]:
    with psycopg.connect(target.conninfo) as conn:
        return {
            t: sorted(r[0] for r in conn.execute(f"select {c} from {RAW}.{t} where {c} in ('old', 'recent')"))
            for t, c in LABEL_COLUMN.items()
        }


def test_old_rows_go_recent_rows_stay(filled: Target) -> None:
    hypertables = capabilities(filled).has_timescaledb
    dry = {a.table: a for a in apply_retention(filled.conninfo, RAW, dry_run=True)}
    assert labels(filled) == {t: ["old", "recent"] for t in LABEL_COLUMN}  # a dry run changes nothing
    assert all(a.count == 1 for a in dry.values())

    actions = {a.table: a for a in apply_retention(filled.conninfo, RAW, batch_size=1)}
    assert labels(filled) == {t: ["recent"] for t in LABEL_COLUMN}
    assert set(actions) == set(RETENTION)
    for table, action in actions.items():
        chunked = hypertables and table != "audit_log"
        assert action.method == ("drop_chunks" if chunked else "delete")
        assert action.count == 1
        if not chunked:
            assert action.batches == 2  # batch_size=1: one batch deletes the row, the next finds none left
    # Again: nothing left to remove.
    assert all(a.count == 0 for a in apply_retention(filled.conninfo, RAW))


def test_maintain_command_prints_what_it_did(
    filled: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARC_EVAL_DSN", filled.conninfo)
    assert cli.main(["maintain"]) == 0
    out = capsys.readouterr().out
    assert "audit_log: DELETE older than 1 year: 1 row(s)" in out
    verb = "drop_chunks" if capabilities(filled).has_timescaledb else "DELETE"
    assert f"outcomes: {verb} older than 2 years: 1 " in out
    assert labels(filled)["outcomes"] == ["recent"]


def test_maintain_on_an_uninitialised_database_says_so(make_database) -> None:
    target = make_database("maint_empty")
    actions = apply_retention(target.conninfo, RAW)
    assert [(a.table, a.method) for a in actions] == [(t, "missing") for t in RETENTION]
    assert "run `arc-eval init`" in actions[0].describe()
