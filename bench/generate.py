"""Synthetic history at scale: N outcomes with their tool usage and failures, generated in the server.

Every row is computed by the server from ``generate_series`` (``INSERT ... SELECT``; no row crosses the
network and nothing goes through the simulator or the loader), so the generator runs at the speed of the
server's own writes. Values come from a hash of (row number, seed), never from ``random()``: the same seed
and the same options give the same rows on every server tier (plain PostgreSQL, TimescaleDB), whatever
the order or the parallelism of execution.

What the history looks like:

- configurations with several versions each (different models, temperatures, quality, price); a version
  is rolled out on a day and replaces its predecessor, which keeps running in a fifth of the simulations
  (a canary split, so versions can be compared scenario by scenario);
- the scenarios of the seed file (26), picked with a skew (a few scenarios run much more than others),
  each with its difficulty, expected tools and typical duration;
- a weekly pattern (weekends at a third of weekday traffic), a daily pattern (traffic peaks in the
  afternoon UTC, with a floor at night) and slow growth over the period;
- late rows: 1.5% of each day's rows carry an execution time up to three days earlier (they land in
  older chunks, as a sandbox retrying an upload would) and belong to the simulation running at that time;
- ids as the SDK makes them (``arc_eval.ids.uuid7``): UUIDv7 holding the simulation's start or the
  outcome's execution time, so ids follow time (their other bits come from the seed);
- tool usage for each expected tool of the scenario (sometimes skipped, sometimes an unexpected extra);
- a failure pattern per failed or timed-out outcome, in categories and message templates that make about
  twenty clusters.

Run: ``python bench/generate.py [--rows 10000000] [--seed 1] [--days N] [--database NAME]``; the server
comes from ARC_EVAL_DSN, the PG* or TIMESCALEDB_* variables, else the embedded server. It creates the
database (``--replace`` drops an existing one first), the raw schema and the seeds, writes the history with
progress lines and ends with ``VACUUM (ANALYZE)``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import sys
import time
import uuid
from collections.abc import Callable

import psycopg

from arc_eval import dbt
from arc_eval.connection import Target, resolve

OUTCOMES_PER_SIMULATION = 500
PER_DAY = 100_000
LATE_SHARE = 0.015
CANARY_SHARE = 0.2
# Share of the day's traffic in each UTC hour (a floor at night, a peak in the afternoon).
HOURLY_PROFILE = (
    (1.0, 0.8, 0.7, 0.6, 0.6, 0.7, 1.0, 1.6, 2.4, 3.2, 3.8, 4.2)
    + (4.4, 4.6, 4.8, 4.8, 4.6, 4.2, 3.6, 3.0, 2.4, 1.9, 1.5, 1.2)
)  # fmt: skip
WEEKEND_FACTOR = 0.35
GROWTH = 0.3  # traffic grows by this share over the period

# (configuration, [(model, temperature, quality, usd per 1k tokens), ...] one entry per version)
CONFIGURATIONS = (
    ("support-agent", [("gpt-4o-mini", 0.7, 0.78, 0.0006), ("gpt-4o-mini", 0.3, 0.82, 0.0006),
                       ("gpt-4o", 0.3, 0.88, 0.01), ("gpt-4o", 0.2, 0.86, 0.01)]),
    ("research-agent", [("claude-3-5-sonnet", 0.5, 0.80, 0.015), ("claude-3-5-sonnet", 0.2, 0.84, 0.015),
                        ("claude-3-5-haiku", 0.2, 0.76, 0.004)]),
    ("code-agent", [("gpt-4o", 0.2, 0.83, 0.01), ("gpt-4o", 0.0, 0.85, 0.01), ("o3-mini", 0.0, 0.89, 0.0044),
                    ("o3-mini", 0.1, 0.87, 0.0044), ("o3-mini", 0.0, 0.90, 0.0044)]),
    ("triage-agent", [("llama-3.1-70b", 0.4, 0.72, 0.0009), ("llama-3.1-70b", 0.2, 0.75, 0.0009),
                      ("qwen-2.5-72b", 0.2, 0.79, 0.0009)]),
)  # fmt: skip
DIFFICULTY_PENALTY = {"easy": 0.0, "medium": 0.06, "hard": 0.14}
# failure_category -> (share among errors, message templates); a (category, template) pair is one cluster.
FAILURES = (
    ("tool_error", 0.40, ("Tool {tool} returned HTTP 502", "Tool {tool} rejected its arguments: missing field",
                          "Tool {tool} timed out after 30s", "Rate limit exceeded calling {tool}")),
    ("model_error", 0.25, ("Model response was not valid JSON", "Context length exceeded by {n} tokens",
                           "Model refused the request")),
    ("validation_error", 0.15, ("Answer outside tolerance: expected {n}", "Output schema mismatch at field {tool}")),
    ("system_error", 0.10, ("Out of memory in worker {n}", "Database connection reset")),
    ("sandbox_error", 0.10, ("Sandbox exited with code {n}", "Sandbox image pull failed")),
)  # fmt: skip
TIMEOUT_MESSAGES = ("Scenario exceeded 300000 ms", "No response from model within {n} s")
EXTRA_TOOLS = ("web_search", "http_request", "code_interpreter", "file_reader", "calculator")


def _uuid(*parts: object) -> uuid.UUID:
    return uuid.UUID(hashlib.md5("/".join(map(str, parts)).encode()).hexdigest())


def _u(seed: int, stream: int, key: str = "i") -> str:
    """SQL for a uniform number in [0, 1) from the hash of ``key`` (a bigint expression) and a stream."""
    return (
        f"((hashint8extended({key}, {seed * 1000 + stream}) & 4503599627370495)::float8 / 4503599627370496.0)"
    )


def _uuid7(time: str, key: str) -> str:
    """SQL for a UUIDv7 as the SDK makes one (``arc_eval.ids.uuid7``): the Unix milliseconds of the
    timestamptz expression ``time``, then bits of ``md5(key)`` (version 7, RFC 9562 variant)."""
    return (
        f"(lpad(to_hex(floor(extract(epoch from {time}) * 1000)::bigint), 12, '0') || '7'"
        f" || substr(md5({key}), 14, 3) || '8' || substr(md5({key}), 18, 15))::uuid"
    )


def _z(seed: int, stream: int, key: str = "i") -> str:
    """SQL for an approximately standard normal number (sum of four uniforms, centred and scaled)."""
    return "((" + " + ".join(_u(seed, stream + k, key) for k in range(4)) + " - 2.0) * 1.7320508)"


def day_counts(rows: int, hours: list[int], start: dt.datetime) -> list[int]:
    """Rows per day (day d starts at start + d days and holds hours[d] hours of traffic): weekdays at full
    traffic, weekends at WEEKEND_FACTOR, growth over the period; the counts sum to ``rows``."""
    days = len(hours)
    weights = []
    for d, n in enumerate(hours):
        day = start + dt.timedelta(days=d)
        weekly = WEEKEND_FACTOR if day.weekday() >= 5 else 1.0
        weights.append(weekly * (1 + GROWTH * d / max(1, days - 1)) * sum(HOURLY_PROFILE[:n]))
    total = sum(weights)
    exact = [rows * w / total for w in weights]
    counts = [math.floor(x) for x in exact]
    for d in sorted(range(days), key=lambda k: counts[k] - exact[k])[: rows - sum(counts)]:
        counts[d] += 1
    return counts


def hour_bounds(count: int, hours: int = 24) -> list[int]:
    """Cumulative row offsets of the first ``hours`` hours of a day holding ``count`` rows (hours + 1 values)."""
    profile = HOURLY_PROFILE[:hours]
    total = sum(profile)
    bounds = [0]
    acc = 0.0
    for w in profile:
        acc += w
        bounds.append(round(count * acc / total))
    return bounds


def _versions(seed: int, days: int) -> list[tuple]:
    """(ci, vi, version_id, first_day, quality, price, model, temperature) of every configuration version:
    version vi of a configuration is rolled out on day first_day (spread over the period)."""
    out = []
    for ci, (_, versions) in enumerate(CONFIGURATIONS):
        for vi, (model, temperature, quality, price) in enumerate(versions):
            first_day = 0 if vi == 0 else max(0, round(vi * days / len(versions)) + (ci % 3) - 1)
            out.append(
                (ci, vi, _uuid("bench-version", seed, ci, vi), first_day, quality, price, model, temperature)
            )
    return out


def _lookup_tables(conn: psycopg.Connection, seed: int, days: int) -> None:
    """The session's lookup tables: versions and scenarios with what the generator derives from them."""
    r = dbt.raw_schema()
    conn.execute(
        "create temp table bench_versions (ci int, vi int, version_id uuid, first_day int, quality float8,"
        " price float8, model text)"
    )
    with conn.cursor() as cur:
        cur.executemany(
            "insert into bench_versions values (%s, %s, %s, %s, %s, %s, %s)",
            [v[:7] for v in _versions(seed, days)],
        )
    conn.execute(
        f"""create temp table bench_scenarios as
            select (row_number() over (order by scenario_id) - 1)::int as k, scenario_id,
                   case difficulty_level when 'hard' then {DIFFICULTY_PENALTY["hard"]}
                        when 'medium' then {DIFFICULTY_PENALTY["medium"]} else 0 end as penalty,
                   coalesce(estimated_duration_ms, 5000)::float8 as duration_ms,
                   coalesce(array(select jsonb_array_elements_text(expected_tools)
                                  where jsonb_typeof(expected_tools) = 'array'), '{{}}') as tools
            from {r}.scenarios where is_active"""
    )
    if conn.execute("select count(*) from bench_scenarios").fetchone()[0] == 0:
        raise RuntimeError("no active scenarios: run the seeds first (arc-eval init)")
    # The simulations written so far, by start: a late row belongs to the one running at its time.
    conn.execute(
        f"create temp table bench_sim_starts as select started_at, simulation_id from {r}.simulations"
    )
    conn.execute("create index on bench_sim_starts (started_at)")


def _reference_data(conn: psycopg.Connection, seed: int, start: dt.datetime, days: int) -> None:
    """Configurations and their versions in the raw schema."""
    r = dbt.raw_schema()
    for ci, (name, _) in enumerate(CONFIGURATIONS):
        conn.execute(
            f"insert into {r}.configurations (config_id, name, user_id, created_at, updated_at)"
            " values (%s, %s, %s, %s, %s)",
            (_uuid("bench-config", seed, ci), name, _uuid("bench-user", seed), start, start),
        )
    for ci, vi, version_id, first_day, _, _, model, temperature in _versions(seed, days):
        parsed = {"model": model, "temperature": temperature, "tools": list(EXTRA_TOOLS[: 2 + vi % 3])}
        raw_yaml = f"model: {model}\ntemperature: {temperature}\n"
        conn.execute(
            f"insert into {r}.config_versions (version_id, config_id, version_number, raw_yaml, parsed_config,"
            " config_hash, generated_by, created_at) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                version_id,
                _uuid("bench-config", seed, ci),
                vi + 1,
                raw_yaml,
                json.dumps(parsed),
                hashlib.sha256(raw_yaml.encode()).hexdigest(),
                "manual" if vi == 0 else "llm_recommendation",
                start + dt.timedelta(days=first_day),
            ),
        )
        conn.execute(
            f"update {r}.configurations set latest_version_id = %s where config_id = %s",
            (version_id, _uuid("bench-config", seed, ci)),
        )


def _write_segment(
    conn: psycopg.Connection,
    seed: int,
    first: int,
    bounds: list[int],
    seconds_per_slot: float,
    slot_start: dt.datetime,
    day: int,
    sim_base: int,
    final: bool,
) -> int:
    """Write the rows first + bounds[0] .. first + bounds[-1] - 1, slot h holding rows bounds[h]..bounds[h+1]
    spread over [slot_start + h * seconds_per_slot, + seconds_per_slot). Returns simulations made."""
    r = dbt.raw_schema()
    count = bounds[-1]
    sims = math.ceil(count / OUTCOMES_PER_SIMULATION)
    n_scenarios = conn.execute("select count(*) from bench_scenarios").fetchone()[0]
    n_configs = len(CONFIGURATIONS)
    p = {"first": first, "bounds": bounds, "slot": seconds_per_slot, "start": slot_start, "day": day}
    p |= {"sim_base": sim_base, "sims": sims}
    conn.execute("drop table if exists bench_sims, bench_rows")
    # Each simulation runs one version: the newest rolled-out version of its configuration, or (a canary
    # split) its predecessor.
    conn.execute(
        f"""create temp table bench_sims as
            select s.sim, v.version_id, v.quality, v.price
            from generate_series(%(sim_base)s::bigint, %(sim_base)s + %(sims)s - 1) as s (sim)
            cross join lateral (
                select bv.version_id, bv.quality, bv.price from bench_versions as bv
                where bv.ci = (hashint8extended(s.sim, {seed * 1000 + 500}) & 1023) %% {n_configs}
                  and bv.first_day <= %(day)s
                order by bv.vi desc
                limit 1 offset case when {_u(seed, 501, "s.sim")} < {CANARY_SHARE} then 1 else 0 end
            ) as v""",
        p,
    )
    # A simulation without a predecessor to split towards runs the newest version.
    conn.execute(
        f"""insert into bench_sims
            select s.sim, v.version_id, v.quality, v.price
            from generate_series(%(sim_base)s::bigint, %(sim_base)s + %(sims)s - 1) as s (sim)
            cross join lateral (
                select bv.version_id, bv.quality, bv.price from bench_versions as bv
                where bv.ci = (hashint8extended(s.sim, {seed * 1000 + 500}) & 1023) %% {n_configs}
                  and bv.first_day <= %(day)s
                order by bv.vi desc limit 1
            ) as v
            where not exists (select from bench_sims as b where b.sim = s.sim)""",
        p,
    )
    # Ids are UUIDv7 as the SDK makes them: a simulation's holds its start, an outcome's its execution time.
    sim_id = _uuid7("min(g.execution_time) over (partition by g.sim)", f"'{seed}/sim/' || g.sim")
    late = f"case when {_u(seed, 2)} < {LATE_SHARE} then (1 + {_u(seed, 3)} * 71) * interval '1 hour' else interval '0' end"
    conn.execute(
        f"""create temp table bench_rows as
            select g.i, g.sim, {sim_id} as simulation_id,
                   {_uuid7("g.execution_time - g.late_by", f"'{seed}/o/' || g.i")} as outcome_id,
                   sc.scenario_id, sc.tools, sc.duration_ms, g.execution_time - g.late_by as execution_time,
                   g.execution_time as planned_time,
                   bs.quality - sc.penalty as quality, bs.price, g.u_status, g.z_rel, g.z_dur, g.u_tok
            from (
                select i, %(sim_base)s + (i - %(first)s) / {OUTCOMES_PER_SIMULATION} as sim,
                       %(start)s::timestamptz + (h * %(slot)s) * interval '1 second'
                           + ((i - %(first)s - (%(bounds)s::int[])[h + 1]) + {_u(seed, 1)})
                             / greatest(1, (%(bounds)s::int[])[h + 2] - (%(bounds)s::int[])[h + 1])
                             * %(slot)s * interval '1 second' as execution_time,
                       {late} as late_by,
                       floor(power({_u(seed, 4)}, 1.6) * {n_scenarios})::int as k,
                       {_u(seed, 5)} as u_status, {_z(seed, 10)} as z_rel, {_z(seed, 20)} as z_dur,
                       {_u(seed, 6)} as u_tok
                from generate_series(0, cardinality(%(bounds)s::int[]) - 2) as h
                cross join lateral generate_series(
                    %(first)s + (%(bounds)s::int[])[h + 1], %(first)s + (%(bounds)s::int[])[h + 2] - 1
                ) as i
            ) as g
            inner join bench_sims as bs on g.sim = bs.sim
            inner join bench_scenarios as sc on g.k = sc.k""",
        p,
    )
    # status: failures grow as quality drops; a tenth of them are timeouts, a few runs are cancelled.
    conn.execute(
        """alter table bench_rows add column status text;
           update bench_rows set status = case
               when u_status < (1 - quality) * 0.9 then 'error'
               when u_status < (1 - quality) then 'timeout'
               when u_status > 0.997 then 'cancelled'
               else 'success' end"""
    )
    running = (
        "case when %(final)s and s.sim >= %(sim_base)s + %(sims)s - 2 then 'running' else 'completed' end"
    )
    # A late row belongs to the simulation that was running at its execution time (a sandbox uploading it
    # again later), when the history has one; a simulation records the rows it holds when it is written, so
    # one that gets late rows afterwards holds more outcomes than its completed_scenarios.
    conn.execute(
        """drop table if exists bench_segment_sims;
           create temp table bench_segment_sims as
               select sim, simulation_id, min(planned_time) as started_at from bench_rows group by sim, simulation_id;
           insert into bench_sim_starts select started_at, simulation_id from bench_segment_sims;
           update bench_rows as b set simulation_id = coalesce((
               select s.simulation_id from bench_sim_starts as s
               where s.started_at <= b.execution_time order by s.started_at desc limit 1
           ), b.simulation_id)
           where b.execution_time < b.planned_time"""
    )
    conn.execute(
        f"""insert into {r}.simulations (simulation_id, config_version_id, scenario_set, simulation_name, status,
                total_scenarios, completed_scenarios, overall_score, total_cost_usd, created_at, started_at,
                completed_at)
            select ss.simulation_id, s.version_id, rs.scenarios, 'bench ' || s.sim, {running},
                   {OUTCOMES_PER_SIMULATION}, least(rs.n, {OUTCOMES_PER_SIMULATION}), rs.score, rs.cost,
                   ss.started_at, ss.started_at,
                   case when {running} = 'completed' then rs.last_time end
            from bench_sims as s
            inner join bench_segment_sims as ss on s.sim = ss.sim
            inner join (
                select simulation_id, array_agg(distinct scenario_id) as scenarios, count(*)::int as n,
                       max(execution_time) as last_time, avg((status = 'success')::int)::real as score,
                       0::real as cost
                from bench_rows group by simulation_id
            ) as rs on ss.simulation_id = rs.simulation_id""",
        p | {"final": final},
    )
    reliability = "least(1, greatest(0, case when status = 'success' then quality + 0.12 * z_rel else 0.15 * abs(z_rel) end))"
    duration = "case when status = 'timeout' then 300000 else duration_ms * exp(0.5 * z_dur) end"
    tokens = "(800 + 3200 * u_tok)::int"
    conn.execute(
        f"""insert into {r}.outcomes (outcome_id, simulation_id, scenario_id, execution_time, status,
                reliability_score, execution_time_ms, tokens_used, cost_usd, trajectory, retry_count, error_category)
            select outcome_id, simulation_id, scenario_id, execution_time, status,
                   {reliability}, {duration}, {tokens}, {tokens} / 1000.0 * price,
                   jsonb_build_object('start_time', execution_time, 'status', status), 0,
                   case when status = 'timeout' then 'timeout' end
            from bench_rows"""
    )
    # Tool usage: each expected tool of the scenario (skipped one time in ten), plus an unexpected tool in
    # one run of ten.
    extra = "array[" + ", ".join(f"'{t}'" for t in EXTRA_TOOLS) + "]"
    conn.execute(
        f"""insert into {r}.tool_usage (usage_id, outcome_id, execution_time, tool_name, call_count, avg_duration_ms,
                success_rate, total_cost_usd)
            select md5('{seed}/t/' || i || '/' || t.n)::uuid, outcome_id, execution_time, t.tool,
                   1 + (hashint8extended(i + t.n, {seed * 1000 + 40}) & 3),
                   20 + 400 * {_u(seed, 41, "i + t.n")},
                   case when status = 'success' then 1 else round({_u(seed, 42, "i + t.n")}::numeric, 2) end,
                   0.0005 * (1 + (hashint8extended(i + t.n, {seed * 1000 + 43}) & 7))
            from bench_rows
            cross join lateral (
                select e.tool, e.n from unnest(tools) with ordinality as e (tool, n)
                where {_u(seed, 44, "i * 31 + e.n")} >= 0.1
                union all
                select ({extra})[1 + (hashint8extended(i, {seed * 1000 + 45}) & 1023) % {len(EXTRA_TOOLS)}], 99
                where {_u(seed, 46)} < 0.1
                  and not ({extra})[1 + (hashint8extended(i, {seed * 1000 + 45}) & 1023) % {len(EXTRA_TOOLS)}]
                          = any(tools)
            ) as t""",
    )
    _write_failures(conn, seed)
    conn.commit()
    return sims


def _write_failures(conn: psycopg.Connection, seed: int) -> None:
    """One failure pattern per failed or timed-out outcome of bench_rows."""
    r = dbt.raw_schema()
    cases = []
    cum = 0.0
    for category, share, templates in FAILURES:
        cum += share
        cases.append((cum, category, templates))
    clusters = [
        (category, k, template) for category, _, templates in FAILURES for k, template in enumerate(templates)
    ]
    clusters += [("timeout", k, template) for k, template in enumerate(TIMEOUT_MESSAGES)]
    values = ", ".join(
        f"('{c}', {k}, '{t.replace(chr(39), chr(39) * 2)}', '{_uuid('bench-cluster', seed, c, k)}'::uuid)"
        for c, k, t in clusters
    )
    category = " ".join(f"when {_u(seed, 50)} < {cum} then '{c}'" for cum, c, _ in cases)
    counts = {c: len(t) for _, c, t in cases} | {"timeout": len(TIMEOUT_MESSAGES)}
    template_k = " ".join(
        f"when '{c}' then (hashint8extended(i, {seed * 1000 + 51}) & 1023) % {n}" for c, n in counts.items()
    )
    conn.execute(
        f"""insert into {r}.failure_patterns (pattern_id, outcome_id, execution_time, failure_type, failure_category,
                error_message, pattern_cluster_id, cluster_confidence, similar_failures_count)
            select md5('{seed}/f/' || f.i)::uuid, f.outcome_id, f.execution_time,
                   initcap(replace(f.category, '_', ' ')) || 'Failure', f.category,
                   replace(replace(c.template, '{{tool}}', coalesce(f.tools[1], 'web_search')),
                           '{{n}}', ((hashint8extended(f.i, {seed * 1000 + 52}) & 255) + 1)::text),
                   case when {_u(seed, 53, "f.i")} < 0.9 then c.cluster_id end,
                   case when {_u(seed, 53, "f.i")} < 0.9 then 0.6 + 0.4 * {_u(seed, 54, "f.i")} end, 0
            from (
                select i, outcome_id, execution_time, tools,
                       case when status = 'timeout' then 'timeout' else case {category} else 'sandbox_error' end end
                           as category
                from bench_rows where status in ('error', 'timeout')
            ) as f
            inner join (values {values}) as c (category, k, template, cluster_id)
                on c.category = f.category
               and c.k = case f.category {template_k} end"""
    )


KEPT_HOURS = 3  # the hours before the current one left empty for appends (one per measured refresh)


def history_period(conn: psycopg.Connection, days: int) -> tuple[dt.datetime, dt.datetime, list[int]]:
    """(start, end, hours per day) of the history: whole UTC days from a midnight up to the current hour
    minus KEPT_HOURS (those hours are kept for appends); the last day holds the hours elapsed since its
    midnight."""
    end = conn.execute("select date_trunc('hour', now(), 'UTC')").fetchone()[0].astimezone(dt.UTC)
    last = end - dt.timedelta(hours=KEPT_HOURS)
    midnight = last.replace(hour=0)
    hours = [24] * (days - 1) + [last.hour]
    if last.hour == 0:
        hours = [24] * days
        midnight -= dt.timedelta(days=1)
    return midnight - dt.timedelta(days=days - 1), end, hours


def _skip_triggers(conn: psycopg.Connection, progress: Callable[[str], None]) -> None:
    """Skip the foreign-key checks (the generated rows are valid by construction) and the rollups' ingest
    triggers (the first rollup run after a history is a full build) where the role may: replica mode."""
    try:
        with conn.transaction():
            conn.execute("set session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        progress("(not superuser: foreign keys are checked row by row, which is slower)")
    conn.commit()


def generate(
    target: Target,
    rows: int,
    *,
    seed: int = 1,
    days: int | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, object]:
    """Write ``rows`` outcomes (and their tool usage and failures) into ``target``, whose raw schema and
    seeds exist. Returns what an append needs: the next row number, simulation number and the period."""
    days = days or max(30, math.ceil(rows / PER_DAY))
    began = time.perf_counter()
    with psycopg.connect(target.conninfo) as conn:
        conn.execute("set time zone 'UTC'")
        conn.execute("set synchronous_commit = off")
        _skip_triggers(conn, progress)
        start, end, hours = history_period(conn, days)
        _reference_data(conn, seed, start, days)
        _lookup_tables(conn, seed, days)
        conn.commit()
        counts = day_counts(rows, hours, start)
        first = sim_base = 0
        reported = 0.0
        for d, count in enumerate(counts):
            if count:
                sim_base += _write_segment(
                    conn, seed, first, hour_bounds(count, hours[d]), 3600.0, start + dt.timedelta(days=d), d, sim_base,
                    d == days - 1,
                )  # fmt: skip
            first += count
            if first / rows - reported >= 0.05 or d == days - 1:
                reported = first / rows
                elapsed = time.perf_counter() - began
                progress(f"generated {first:>11,} / {rows:,} outcomes ({reported:5.1%}) in {elapsed:7.1f}s")
    return {"next_row": rows, "next_sim": sim_base, "seed": seed, "days": days, "end": end}


def append(target: Target, state: dict[str, object], rows: int, hour: int = 1) -> dict[str, object]:
    """Append ``rows`` outcomes (the +1% of an incremental run) over the ``hour``-th hour before the current
    one at generation (1 to KEPT_HOURS): each measured refresh gets its own hour of new rows."""
    if not 1 <= hour <= KEPT_HOURS:
        raise ValueError(f"hour: must be between 1 and {KEPT_HOURS}, got {hour}")
    seed, days, end = state["seed"], state["days"], state["end"]
    with psycopg.connect(target.conninfo) as conn:
        conn.execute("set time zone 'UTC'")
        _lookup_tables(conn, seed, days)
        sims = _write_segment(
            conn, seed, state["next_row"], [0, rows], 3600.0, end - dt.timedelta(hours=hour), days, state["next_sim"],
            False,
        )  # fmt: skip
    return state | {"next_row": state["next_row"] + rows, "next_sim": state["next_sim"] + sims}


def create_database(
    server: Target, name: str, *, replace: bool = False, dbt_vars: dict | None = None
) -> Target:
    """Create database ``name`` on ``server`` with the raw schema (built with ``dbt_vars``) and the seeds;
    return its target."""
    with psycopg.connect(server.conninfo, autocommit=True) as admin:
        if replace:
            admin.execute(f'drop database if exists "{name}" with (force)')
        admin.execute(f'create database "{name}"')
    target = server.with_database(name)
    dbt.init_warehouse(target, dbt_vars=dbt_vars)
    return target


def vacuum(target: Target) -> None:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute("vacuum (analyze)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=10_000_000, help="outcomes to generate (default 10000000)"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the hash that makes every value (default 1)"
    )
    parser.add_argument("--days", type=int, help=f"days of history (default: rows / {PER_DAY}, at least 30)")
    parser.add_argument("--database", default="arc_eval_bench_history", help="database to create")
    parser.add_argument("--replace", action="store_true", help="drop the database first if it exists")
    args = parser.parse_args(argv)
    if args.rows <= 0:
        parser.error("--rows: must be a positive number of outcomes")
    server = resolve()
    print(f"server: {server.redacted()}  database: {args.database}  outcomes: {args.rows:,}", flush=True)
    target = create_database(server, args.database, replace=args.replace)
    began = time.perf_counter()
    generate(target, args.rows, seed=args.seed, days=args.days, progress=lambda m: print(m, flush=True))
    vacuum(target)
    print(f"done in {time.perf_counter() - began:.1f}s (including VACUUM ANALYZE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
