"""Configurations and versions through the loader, against a real database."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from arc_eval import ArcEval, NotFoundError, ValidationError
from arc_eval.core import canonical_json, change_summary, prepare_config
from loader_helpers import YAML_V1, query, scalar, t, unique_name


@pytest.fixture
def db(warehouse):
    with ArcEval(warehouse.conninfo, flush_interval=None) as client:
        yield client


def test_versions_are_numbered_hashed_and_deduplicated_per_configuration(db, warehouse) -> None:
    user = uuid.uuid4()
    cid = db.create_configuration(unique_name(), user)
    v1 = db.create_config_version(cid, YAML_V1)
    assert (v1.version_number, v1.created) == (1, True)
    prepared = prepare_config(YAML_V1)
    assert v1.config_hash == prepared.config_hash and len(v1.config_hash) == 64
    import hashlib

    assert v1.config_hash == hashlib.sha256(canonical_json(prepared.parsed).encode()).hexdigest()

    # Same content, different formatting and key order: the same version comes back.
    same = "temperature: 0.2\nmodel: gpt-4o\ntool_config: {web_search: {timeout_ms: 8000}}\n"
    same += "tools:\n  - web_search\n  - calculator\nsystem_prompt: You are careful.\n"
    again = db.create_config_version(cid, same)
    assert (again.version_id, again.version_number, again.created) == (v1.version_id, 1, False)

    # Dedupe is per configuration: another configuration with the same content gets its own version 1.
    other = db.create_configuration(unique_name(), user)
    ov = db.create_config_version(other, YAML_V1)
    assert ov.created and ov.version_number == 1 and ov.version_id != v1.version_id

    rows = query(
        warehouse, f"SELECT latest_version_id FROM {t('configurations')} WHERE config_id = %s", [cid]
    )
    assert rows[0]["latest_version_id"] == v1.version_id
    stored = query(
        warehouse,
        f"SELECT parsed_config, raw_yaml, embedding IS NOT NULL AS e FROM {t('config_versions')} "
        "WHERE version_id = %s",
        [v1.version_id],
    )[0]
    assert stored["parsed_config"] == prepared.parsed and stored["raw_yaml"] == YAML_V1 and stored["e"]


def test_diff_row_has_unified_yaml_diff_and_change_summary(db, warehouse) -> None:
    cid = db.create_configuration(unique_name(), uuid.uuid4())
    v1 = db.create_config_version(cid, YAML_V1)
    v2_yaml = YAML_V1.replace("temperature: 0.2", "temperature: 0.7").replace(
        "timeout_ms: 8000", "timeout_ms: 2500"
    )
    v2_yaml = v2_yaml.replace("system_prompt: You are careful.\n", "") + "max_steps: 20\n"
    v2 = db.create_config_version(cid, v2_yaml)
    assert v2.version_number == 2
    diffs = query(warehouse, f"SELECT * FROM {t('config_diffs')} WHERE config_id = %s", [cid])
    assert len(diffs) == 1
    diff = diffs[0]
    assert (diff["version_before"], diff["version_after"]) == (v1.version_id, v2.version_id)
    assert diff["llm_generated"] is False and diff["approval_status"] == "pending"
    text = diff["diff_yaml"]
    assert text.startswith("--- version 1\n+++ version 2\n")
    for line in (
        "-temperature: 0.2",
        "+temperature: 0.7",
        "-    timeout_ms: 8000",
        "+    timeout_ms: 2500",
        "-system_prompt: You are careful.",
        "+max_steps: 20",
    ):
        assert line + "\n" in text
    assert diff["change_summary"] == {
        "added": {"max_steps": 20},
        "removed": {"system_prompt": "You are careful."},
        "changed": {
            "temperature": {"old": 0.2, "new": 0.7},
            "tool_config.web_search.timeout_ms": {"old": 8000, "new": 2500},
        },
    }
    # Version 1 has no predecessor, so it has no diff; a dedupe writes none either.
    db.create_config_version(cid, v2_yaml)
    assert scalar(warehouse, f"SELECT count(*) FROM {t('config_diffs')} WHERE config_id = %s", [cid]) == 1


def test_submitting_an_earlier_version_again_makes_it_current_without_a_copy(db, warehouse) -> None:
    cid = db.create_configuration(unique_name(), uuid.uuid4())
    v1 = db.create_config_version(cid, YAML_V1)
    v2 = db.create_config_version(cid, YAML_V1.replace("temperature: 0.2", "temperature: 0.9"))
    back = db.create_config_version(cid, YAML_V1)
    assert (back.version_id, back.version_number, back.created) == (v1.version_id, 1, False)
    latest = f"SELECT latest_version_id FROM {t('configurations')} WHERE config_id = %s"
    assert scalar(warehouse, latest, [cid]) == v1.version_id
    assert scalar(warehouse, f"SELECT count(*) FROM {t('config_versions')} WHERE config_id = %s", [cid]) == 2
    revert = query(
        warehouse,
        f"SELECT version_before, version_after, llm_generated, change_summary FROM {t('config_diffs')} "
        "WHERE config_id = %s AND version_before = %s",
        [cid, v2.version_id],
    )
    assert len(revert) == 1 and revert[0]["version_after"] == v1.version_id and not revert[0]["llm_generated"]
    assert revert[0]["change_summary"]["changed"] == {"temperature": {"old": 0.9, "new": 0.2}}


def test_change_summary_dotted_paths() -> None:
    before = {"a": 1, "b": {"c": 2, "d": {"e": 3}}, "gone": [1]}
    after = {"a": 1, "b": {"c": 5, "d": {"e": 3, "f": 4}}, "new": None}
    assert change_summary(before, after) == {
        "added": {"b.d.f": 4, "new": None},
        "removed": {"gone": [1]},
        "changed": {"b.c": {"old": 2, "new": 5}},
    }


def test_sixteen_concurrent_writers_get_consecutive_numbers(warehouse) -> None:
    with ArcEval(warehouse.conninfo, flush_interval=None, pool_max=8) as db:
        cid = db.create_configuration(unique_name("race"), uuid.uuid4())
        db.create_config_version(cid, YAML_V1)
        results, errors = [], []
        barrier = threading.Barrier(16)

        def writer(i: int) -> None:
            try:
                barrier.wait()
                results.append(
                    db.create_config_version(cid, {"model": "gpt-4o", "temperature": 0.5, "writer": i})
                )
            except Exception as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors
        numbers = sorted(v.version_number for v in results)
        assert numbers == list(range(2, 18))
        stored = query(
            warehouse,
            f"SELECT version_number, version_id FROM {t('config_versions')} "
            "WHERE config_id = %s ORDER BY version_number",
            [cid],
        )
        assert [r["version_number"] for r in stored] == list(range(1, 18))
        latest = scalar(
            warehouse, f"SELECT latest_version_id FROM {t('configurations')} WHERE config_id = %s", [cid]
        )
        assert latest == stored[-1]["version_id"]
        # Every version after the first has exactly one diff against its predecessor.
        pairs = query(
            warehouse,
            f"SELECT b.version_number AS b, a.version_number AS a FROM {t('config_diffs')} d "
            f"JOIN {t('config_versions')} b ON b.version_id = d.version_before "
            f"JOIN {t('config_versions')} a ON a.version_id = d.version_after WHERE d.config_id = %s",
            [cid],
        )
        assert sorted((p["b"], p["a"]) for p in pairs) == [(n - 1, n) for n in range(2, 18)]


def test_active_configs_soft_delete_and_names(db, warehouse) -> None:
    user = uuid.uuid4()
    name = unique_name("active")
    cid = db.create_configuration(name, user, sandbox_config={"image": "python:3.11"}, modal_app_id="app-1")
    assert db.create_configuration(name, user) == cid  # same owner: the existing one
    with pytest.raises(ValidationError, match="name"):
        db.create_configuration(name, uuid.uuid4())
    with pytest.raises(NotFoundError):
        db.get_active_config(name)  # no version yet
    v = db.create_config_version(name, YAML_V1)  # by name
    active = db.get_active_config(name)
    assert active["version_id"] == v.version_id and active["config"]["model"] == "gpt-4o"
    assert active["config_id"] == cid and active["modal_app_id"] == "app-1"
    assert any(c["config_id"] == cid for c in db.get_active_configurations())
    assert db.deactivate_configuration(cid) is True
    assert db.deactivate_configuration(cid) is False
    assert not any(c["config_id"] == cid for c in db.get_active_configurations())
    with pytest.raises(NotFoundError):
        db.get_active_config(name)
    assert scalar(warehouse, f"SELECT count(*) FROM {t('config_versions')} WHERE config_id = %s", [cid]) == 1


def test_audit_log_records_the_acting_user(db, warehouse) -> None:
    user, actor = uuid.uuid4(), uuid.uuid4()
    cid = db.create_configuration(unique_name("audit"), user)
    db.create_config_version(cid, YAML_V1, user_id=actor)
    rows = query(
        warehouse,
        f"SELECT table_name, operation, user_id FROM {t('audit_log')} WHERE user_id IN (%s, %s)",
        [user, actor],
    )
    seen = {(r["table_name"], r["operation"], r["user_id"]) for r in rows}
    assert ("configurations", "INSERT", user) in seen
    assert ("config_versions", "INSERT", actor) in seen


def test_caller_transaction_is_used_and_can_roll_back(db, warehouse) -> None:
    cid = db.create_configuration(unique_name("txn"), uuid.uuid4())
    db.create_config_version(cid, YAML_V1)
    with psycopg.connect(warehouse.conninfo) as conn:
        v = db.create_config_version(cid, {"model": "m", "temperature": 1}, connection=conn)
        assert v.version_number == 2
        conn.rollback()
    assert scalar(warehouse, f"SELECT count(*) FROM {t('config_versions')} WHERE config_id = %s", [cid]) == 1
    with psycopg.connect(warehouse.conninfo) as conn:
        v = db.create_config_version(cid, {"model": "m", "temperature": 1}, connection=conn)
    assert (
        scalar(warehouse, f"SELECT latest_version_id FROM {t('configurations')} WHERE config_id = %s", [cid])
        == v.version_id
    )


def test_similar_config_versions(db) -> None:
    cid = db.create_configuration(unique_name("sim"), uuid.uuid4())
    v1 = db.create_config_version(cid, YAML_V1)
    db.create_config_version(cid, {"model": "claude-3-5-haiku", "temperature": 1.5, "persona": "pirate poet"})
    hits = db.similar_config_versions(prepare_config(YAML_V1).parsed, k=2, config_id=cid)
    assert hits[0]["version_id"] == v1.version_id and hits[0]["similarity"] == pytest.approx(1.0, abs=1e-5)
    assert hits[1]["similarity"] < 0.9
