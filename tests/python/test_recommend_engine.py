"""The recommender end to end on a real PostgreSQL: loader-written history, dbt build, engine, review."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import threading
import uuid

import psycopg
import pytest
import yaml
from psycopg.rows import dict_row

from arc_eval import cli, dbt
from arc_eval.recommend import engine, inputs, review, rules
from arc_eval.recommend.providers import OpenAIProvider
from arc_eval.recommend.validate import validate_items
from fake_llm import FakeLLM, Reply, completion, recommendations_reply
from recommend_helpers import build_history

pytestmark = pytest.mark.slow

REVIEWER = uuid.UUID("22222222-2222-4222-8222-222222222222")
WEEK = dt.timedelta(days=7)


@pytest.fixture(scope="module")
def history(make_database):
    target = make_database("rec")
    dbt.init_warehouse(target)
    ids = build_history(target.conninfo)
    dbt.run(["build"], target, quiet=True)
    return target, ids


@pytest.fixture
def conn(history):
    with psycopg.connect(history[0].conninfo) as connection:
        yield connection


def raw(name: str) -> str:
    return f'"{dbt.raw_schema()}".{name}'


def counts(conn) -> tuple[int, int, int]:
    row = conn.execute(
        f"select (select count(*) from {raw('llm_recommendation_sessions')}),"
        f" (select count(*) from {raw('recommendations')}), (select count(*) from {raw('config_versions')})"
    ).fetchone()
    conn.rollback()
    return tuple(row)


def session_row(conn, session_id) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"select * from {raw('llm_recommendation_sessions')} where session_id = %s", (session_id,)
        ).fetchone()
    conn.rollback()
    return row


def rec_rows(conn, session_id) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"select * from {raw('recommendations')} where session_id = %s order by recommendation_type",
            (session_id,),
        ).fetchall()
    conn.rollback()
    return rows


def test_dry_run_writes_nothing(conn):
    before = counts(conn)
    result = engine.recommend(conn, window=WEEK, provider="rules", dry_run=True)
    assert counts(conn) == before
    assert result.session_id is None and result.candidates
    assert "would write" in engine.describe(result)


def test_rules_provider_writes_session_and_recommendations_of_three_types(conn, history):
    _, ids = history
    result = engine.recommend(conn, window=WEEK, provider="rules", user_id=REVIEWER)
    assert result.status == "completed" and result.dropped == []
    session = session_row(conn, result.session_id)
    assert session["session_status"] == "completed" and session["user_id"] == REVIEWER
    assert session["provider"] == "rules" and session["llm_model"] == rules.RULES_MODEL
    assert session["prompt_template_version"] == "recommend_v2"
    assert session["prompt_sha256"] == result.prompt.sha256
    assert session["data_window_end"] - session["data_window_start"] == WEEK
    assert session["analysis_end_time"] >= session["analysis_start_time"]
    assert session["total_outcomes_analyzed"] == 24 + 16 + 24
    assert session["patterns_identified"] == 6 + 8 + 3
    assert (
        session["recommendations_generated"]
        == len(result.candidates)
        == len(rec_rows(conn, result.session_id))
    )
    assert session["recommendations_dropped"] == 0 and session["analysis_cost_usd"] == 0

    recs = rec_rows(conn, result.session_id)
    assert len({r["recommendation_type"] for r in recs}) >= 3
    by_key = {(r["config_id"], r["recommendation_type"]): r for r in recs}
    temperature = [
        r
        for r in recs
        if r["config_id"] == ids["support"]
        and yaml.safe_load(r["suggested_yaml_changes"]) == {"temperature": 0.3}
    ]
    assert len(temperature) == 1 and temperature[0]["source_type"] == "config_diff"
    tool = by_key[(ids["research"], "tool_optimization")]
    assert yaml.safe_load(tool["suggested_yaml_changes"]) == {"tool_config.web_search.timeout_ms": 8000}
    assert tool["source_type"] == "pattern_analysis"
    timeout = by_key[(ids["review"], "performance_tuning")]
    assert yaml.safe_load(timeout["suggested_yaml_changes"]) == {"timeout_ms": 180000}
    # The cheaper-model rule is silent: the default patch allow-list does not let a recommendation
    # switch the model (see test_trust_recommend for a policy that does).
    assert not [r for r in recs if "model:" in r["suggested_yaml_changes"]]
    assert (ids["review"], "scenario_addition") in by_key

    analytics = dbt.analytics_schema()
    for r in recs:
        assert r["llm_prompt_hash"] == result.prompt.sha256 and r["historical_data_window"] == WEEK
        assert r["review_status"] == "pending" and not r["applied"]
        impact = r["impact_estimate"]
        assert set(impact) == {"metric", "expected_delta", "basis"}
        table, column = {
            "pattern_analysis": ("failure_clusters", "pattern_cluster_id"),
            "time_series_analysis": ("config_version_performance", "version_id"),
            "config_diff": ("stg_config_diffs", "diff_id"),
            "simulation": ("stg_simulations", "simulation_id"),
        }[r["source_type"]]
        found = conn.execute(
            f'select count(*) from "{analytics}".{table} where {column} = %s', (r["source_id"],)
        ).fetchone()[0]
        assert found == 1, r["source_type"]
    conn.rollback()


def _fresh(items: list[dict]) -> list[dict]:
    """``items`` with patches no earlier test wrote (a new temperature each), so none is a duplicate."""
    return [
        {**item, "suggested_yaml_changes": f"temperature: {0.011 + next(_TEMPERATURES) * 0.001:.3f}\n"}
        for item in items
    ]


_TEMPERATURES = itertools.count()


def _items_from_rules(conn) -> list[dict]:
    """Valid items for the current data, as an LLM would answer them (the rule set's own output)."""
    data = inputs.read_inputs(conn, window=WEEK)
    conn.rollback()
    return rules.recommend(data)


def _openai(fake: FakeLLM, **kwargs) -> OpenAIProvider:
    options = {"timeout": 5.0, "max_retries": 1}
    options.update(kwargs)
    return OpenAIProvider(base_url=fake.base_url, api_key="sk-test", model="gpt-4o-mini", **options)


def test_openai_answer_with_schema_invalid_items_keeps_the_valid_ones(conn):
    items = _fresh(_items_from_rules(conn)[:2])
    bad = [
        {**items[0], "recommendation_type": "magic"},
        {**items[0], "source_id": str(uuid.uuid4())},
        {**items[0], "suggested_yaml_changes": "temperature: 9\n"},
        {"config_id": items[0]["config_id"]},
    ]
    with FakeLLM([recommendations_reply(items + bad, prompt_tokens=4000, completion_tokens=800)]) as fake:
        result = engine.recommend(conn, window=WEEK, provider=_openai(fake), user_id=REVIEWER)
    assert result.status == "completed"
    session = session_row(conn, result.session_id)
    assert session["provider"] == "openai" and session["llm_model"] == "gpt-4o-mini"
    assert session["llm_temperature"] == pytest.approx(0.1)
    assert (session["prompt_tokens"], session["completion_tokens"]) == (4000, 800)
    assert session["analysis_cost_usd"] == pytest.approx(4 * 0.00015 + 0.8 * 0.0006, rel=1e-5)
    assert session["recommendations_generated"] == 2 and session["recommendations_dropped"] == 4
    reasons = [d["reason"] for d in session["dropped_reasons"]]
    assert [d["index"] for d in session["dropped_reasons"]] == [2, 3, 4, 5]
    assert "recommendation_type" in reasons[0] and "not a" in reasons[1] and "temperature" in reasons[2]
    assert len(rec_rows(conn, result.session_id)) == 2
    body = fake.requests[0].body
    assert body["messages"][1]["content"] in result.prompt.text


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (completion("I think you should lower the temperature."), "not JSON"),
        (completion('{"advice": []}'), "recommendations"),
        (Reply(200, {"choices": []}, delay=2.0), "no answer within"),
    ],
    ids=["malformed", "wrong-shape", "timeout"],
)
def test_unusable_provider_output_records_a_failed_session(conn, reply, message):
    before = counts(conn)
    with FakeLLM([reply]) as fake:
        result = engine.recommend(conn, window=WEEK, provider=_openai(fake, timeout=0.5), user_id=REVIEWER)
    assert result.status == "failed" and message in result.error_message
    session = session_row(conn, result.session_id)
    assert session["session_status"] == "failed" and message in session["error_message"]
    assert session["recommendations_generated"] == 0 and rec_rows(conn, result.session_id) == []
    assert counts(conn)[:2] == (before[0] + 1, before[1])


def test_requested_session_is_fulfilled(conn):
    requested = conn.execute(
        f"select {dbt.raw_schema()}.trigger_llm_recommendation_analysis(interval '7 days', %s)", (REVIEWER,)
    ).fetchone()[0]
    conn.commit()
    assert session_row(conn, requested)["session_status"] == "requested"
    result = engine.recommend(conn, window=WEEK, provider="rules")
    assert result.fulfilled_request and result.session_id == requested
    session = session_row(conn, requested)
    assert session["session_status"] == "completed" and session["llm_model"] == rules.RULES_MODEL
    assert session["user_id"] == REVIEWER and session["recommendations_generated"] == len(result.candidates)
    assert len(result.candidates) + len(result.duplicates) > 0


def _latest_recs(conn, config_name: str | None = None) -> list[dict]:
    """Run the rules provider, then return the pending recommendations (of ``config_name``), newest first."""
    engine.recommend(conn, window=WEEK, provider="rules", config_name=config_name)
    return [
        r
        for r in review.list_recommendations(conn, state="pending", config_name=config_name, limit=1000)
        if not review.is_stale(r)
    ]


def test_review_reject_approve_and_feedback(conn):
    rec = _latest_recs(conn)[0]
    rec_id = rec["recommendation_id"]
    rejected = review.reject(conn, rec_id, REVIEWER, reason="not now")
    assert rejected.changed and rejected.state == "rejected"
    row = review.get_recommendation(conn, rec_id)
    assert row["review_status"] == "rejected" and row["reviewed_by"] == REVIEWER
    assert row["reviewed_at"] is not None and row["review_reason"] == "not now"
    with pytest.raises(review.ReviewError, match="rejected"):
        review.apply(conn, rec_id, REVIEWER)
    with pytest.raises(review.ReviewError, match="re-open it first"):
        review.approve(conn, rec_id, REVIEWER)
    assert review.reopen(conn, rec_id, REVIEWER).state == "pending"
    assert review.approve(conn, rec_id, REVIEWER).state == "approved"
    review.feedback(conn, rec_id, 4, REVIEWER)
    assert review.get_recommendation(conn, rec_id)["feedback_score"] == 4
    with pytest.raises(review.ReviewError, match="1 to 5"):
        review.feedback(conn, rec_id, 6, REVIEWER)
    assert review.resolve_id(conn, str(rec_id)[:13]) == rec_id
    assert any(r["recommendation_id"] == rec_id for r in review.list_recommendations(conn, state="approved"))


def test_apply_creates_one_version_even_when_applied_twice_concurrently(conn, history):
    target, ids = history
    [rec] = [
        r
        for r in _latest_recs(conn, config_name="review-bot")
        if r["recommendation_type"] == "performance_tuning"
        and yaml.safe_load(r["suggested_yaml_changes"]) == {"timeout_ms": 180000}
    ]
    before = counts(conn)[2]
    preview = review.preview(conn, rec)
    assert "-timeout_ms: 120000\n+timeout_ms: 180000" in preview.diff
    review.approve(conn, rec["recommendation_id"], REVIEWER)

    results: list = []

    def worker() -> None:
        with psycopg.connect(target.conninfo) as own:
            results.append(review.apply(own, rec["recommendation_id"], REVIEWER))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and len({r.version_id for r in results}) == 1
    assert sorted(r.already_applied for r in results) == [False, True]
    again = review.apply(conn, rec["recommendation_id"], REVIEWER)
    assert again.already_applied and again.version_id == results[0].version_id
    assert counts(conn)[2] == before + 1

    with conn.cursor(row_factory=dict_row) as cur:
        version = cur.execute(
            f"select * from {raw('config_versions')} where version_id = %s", (again.version_id,)
        ).fetchone()
        diff = cur.execute(
            f"select * from {raw('config_diffs')} where version_after = %s", (again.version_id,)
        ).fetchone()
        applied = cur.execute(
            f"select * from {raw('recommendations')} where recommendation_id = %s",
            (rec["recommendation_id"],),
        ).fetchone()
        latest = cur.execute(
            f"select latest_version_id from {raw('configurations')} where config_id = %s", (ids["review"],)
        ).fetchone()
    conn.rollback()
    assert version["generated_by"] == "llm_recommendation" and version["version_number"] == 3
    assert yaml.safe_load(version["raw_yaml"])["timeout_ms"] == 180000
    assert yaml.safe_load(version["raw_yaml"])["model"] == "gpt-4-turbo"
    assert diff["llm_generated"] and diff["approval_status"] == "approved" and diff["approved_by"] == REVIEWER
    assert diff["version_before"] == ids["review_v2"] and diff["impact_prediction"] == rec["impact_estimate"]
    assert applied["applied"] and applied["applied_by"] == REVIEWER and applied["applied_at"] is not None
    assert applied["applied_version_id"] == version["version_id"] and applied["review_status"] == "approved"
    assert latest["latest_version_id"] == version["version_id"]


def test_apply_of_a_revert_makes_the_identical_version_current(conn, history):
    _, ids = history
    recs = _latest_recs(conn, config_name="research-bot")
    [rec] = [
        r
        for r in recs
        if r["recommendation_type"] == "tool_optimization"
        and yaml.safe_load(r["suggested_yaml_changes"]) == {"tool_config.web_search.timeout_ms": 8000}
    ]
    before = counts(conn)[2]
    review.approve(conn, rec["recommendation_id"], REVIEWER)
    result = review.apply(conn, rec["recommendation_id"], REVIEWER)
    assert not result.created and result.version_id == ids["research_v1"]
    assert counts(conn)[2] == before
    with conn.cursor(row_factory=dict_row) as cur:
        latest = cur.execute(
            f"select latest_version_id from {raw('configurations')} where config_id = %s", (ids["research"],)
        ).fetchone()["latest_version_id"]
        diff = cur.execute(
            f"select * from {raw('config_diffs')} where version_before = %s and version_after = %s",
            (ids["research_v2"], ids["research_v1"]),
        ).fetchone()
    conn.rollback()
    assert latest == ids["research_v1"]
    assert diff["llm_generated"] and diff["approval_status"] == "approved" and diff["approved_by"] == REVIEWER


def test_cli_recommend_list_show(history, monkeypatch, capsys):
    target, _ = history
    monkeypatch.setenv("ARC_EVAL_DSN", target.conninfo)
    assert cli.main(["recommend", "--dry-run", "--config", "support-bot", "--window", "7d"]) == 0
    out = capsys.readouterr().out
    assert "nothing was written" in out
    assert "=== prompt" not in out and "--show-prompt" in out  # a summary first, the prompt on request
    assert len(max(out.splitlines(), key=len)) < 400
    assert cli.main(["recommend", "--dry-run", "--show-prompt", "--config", "support-bot"]) == 0
    shown = capsys.readouterr().out
    assert shown.index("nothing was written") < shown.index("=== prompt (") < shown.rindex("support-bot")
    assert cli.main(["recommend", "--config", "support-bot"]) == 0
    capsys.readouterr()
    assert cli.main(["recommendations", "list", "--config", "support-bot", "--state", "pending"]) == 0
    listing = capsys.readouterr().out
    short = listing.splitlines()[1].split()[0]
    assert cli.main(["recommendations", "show", short]) == 0
    shown = capsys.readouterr().out
    assert "YAML patch (sha256 " in shown and "diff against the current version 2" in shown
    assert cli.main(["recommendations", "feedback", short, "5", "--user", str(REVIEWER)]) == 0
    assert "5/5" in capsys.readouterr().out


def test_inputs_need_no_privilege_on_the_raw_schema_or_the_staging_models(history):
    target, _ = history
    role = f"arc_eval_reader_{uuid.uuid4().hex[:8]}"
    analytics = dbt.analytics_schema()
    with psycopg.connect(target.conninfo, autocommit=True) as admin:
        admin.execute(f'create role "{role}"')
        admin.execute(f'grant usage on schema "{analytics}" to "{role}"')
        admin.execute(f'grant select on all tables in schema "{analytics}" to "{role}"')
        staging = admin.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = %s and c.relname like 'stg\\_%%'",
            (analytics,),
        ).fetchall()
        assert len(staging) >= 10
        for (name,) in staging:  # the staging models are not inputs either
            admin.execute(f'revoke select on "{analytics}"."{name}" from "{role}"')
    try:
        with psycopg.connect(target.conninfo) as conn:
            conn.execute(f'set role "{role}"')
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select count(*) from {raw('outcomes')}")
            conn.rollback()
            conn.execute(f'set role "{role}"')
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f'select count(*) from "{analytics}".stg_outcomes')
            conn.rollback()
            conn.execute(f'set role "{role}"')
            data = inputs.read_inputs(conn, window=WEEK)
            conn.rollback()
        assert {c["name"] for c in data["configurations"]} >= {"support-bot", "review-bot"}
        assert data["counts"]["outcomes"] > 0 and data["version_comparisons"] and data["failure_clusters"]
        assert data["tool_performance"] and data["scenario_health"] and data["simulations"]
        assert {m["metric"] for m in data["measurable_metrics"]} >= {"avg_reliability", "avg_cost_usd"}
    finally:
        with psycopg.connect(target.conninfo, autocommit=True) as admin:
            admin.execute(f'drop owned by "{role}"')
            admin.execute(f'drop role "{role}"')


def test_the_window_reaches_the_windowed_models(conn):
    recent = inputs.read_inputs(conn, window=dt.timedelta(days=4))
    conn.rollback()
    week = inputs.read_inputs(conn, window=WEEK)
    conn.rollback()
    assert recent["counts"]["outcomes"] == 12 + 8 + 12 and week["counts"]["outcomes"] == 24 + 16 + 24
    assert recent["counts"]["failure_patterns"] == 6 + 8 + 3
    with (
        psycopg.connect(conn.info.dsn, autocommit=True) as auto,
        pytest.raises(inputs.InputsError, match="autocommit"),
    ):
        inputs.read_inputs(auto, window=WEEK)


def test_session_and_recommendations_are_written_atomically(conn):
    result = engine.recommend(conn, window=WEEK, provider="rules", dry_run=True)
    result.candidates, _ = validate_items(
        _fresh(_items_from_rules(conn)), engine.validation_context(result.inputs)
    )
    assert len(result.candidates) >= 2
    broken = dataclasses.replace(result.candidates[-1], source_type="not_a_source_type")
    result.candidates = [*result.candidates[:-1], broken]
    result.dry_run = False
    before = counts(conn)
    with pytest.raises(psycopg.errors.CheckViolation):
        engine.write_session(conn, result, WEEK)
    conn.rollback()
    assert counts(conn) == before


def test_cli_openai_provider_from_environment(conn, history, monkeypatch, capsys):
    target, ids = history
    items = _fresh([i for i in _items_from_rules(conn) if i["config_id"] == str(ids["support"])])
    assert items
    secret = "sk-cli-test-" + uuid.uuid4().hex
    monkeypatch.setenv("ARC_EVAL_DSN", target.conninfo)
    monkeypatch.setenv("ARC_EVAL_LLM_API_KEY", secret)
    monkeypatch.setenv("ARC_EVAL_LLM_MODEL", "gpt-4o")
    with FakeLLM([recommendations_reply(items)]) as fake:
        monkeypatch.setenv("ARC_EVAL_LLM_BASE_URL", fake.base_url)
        code = cli.main(["recommend", "--provider", "openai", "--config", "support-bot"])
    captured = capsys.readouterr()
    assert code == 0 and secret not in captured.out + captured.err
    assert "provider: openai  model: gpt-4o" in captured.out and f"wrote {len(items)}," in captured.out
    assert fake.requests[0].headers["Authorization"] == f"Bearer {secret}"
    assert fake.requests[0].body["model"] == "gpt-4o"


def test_dry_run_never_calls_a_paid_provider_and_needs_no_key(conn, history, monkeypatch, capsys):
    target, _ = history
    for name in ("ARC_EVAL_LLM_API_KEY", "OPENAI_API_KEY", "ARC_EVAL_LLM_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARC_EVAL_DSN", target.conninfo)
    before = counts(conn)
    assert (
        cli.main(
            ["recommend", "--provider", "openai", "--dry-run", "--show-prompt", "--config", "support-bot"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "provider: openai  model: gpt-4o-mini  temperature: 0.1  (not called in a dry run)" in out
    assert "=== prompt (" in out and "would write 0," in out
    with FakeLLM([recommendations_reply([])]) as fake:
        monkeypatch.setenv("ARC_EVAL_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("ARC_EVAL_LLM_API_KEY", "sk-dry-run")
        assert cli.main(["recommend", "--provider", "openai", "--dry-run"]) == 0
        assert fake.requests == []
    assert counts(conn) == before


def _pending_twins(conn) -> list[tuple]:
    """(config, patch) pairs held by more than one pending, approved or applied recommendation."""
    rows = conn.execute(
        f"select config_id, suggested_yaml_changes, count(*) from {raw('recommendations')}"
        " where applied or review_status in ('pending', 'approved')"
        " group by config_id, suggested_yaml_changes having count(*) > 1"
    ).fetchall()
    conn.rollback()
    return rows


def test_recommend_twice_writes_no_duplicate(conn, history, monkeypatch, capsys):
    target, _ = history
    first = engine.recommend(conn, window=WEEK, provider="rules")
    second = engine.recommend(conn, window=WEEK, provider="rules")
    assert second.status == "completed" and second.recommendation_ids == []
    assert second.duplicates and len(second.duplicates) == len(first.candidates) + len(first.duplicates)
    session = session_row(conn, second.session_id)
    assert session["recommendations_generated"] == 0 and rec_rows(conn, second.session_id) == []
    recorded = [d for d in session["dropped_reasons"] if "duplicate_of" in d]
    assert len(recorded) == len(second.duplicates)
    pending = {str(r["recommendation_id"]) for r in review.list_recommendations(conn, limit=10000)}
    assert all(d["duplicate_of"] in pending for d in recorded)
    monkeypatch.setenv("ARC_EVAL_DSN", target.conninfo)
    assert cli.main(["recommend"]) == 0 and cli.main(["recommend"]) == 0
    out = capsys.readouterr().out
    assert "recommendations: wrote 0," in out and "not written:" in out
    assert _pending_twins(conn) == []


def test_stale_recommendation_is_refused_unless_rebased(conn, history, monkeypatch, capsys):
    target, ids = history
    recs = _latest_recs(conn, config_name="support-bot")
    [fix] = [r for r in recs if yaml.safe_load(r["suggested_yaml_changes"]) == {"temperature": 0.3}]
    others = [r for r in recs if r["recommendation_id"] != fix["recommendation_id"]]
    assert others and all(r["base_version_id"] == ids["support_v2"] for r in others)
    review.approve(conn, fix["recommendation_id"], REVIEWER)
    made = review.apply(conn, fix["recommendation_id"], REVIEWER)  # a revert: v1 is current again
    assert (made.version_id, made.version_number) == (ids["support_v1"], 1)
    twin = others[0]
    before = counts(conn)[2]
    with pytest.raises(review.ReviewError) as refused:
        review.approve(conn, twin["recommendation_id"], REVIEWER)
    message = str(refused.value)
    assert "stale" in message and "against version 2" in message and "current version is 1" in message
    assert str(ids["support_v2"]) in message and str(made.version_id) in message
    with pytest.raises(review.ReviewError, match="approve it first"):
        review.apply(conn, twin["recommendation_id"], REVIEWER)
    assert (
        counts(conn)[2] == before
        and not review.get_recommendation(conn, twin["recommendation_id"])["applied"]
    )

    monkeypatch.setenv("ARC_EVAL_DSN", target.conninfo)
    short = str(twin["recommendation_id"])[:13]
    assert cli.main(["recommendations", "list", "--config", "support-bot"]) == 0
    assert any(
        line.startswith(short[:8]) and " stale " in line for line in capsys.readouterr().out.splitlines()
    )
    assert cli.main(["recommendations", "show", short]) == 0
    assert "stale: made against version 2, the current version is 1" in capsys.readouterr().out
    assert cli.main(["recommendations", "approve", short, "--user", str(REVIEWER)]) == 1
    assert "stale" in capsys.readouterr().err
    assert cli.main(["recommendations", "approve", short, "--rebase", "--user", str(REVIEWER)]) == 0
    assert cli.main(["recommendations", "apply", short, "--user", str(REVIEWER)]) == 0
    assert "version 3" in capsys.readouterr().out
    rebased = review.get_recommendation(conn, twin["recommendation_id"])
    assert rebased["applied"] and rebased["approved_base_version_id"] == made.version_id
