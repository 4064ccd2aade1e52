"""Run the project's dbt commands in-process, against the database arc-eval chose.

Follows elementary's discipline: dbt is driven through ``dbtRunner``, success is read from
``res.success`` (never from logs), and results are read back from the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .connection import (
    PLANNER_OPTIONS,
    Target,
    client_kwargs,
    data_dir,
    private_dir,
    redact_text,
    write_private,
)
from .settings import ANALYTICS_SCHEMA, RAW_SCHEMA, analytics_schema, raw_schema  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

PROFILE_NAME = "arc_eval"


class DbtError(RuntimeError):
    """A dbt command did not succeed."""


def project_dir() -> Path:
    """The dbt project (the repository root holding ``dbt_project.yml``)."""
    configured = os.environ.get("ARC_EVAL_PROJECT_DIR")
    candidates = [Path(configured)] if configured else []
    candidates += [Path(__file__).resolve().parents[2], Path.cwd()]
    for candidate in candidates:
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    raise DbtError("dbt_project.yml not found: set ARC_EVAL_PROJECT_DIR to the arc-eval project folder")


def _user_profile_exists() -> Path | None:
    folder = Path(os.environ.get("DBT_PROFILES_DIR") or Path.home() / ".dbt")
    path = folder / "profiles.yml"
    if path.is_file():
        try:
            profiles = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            return None
        if PROFILE_NAME in profiles:
            return folder
    return None


def profiles_dir() -> Path:
    """The user's profiles folder if it has an ``arc_eval`` profile; else one arc-eval writes.

    The written profile reads the libpq variables through ``env_var``, which :func:`run` sets
    from the chosen target, so it never holds a password.
    """
    existing = _user_profile_exists()
    if existing:
        return existing
    folder = private_dir(data_dir() / "dbt")
    example = yaml.safe_load((project_dir() / "profiles.yml.example").read_text())
    text = yaml.safe_dump(example, sort_keys=False)
    path = folder / "profiles.yml"
    if not path.is_file() or path.read_text() != text or path.stat().st_mode & 0o077:
        write_private(path, text)
    return folder


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


# Every dbt 1.11 command accepts --vars (for `docs` and `source` after their subcommand, where they are
# appended). Each gets the same vars: dbt parses the whole project again when they differ from the previous
# invocation's, so a `dbt ls` without them would cost the next `dbt run` its partial parse.
NO_VARS_COMMANDS = frozenset({"--version", "-v", "--help", "-h"})


def _split_vars(args: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """Take ``--vars`` out of ``args`` (so the project's own vars can be merged in) and parse it."""
    rest: list[str] = []
    found: dict[str, Any] = {}
    items = iter(args)
    for item in items:
        if item == "--vars" or item.startswith("--vars="):
            text = item.split("=", 1)[1] if "=" in item else next(items, "")
            found.update(parse_vars(text))
        else:
            rest.append(item)
    return rest, found


def parse_vars(text: str) -> dict[str, Any]:
    """dbt's ``--vars`` text (a YAML or JSON mapping) as a dict."""
    try:
        parsed = yaml.safe_load(text) if text else {}
    except yaml.YAMLError as exc:
        raise DbtError(f"--vars must be a YAML/JSON mapping: {str(exc).splitlines()[0]}") from None
    if not isinstance(parsed, dict):
        raise DbtError(f"--vars must be a YAML/JSON mapping, got {text!r}")
    return parsed


def check_reachable(target: Target, timeout_s: int = 10) -> None:
    """Connect once before dbt spends seconds parsing the project; a failure names where the target came from."""
    import psycopg

    from .connection import ConnectionError

    try:
        psycopg.connect(target.conninfo, connect_timeout=timeout_s).close()
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConnectionError(f"cannot connect to the database chosen by {target.source}: {reason}") from None


def _colour() -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def run(
    args: Sequence[str],
    target: Target,
    *,
    dbt_vars: Mapping[str, Any] | None = None,
    quiet: bool = False,
    callbacks: Sequence[Callable[[Any], None]] = (),
    manifest: Any = None,
) -> Any:
    """Run ``dbt <args>`` against ``target`` and return dbt's result.

    ``manifest``: a manifest from an earlier ``dbt parse`` of this process with the same vars; dbt then
    does not read the project again. Raises :class:`DbtError` when dbt reports failure.
    """
    check_reachable(target)
    from dbt.cli.main import dbtRunner

    project = project_dir()
    args, user_vars = _split_vars(args)
    cli_args = [*args, "--project-dir", str(project), "--profiles-dir", str(profiles_dir())]
    if args and args[0] not in NO_VARS_COMMANDS:
        merged = _project_vars(user_vars, dbt_vars)
        cli_args += ["--vars", json.dumps(merged)]
    if quiet:
        cli_args = ["--quiet", *cli_args]
    env = target.libpq_env()
    # JIT off in dbt's sessions as in the readers' (connection.PLANNER_OPTIONS): building a table from the
    # live models with JIT on compiled for seconds a plan that runs in milliseconds.
    env["PGOPTIONS"] = " ".join(filter(None, [os.environ.get("PGOPTIONS"), PLANNER_OPTIONS]))
    env.setdefault("ARC_EVAL_TARGET", os.environ.get("ARC_EVAL_TARGET", "dev"))
    env.setdefault("DBT_USE_COLORS", "true" if _colour() else "false")
    # dbt's anonymous usage events go to an outside server: off unless the user turns them on.
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    # Artifacts and logs go to the data folder, so concurrent runs on other databases never share them.
    work = data_dir()
    env.setdefault("DBT_TARGET_PATH", str(work / "dbt-target"))
    env.setdefault("DBT_LOG_PATH", str(work / "dbt-logs"))
    # dbt's artifacts and logs hold SQL and data: private like the rest of the data folder.
    umask = os.umask(0o077)
    try:
        with _environment(env):
            result = dbtRunner(manifest=manifest, callbacks=list(callbacks)).invoke(cli_args)
    finally:
        os.umask(umask)
    if not result.success:
        detail = f": {result.exception}" if result.exception else ""
        raise DbtError(f"`dbt {' '.join(args)}` failed{detail}")
    return result


def _project_vars(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The vars dbt gets: the raw schema arc-eval chose, then each layer over the one before."""
    merged: dict[str, Any] = {"raw_schema": raw_schema()}
    for layer in layers:
        merged.update(layer or {})
    return merged


def parse(target: Target, *, dbt_vars: Mapping[str, Any] | None = None) -> Any:
    """The project's manifest (``dbt parse``, partial parsing on), for commands that reuse it."""
    return run(["parse", "--no-write-json"], target, quiet=True, dbt_vars=dbt_vars).result


MANIFEST_CACHE = "manifest-cache.pickle"


def cached_parse(target: Target, *, dbt_vars: Mapping[str, Any] | None = None) -> Any:
    """:func:`parse`, kept between processes: the manifest is stored in the data folder (a private folder,
    pickled) under a key of everything it is made from (the project's files by :func:`project_stamp`, the
    dbt profile and the variables it reads but passwords, so the database and the schemas, the vars, the
    dbt and arc-eval versions) and read back while the key holds: a fifth of a second, where a parse takes
    two. Any other key, or a file that does not read back, parses again and replaces it; a manifest that
    cannot be stored is only parsed again next time."""
    path = data_dir() / MANIFEST_CACHE
    key = _manifest_key(target, dbt_vars)
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            # unpickling runs what the file says: only a file of this user that no one else may write
            if info.st_uid == os.getuid() and not info.st_mode & 0o022 and pickle.load(handle) == key:
                from dbt.contracts.graph.manifest import Manifest

                return Manifest(**pickle.load(handle))
    except FileNotFoundError:
        pass
    except Exception as exc:  # a truncated or foreign file, a class dbt no longer has: parse again
        log.info("the stored manifest does not read back (%s); parsing the project", type(exc).__name__)
    manifest = parse(target, dbt_vars=dbt_vars)
    try:  # whole or not at all, for a refresh starting meanwhile
        write_private(
            path, pickle.dumps(key) + pickle.dumps(_manifest_fields(manifest), pickle.HIGHEST_PROTOCOL)
        )
    except (OSError, pickle.PicklingError) as exc:  # not stored: the next process parses, nothing else
        log.warning("the manifest was not stored (%s); the next refresh parses the project", exc)
    return manifest


def _manifest_fields(manifest: Any) -> dict[str, Any]:
    """The manifest's contents by field name, its lookups left out (rebuilt when first used). Not the
    manifest itself: dbt pickles one as its fields in order, and that order misses a field (``fixtures``),
    so a manifest read back had each lookup in the next one's place (a ``ref`` then failed to compile)."""
    import dataclasses

    return {
        f.name: getattr(manifest, f.name)
        for f in dataclasses.fields(manifest)
        if f.init and not f.name.startswith("_")
    }


def _manifest_key(target: Target, dbt_vars: Mapping[str, Any] | None) -> str:
    from importlib.metadata import version

    profile = profiles_dir() / "profiles.yml"
    text = profile.read_text(encoding="utf-8") if profile.is_file() else ""
    # what the profile reads from the environment as dbt runs (run() puts the target's PG* variables in
    # it), the analytics schema among them; secrets left out (they name no relation)
    env = {"ARC_EVAL_TARGET": "dev", **os.environ, **target.libpq_env()}
    names = sorted(set(re.findall(r"env_var\(\s*['\"]+(\w+)", text)))  # quotes doubled in YAML
    parts = {
        "project": [str(project_dir()), *project_stamp()],
        "profile": hashlib.sha256(text.encode()).hexdigest(),
        "environment": {name: env.get(name) for name in names if "PASSWORD" not in name},
        "vars": _project_vars(dbt_vars),
        "versions": [version(name) for name in ("dbt-core", "dbt-postgres", "arc-eval")],
        "python": sys.version,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


# The files a parse reads; when none is newer, a manifest parsed earlier still holds.
PROJECT_FILES = ("dbt_project.yml", "selectors.yml", "models", "macros", "seeds", "tests/dbt")


def project_stamp() -> tuple[int, int]:
    """(newest modification time in nanoseconds, file count) of the project's files: changes when one is
    edited, added or removed."""
    root = project_dir()
    newest = count = 0
    for name in PROJECT_FILES:
        top = root / name
        for path in [top] if top.is_file() else top.rglob("*"):
            newest = max(newest, path.stat().st_mtime_ns)
            count += 1
    return newest, count


def refresh(
    target: Target,
    *,
    quiet: bool = False,
    dbt_vars: Mapping[str, Any] | None = None,
    manifest: Any = None,
) -> list[str]:
    """Bring the models up to date with the raw tables after new rows: the scheduled run.

    Runs the ``refresh`` selector (selectors.yml: the models that store rows, rollups and tables, and the
    views on the tables); before and after, builds every model of the project the database does not hold
    (all of them on a new database, a model added since the last ``dbt run``, views a rebuilt rollup
    dropped with it), and returns their names.
    Other views read their sources when queried, so they need a run only when the project changes: after
    an upgrade or an edit, run ``dbt run`` or ``dbt build``. ``manifest``: one from :func:`parse` with the
    same vars (a process that refreshes repeatedly parses once); without it, the one :func:`cached_parse`
    stored, or a parse when the project or the vars changed since.

    Without dbt while it can: each build of a rollup or a table stores in the database what its run does
    (macros/rollups/refresh.sql), and after a refresh through dbt the models and the ones each reads are kept
    in the data folder (``refresh-plan.json``) under the stored manifest's key. While that key holds (the
    project, the profile, the vars and the versions are unchanged), no plan was stored since (a ``dbt run``
    with other vars) and every model's relation exists, the refresh runs the stored plans, each once those
    of the models it reads are done, as many at once as the profile's threads, one transaction per model:
    a new process starts in a tenth of a second, where loading dbt and the project took seconds. Otherwise,
    or when a plan fails, it runs dbt, which stores them again.

    A refresh through dbt writes no artifacts (manifest.json, run_results.json: serialising them took a
    second of each turn, more in a new process, and would replace those of the last ``dbt run`` or
    ``build``) and logs to dbt's log file at level info, each model's result without its statements (the
    debug log was about a fifth of a turn's Python time); ``DBT_LOG_LEVEL_FILE`` chooses another level.
    """
    with _environment({"DBT_LOG_LEVEL_FILE": os.environ.get("DBT_LOG_LEVEL_FILE") or "info"}):
        return _refresh(target, quiet=quiet, dbt_vars=dbt_vars, manifest=manifest)


def _refresh(target: Target, *, quiet: bool, dbt_vars: Mapping[str, Any] | None, manifest: Any) -> list[str]:
    key = _manifest_key(target, dbt_vars)
    if _run_stored_plans(target, key, quiet=quiet):
        return []
    manifest = manifest or cached_parse(target, dbt_vars=dbt_vars)
    built: set[str] = set()
    invocations: set[str] = set()  # the dbt invocations of this refresh: the plans they stored are its own

    def run_dbt(args: list[str]) -> None:
        from dbt_common.invocation import get_invocation_id

        try:
            run(args, target, quiet=quiet, dbt_vars=dbt_vars, manifest=manifest)
        finally:
            invocations.add(get_invocation_id())

    def build_missing() -> None:
        missing = missing_models(target, manifest)
        if missing:
            log.info("building the models the database lacks: %s", ", ".join(missing))
            run_dbt(["run", "--select", " ".join(missing)])
            built.update(missing)

    build_missing()
    run_dbt(["run", "--selector", "refresh", "--no-write-json"])
    build_missing()
    _store_plan_order(target, key, manifest, invocations)
    return sorted(built)


REFRESH_PLAN = "refresh-plan.json"
REFRESH_PLAN_FORMAT = 2  # of the file: one of another format is not read


def _plan_stamps(conn: Any, schemas: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per schema, {model name: [kind, when its plan was stored, the dbt invocation that stored it]} of the
    stored refresh plans."""
    from psycopg import sql

    stamps: dict[str, dict[str, Any]] = {}
    for schema in schemas:
        query = sql.SQL("select model_name, kind, stored_at::text, stored_by from {}.arc_eval_refresh_plan")
        rows = conn.execute(query.format(sql.Identifier(schema))).fetchall()
        stamps[schema] = {name: [kind, stored_at, stored_by] for name, kind, stored_at, stored_by in rows}
    return stamps


def _store_plan_order(target: Target, key: str, manifest: Any, invocations: set[str]) -> None:
    """After a refresh through dbt: the refresh models, each with the refresh models it reads (through
    views too), their plans' stamps, every model's relation and dbt's thread count, for
    :func:`_run_stored_plans`; only when the refresh's own dbt `invocations` stored every one of the plans
    (another process's ``dbt run`` meanwhile stored them with its own vars)."""
    import psycopg

    nodes = {
        uid: node
        for uid, node in manifest.nodes.items()
        if node.resource_type == "model" and node.config.materialized in ("rollup", "table")
    }
    ancestors: dict[str, set[str]] = {}

    def stored_ancestors(uid: str) -> set[str]:  # through views too: a table on a view on a rollup
        if uid not in ancestors:
            ancestors[uid] = set()
            node = manifest.nodes.get(uid)
            for parent in node.depends_on.nodes if node is not None else ():
                ancestors[uid] |= {parent} & nodes.keys() | stored_ancestors(parent)
        return ancestors[uid]

    def name(uid: str) -> str:
        return f"{nodes[uid].schema}.{nodes[uid].alias or nodes[uid].name}"

    models = {name(uid): sorted(name(parent) for parent in stored_ancestors(uid)) for uid in nodes}
    try:
        with psycopg.connect(target.conninfo, **client_kwargs()) as conn:
            stamps = _plan_stamps(conn, sorted({node.schema for node in nodes.values()}))
    except psycopg.Error as exc:
        log.warning("the refresh plans were not read (%s); the next refresh runs dbt", redact_text(str(exc)))
        return
    for model in models:
        schema, name = model.split(".", 1)
        if name not in stamps[schema]:
            return  # a model without a plan (built by an earlier version): dbt until it has one
        if stamps[schema][name][2] not in invocations:
            log.info(
                "another dbt run stored the refresh plan of %s meanwhile; the next refresh runs dbt", model
            )
            return
    plan = {
        "format": REFRESH_PLAN_FORMAT,
        "key": key,
        "models": models,
        "stamps": stamps,
        "relations": _model_relations(manifest),
        "threads": _profile_threads(),
    }
    try:
        write_private(data_dir() / REFRESH_PLAN, json.dumps(plan))
    except OSError as exc:
        log.warning("the refresh plan order was not stored (%s); the next refresh runs dbt", exc)


def _profile_threads() -> int:
    """The ``threads`` of the dbt profile's target (``ARC_EVAL_TARGET``, default dev), else 4."""
    try:
        profile = yaml.safe_load((profiles_dir() / "profiles.yml").read_text(encoding="utf-8"))[PROFILE_NAME]
        target = (
            profile["target"]
            if "{" not in str(profile["target"])
            else os.environ.get("ARC_EVAL_TARGET", "dev")
        )
        threads = int(profile["outputs"][target]["threads"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return 4
    return max(1, threads)


def _run_stored_plans(target: Target, key: str, *, quiet: bool) -> bool:
    """Runs the stored refresh plans (see :func:`refresh`), each after those of the models it reads, as many
    at once as dbt's threads, one connection each; False when they may not be used or one failed (the
    others started are finished first)."""
    import graphlib
    import queue
    import time
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    try:
        plan = json.loads((data_dir() / REFRESH_PLAN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(plan, dict) or plan.get("format") != REFRESH_PLAN_FORMAT or plan.get("key") != key:
        return False
    import psycopg
    from psycopg import sql

    check_reachable(target)
    threads = max(1, min(int(plan.get("threads") or 1), len(plan["models"])))
    connections: queue.SimpleQueue[psycopg.Connection] = queue.SimpleQueue()
    opened: list[psycopg.Connection] = []

    def run_plan(model: str) -> None:
        schema, name = model.split(".", 1)
        try:
            conn = connections.get_nowait()
        except queue.Empty:
            conn = psycopg.connect(target.conninfo, autocommit=True, **client_kwargs())
            opened.append(conn)
        try:
            began = time.monotonic()
            if plan["stamps"][schema][name][0] == "continuous_aggregate":  # outside a transaction
                call = sql.SQL("call refresh_continuous_aggregate({}, null, null)")
                conn.execute(call.format(sql.Literal(sql.Identifier(schema, name).as_string(conn))))
                action = "continuous aggregate refreshed"
            else:
                query = sql.SQL("select {}.arc_eval_refresh_model(%s)").format(sql.Identifier(schema))
                action = conn.execute(query, [name]).fetchone()[0]
            log.log(logging.DEBUG if quiet else logging.INFO, "refreshed %s: %s in %.3fs", model, action,
                    time.monotonic() - began)  # fmt: skip
        finally:
            connections.put(conn)

    try:
        conn = psycopg.connect(target.conninfo, autocommit=True, **client_kwargs())
        opened.append(conn)
        if _plan_stamps(conn, list(plan["stamps"])) != plan["stamps"] or _absent(conn, plan["relations"]):
            log.info("the stored refresh plans changed or a model is missing; refreshing through dbt")
            return False
        connections.put(conn)  # the first plan runs on it
        sorter = graphlib.TopologicalSorter(plan["models"])
        sorter.prepare()
        pool = ThreadPoolExecutor(threads, thread_name_prefix="arc-eval-refresh")
        try:
            running: dict[Any, str] = {}
            while sorter.is_active():
                running.update((pool.submit(run_plan, model), model) for model in sorter.get_ready())
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # a failed plan: stop here
                    sorter.done(running.pop(future))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    except psycopg.Error as exc:
        log.warning("a stored refresh plan failed (%s); refreshing through dbt", redact_text(str(exc)))
        return False
    finally:
        for conn in opened:
            conn.close()
    return True


def _model_relations(manifest: Any) -> list[list[str]]:
    """[name, schema, relation] of the manifest's models (ephemeral ones aside)."""
    return [
        [node.name, node.schema, node.alias or node.name]
        for node in manifest.nodes.values()
        if node.resource_type == "model" and node.config.materialized != "ephemeral"
    ]


def _absent(conn: Any, relations: Sequence[Sequence[str]]) -> list[str]:
    """The names of `relations` (from :func:`_model_relations`) the database does not hold."""
    rows = conn.execute(
        """
        select name from unnest(%s::text[], %s::text[], %s::text[]) as m (name, schema_name, relation)
        where not exists (
            select from pg_class as c join pg_namespace as n on c.relnamespace = n.oid
            where n.nspname = m.schema_name and c.relname = m.relation
        )
        order by name
        """,
        [[r[0] for r in relations], [r[1] for r in relations], [r[2] for r in relations]],
    ).fetchall()
    return [name for (name,) in rows]


def missing_models(target: Target, manifest: Any) -> list[str]:
    """The names of the manifest's models (ephemeral ones aside) with no relation in the database."""
    import psycopg

    with psycopg.connect(target.conninfo, **client_kwargs()) as conn:
        return _absent(conn, _model_relations(manifest))


def model_names(target: Target, select: str) -> list[str]:
    """The names of the project's models that dbt's selector ``select`` picks (``dbt ls``)."""
    result = run(
        ["--log-level", "none", "ls", "--resource-type", "model", "--select", select, "--output", "name"],
        target,
        quiet=True,
    )
    return sorted(result.result)


def init_warehouse(
    target: Target, *, seed: bool = True, quiet: bool = True, dbt_vars: dict | None = None
) -> None:
    """Create or migrate the raw schema (with ``dbt_vars`` over the project's vars), then load and upsert the
    scenario seeds.

    Safe to repeat: a second call changes nothing.
    """
    run(["run-operation", "arc_eval_create_raw_schema"], target, quiet=quiet, dbt_vars=dbt_vars)
    if seed:
        run(["seed"], target, quiet=quiet)
