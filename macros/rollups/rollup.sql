{#-
  The `rollup` materialization: one model file, two physical forms.

  - Where TimescaleDB continuous aggregates are available (community license, the source is a hypertable
    without row-level security, which TimescaleDB refuses under one), the model becomes a real-time continuous aggregate (`timescaledb.materialized_only = false`) with the
    refresh policy from the model's `refresh_policy` config, added once. Every run then refreshes what
    changed (`refresh_continuous_aggregate(..., null, null)` only recomputes invalidated buckets, late rows
    included: TimescaleDB logs them as invalidations).
  - Elsewhere (Apache TimescaleDB, plain PostgreSQL) it is a table kept up to date by delete+insert of
    (a) the lookback window: the buckets ending within `var('rollup_lookback')` (default 1 hour) of the
    end of the newest bucket, so rows edited in place there are picked up, and (b) every bucket that holds
    a source row ingested since the previous run, whatever its time (a late report, a back-fill). The
    first run, `rollup_full_refresh: true`, --full-refresh, a change of the model's columns, or a missing
    watermark build it whole. The model's SQL filters the raw rows with `{{ rollup_where('<time column>') }}`
    (and, for a copy of the time from a joined table, `rollup_where('<time column>', ['<copy>'])`).

  Merging (a `merge` config: column -> the aggregate that combines rows of one group, or {'distinct': N}
  for a sorted set; the statistics rollups give their measures' merges). Recomputing every bucket that got
  a late row costs that bucket's whole history: late rows spread over three days make each run re-read
  three days. A merging rollup instead holds exactly the source rows created before its watermark (every
  build and recompute also filters `created_at < horizon`: the rows of the last rollup_commit_margin wait
  for the next run) and adds to the late buckets only the statistics of their rows created since the
  watermark, merged with the stored row of the same group. Its readers must treat the hours holding rows
  created since the watermark as unknown, as arc_eval_live_stats does. A state row written by a run that
  did not merge (`merge_exact` false) is not trusted: the rollup is rebuilt.

  Watermark (incremental tables only). Table `<model schema>.arc_eval_rollup_state (rollup_name,
  source_watermark, refreshed_at, merge_exact)`, one row per rollup, written in the same transaction as the
  rollup.
  Guarantee: every source row whose `created_at` (the raw tables' `DEFAULT now()`, i.e. the start of the
  transaction that wrote it) is before `source_watermark` is in the rollup. A run recomputes the buckets
  of the rows with `created_at >= source_watermark` and stores as the new watermark the least of the
  run's statement time and the start of every other transaction open in the database at that moment
  (pg_stat_activity: a transaction that commits after the run can only hold rows created at or after its
  start), minus `var('rollup_commit_margin')` (default 10 seconds: slack for clock steps and for the
  instant between a transaction taking its start time and publishing it). Seeing other sessions'
  transaction starts needs superuser or pg_read_all_stats; without it the watermark is also held back by
  `var('rollup_unseen_transaction_margin')` (default 1 hour), and transactions open longer than that
  could be missed. A merging rollup's watermark never moves back: when that time is before the stored
  watermark (a run with a wider margin right after one with a narrower, a clock stepped back), the stored
  one is kept, since the rows created before it are in the rollup already; moved back, the next run would
  merge those in late buckets a second time. After the clock stepped back by more than the margin, rebuild
  (`rollup_full_refresh: true`) once it has caught up: rows created meanwhile in hours outside the lookback
  have a created_at before the watermark and are not merged.

  Finding the rows ingested since the watermark, two ways:
  - The ingest log, kept by the raw schema (macros/raw/ingest_late_hours.sql: table
    `<raw schema>.ingest_late_hours`, written by an AFTER INSERT statement trigger on each time-series raw
    table where such triggers with transition tables work: plain PostgreSQL, TimescaleDB 2.18 or later). It
    records the hours holding rows older than `arc_eval_rollup_late_after()` (15 minutes) when inserted,
    with the inserting transaction's `now()` as created_at. A row created since the watermark is then
    either in a logged hour or no older than watermark - 15 minutes, so the run recomputes from
    bucket(least(lookback start, watermark - 15 minutes)) plus the buckets of the logged hours: a read of a
    small table, where scanning costs a look into every chunk of the source. The log is used only when,
    for every source, the trigger is present and enabled and the newest 'logging started' mark (clock time
    after the raw-schema macro added the trigger; it adds it again, with a new mark, when it was dropped or
    disabled) and the newest 'pruned' mark are before the watermark. This materialization only reads the
    log and deletes the entries every rollup has read (see arc_eval_refresh_model); it adds nothing to
    the raw tables.
  - Otherwise (no log, or not readable by this role) a scan of the sources for `created_at >=
    source_watermark`, through a BRIN index on created_at, before the lookback start.
  Not covered: rows written with an explicit old `created_at`, prepared (two-phase) transactions, and
  updates or deletes of raw rows before the lookback window (run with `rollup_full_refresh: true` after
  those); in a merging rollup over a join, a row committed before the row it joins (a tool call before its
  outcome) outside the lookback window.

  A rollup over another incremental rollup (the daily statistics merged from the hourly ones) filters the
  finer rollup's bucket column with rollup_where(), names the raw time column with `source_time_column`
  (late rows are found in the raw sources it declares with `-- depends_on: {{ source(...) }}`, by that
  column), and never stores a watermark past the one stored for the rollup it reads: the rows that rollup
  had not seen are then found again on the next run.

  Where the work is done: the materialization creates the table (empty) when it is missing, of another
  kind or rebuilt, stores the run's plan (the model's SQL with its markers, the position query, the
  late-row scans, the merge statement; macros/rollups/refresh.sql) and calls
  `<schema>.arc_eval_refresh_model`, which computes the position, replaces the markers with the ranges to
  recompute, deletes and inserts (or merges), and stores the watermark, in the model's transaction.
  `arc-eval refresh` calls the same function without dbt.

  Model config: `time_column` (the bucket column), `bucket_width` (a fixed width, e.g. '1 hour'), `grain`
  (list of columns unique per row), `refresh_policy` (start_offset, end_offset, schedule_interval),
  `source_time_column` (the sources' time column, when the filtered column is another rollup's), `merge`
  (see Merging; the model's rollup_where() then also filters `created_column`, default created_at).
-#}

{% macro arc_eval_rollup_capabilities() %}
    {#- {'timescaledb': bool, 'continuous_aggregates': bool} from the schema engineer's probe. -#}
    {%- set probe = arc_eval_capabilities() -%}
    {{ return({
        'timescaledb': probe.has_timescaledb,
        'continuous_aggregates': probe.has_continuous_aggregates,
    }) }}
{% endmacro %}


{% macro arc_eval_rollup_mode(explain=false) %}
    {#- 'continuous_aggregate' or 'incremental' for the current model on this server; with explain=true,
        says why a server with continuous aggregates still gets an incremental table. -#}
    {%- if not execute -%}
        {{ return('incremental') }}
    {%- endif -%}
    {%- set caps = arc_eval_rollup_capabilities() -%}
    {%- if not caps['continuous_aggregates'] -%}
        {{ return('incremental') }}
    {%- endif -%}
    {%- if model.refs | length > 0 -%}
        {%- if explain -%}
            {{ log("arc_eval: " ~ this ~ " is an incremental table: it reads other models (a continuous aggregate reads one hypertable)", info=true) }}
        {%- endif -%}
        {{ return('incremental') }}
    {%- endif -%}
    {%- set sources = [] -%}
    {%- for node_source in model.sources -%}
        {%- do sources.append(source(node_source[0], node_source[1])) -%}
    {%- endfor -%}
    {%- for rel in sources -%}
        {%- set check -%}
            select count(*) from timescaledb_information.hypertables
            where hypertable_schema = '{{ rel.schema }}' and hypertable_name = '{{ rel.identifier }}'
        {%- endset -%}
        {%- if run_query(check).columns[0].values()[0] == 0 -%}
            {%- if explain -%}
                {{ log("arc_eval: " ~ this ~ " is an incremental table: its source " ~ rel ~ " is not a hypertable", info=true) }}
            {%- endif -%}
            {{ return('incremental') }}
        {%- endif -%}
        {%- if run_query("select relrowsecurity from pg_class where oid = '" ~ rel ~ "'::regclass").columns[0].values()[0] -%}
            {%- if explain -%}
                {{ log("arc_eval: " ~ this ~ " is an incremental table: its source " ~ rel ~ " has row-level security (tenant isolation), on which TimescaleDB refuses a continuous aggregate", info=true) }}
            {%- endif -%}
            {{ return('incremental') }}
        {%- endif -%}
    {%- endfor -%}
    {{ return('continuous_aggregate') }}
{% endmacro %}


{% macro arc_eval_relation_kind(relation) %}
    {#- 'continuous_aggregate', 'table', 'view', 'materialized_view' or none (absent). -#}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set query -%}
        select case
            {%- if arc_eval_rollup_capabilities()['timescaledb'] %}
            when c.relkind = 'v' and exists (
                select 1 from timescaledb_information.continuous_aggregates as ca
                where ca.view_schema = n.nspname and ca.view_name = c.relname
            ) then 'continuous_aggregate'
            {%- endif %}
            when c.relkind in ('r', 'p') then 'table'
            when c.relkind = 'v' then 'view'
            when c.relkind = 'm' then 'materialized_view'
        end
        from pg_class as c
        join pg_namespace as n on c.relnamespace = n.oid
        where n.nspname = '{{ relation.schema }}' and c.relname = '{{ relation.identifier }}'
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {{ return(rows[0][0] if rows | length > 0 else none) }}
{% endmacro %}


{% macro arc_eval_rollup_rebuild() %}
    {#- True when var('rollup_full_refresh') is set, or on --full-refresh unless the model's full_refresh
        config forbids it. -#}
    {{ return(var('rollup_full_refresh', false) in [true, 'true', 'True', 1, '1'] or should_full_refresh()) }}
{% endmacro %}


{% macro arc_eval_rollup_columns_changed(relation, columns, sql) %}
    {#- True when the existing relation's column names (`columns`, from get_columns_in_relation) differ from
        the model's (the model was edited): the rollup is then rebuilt rather than patched. -#}
    {%- set existing = columns | map(attribute='name') | list -%}
    {%- set wanted = get_columns_in_query(sql) | list -%}
    {%- if existing != wanted -%}
        {{ log("arc_eval: " ~ relation ~ " columns changed (" ~ existing | join(', ') ~ " -> "
               ~ wanted | join(', ') ~ "); rebuilding it", info=true) }}
    {%- endif -%}
    {{ return(existing != wanted) }}
{% endmacro %}


{% macro arc_eval_rollup_filter_marker(raw_time_column) -%}
    {{ raw_time_column }} >= timestamptz '-infinity' /* arc_eval_rollup_filter({{ raw_time_column }}) */
{%- endmacro %}


{% macro arc_eval_rollup_created_marker(created_column) -%}
    {{ created_column }} < timestamptz 'infinity' /* arc_eval_rollup_created({{ created_column }}) */
{%- endmacro %}


{% macro rollup_where(raw_time_column, same_time_columns=[], created_column='created_at') -%}
    {#- In a model of the `rollup` materialization: restrict the raw rows to those the run recomputes.
        Renders nothing for a continuous aggregate; for an incremental table it renders a filter that
        keeps every row (valid on its own: a full build), which the materialization replaces with the
        time ranges of the buckets to recompute. `same_time_columns`: columns equal to the time column on
        every row, such as a joined outcome's own execution_time; they get the same ranges, so the join
        reads only those ranges of the other table too (PostgreSQL does not carry a range across a join).
        In a rollup with a `merge` config it also filters `created_column` (the raw rows' created_at), which
        the materialization bounds by the run's watermarks. -#}
    {%- if execute and config.get('materialized') == 'rollup' and arc_eval_rollup_mode() == 'incremental' -%}
        where {{ arc_eval_rollup_filter_marker(raw_time_column) }}
        {%- for column in same_time_columns %} and {{ arc_eval_rollup_filter_marker(column) }}{% endfor %}
        {%- if config.get('merge') %} and {{ arc_eval_rollup_created_marker(created_column) }}{% endif %}
    {%- endif -%}
{%- endmacro %}


{% macro arc_eval_rollup_state_relation(relation) %}
    {{ return(api.Relation.create(database=relation.database, schema=relation.schema,
                                  identifier='arc_eval_rollup_state', type='table')) }}
{% endmacro %}


{% macro arc_eval_rollup_ingest_log() %}
    {#- The raw schema's ingest log (macros/raw/ingest_late_hours.sql) when it exists and this role may read
        it; else none. -#}
    {%- set names = arc_eval_ingest_log_names() -%}
    {%- set raw = arc_eval_raw_schema_name() -%}
    {%- set query -%}
        select has_table_privilege(to_regclass('{{ raw }}.{{ names.table }}'), 'SELECT')
        where to_regclass('{{ raw }}.{{ names.table }}') is not null
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- if not rows or not rows[0][0] -%}{{ return(none) }}{%- endif -%}
    {{ return(api.Relation.create(database=this.database, schema=raw, identifier=names.table, type='table')) }}
{% endmacro %}


{% macro arc_eval_rollup_logged_sources(ingest_log) %}
    {#- The model's sources as (relation without database, 'schema.table') pairs when the raw schema keeps
        the ingest log (it adds the triggers only where statement triggers with transition tables work);
        else an empty list. -#}
    {%- if ingest_log is none -%}{{ return([]) }}{%- endif -%}
    {%- set sources = [] -%}
    {%- for node_source in model.sources -%}
        {%- set rel = source(node_source[0], node_source[1]) -%}
        {%- do sources.append([rel.include(database=false), rel.schema ~ '.' ~ rel.identifier]) -%}
    {%- endfor -%}
    {{ return(sources) }}
{% endmacro %}


{% macro arc_eval_rollup_ensure_state(state) %}
    {#- Creates the watermark table when missing (dbt_artifacts' create-if-missing), the plan table and the
        functions that run the plans (macros/rollups/refresh.sql), in their own committed transaction (an
        advisory lock keeps parallel rollup nodes from racing). -#}
    {% call statement('rollup_state_table') -%}
        select pg_advisory_xact_lock(hashtext('arc_eval_rollup_state'));
        create table if not exists {{ state }} (
            rollup_name text primary key,
            source_watermark timestamptz not null,
            refreshed_at timestamptz not null,
            merge_exact boolean not null default false
        );
        do $$ begin
            if not exists (
                select 1 from pg_attribute
                where attrelid = '{{ state }}'::regclass and attname = 'merge_exact' and not attisdropped
            ) then
                alter table {{ state }} add column merge_exact boolean not null default false;
            end if;
        end $$;
        {{ arc_eval_refresh_plan_table(state) }};
        {{ arc_eval_refresh_functions(state) }};
    {%- endcall %}
    {{ adapter.commit() }}
{% endmacro %}


{% macro arc_eval_rollup_parents() %}
    {#- The rollups this model reads (a daily rollup built from an hourly one) as (state table, rollup name)
        pairs: the run may not store a watermark past theirs. -#}
    {%- set parents = [] -%}
    {%- for node in graph.nodes.values()
        if node.unique_id in model.depends_on.nodes and node.config.materialized == 'rollup' -%}
        {%- do parents.append([arc_eval_rollup_state_relation(node), node.alias or node.name]) -%}
    {%- endfor -%}
    {{ return(parents) }}
{% endmacro %}


{% macro arc_eval_rollup_position(state, ingest_log, logged_sources, raw_time_column, relation, time_column, width, parents=[], merging=false) -%}
    {#- The query the plan runs first (arc_eval_refresh_model: after the rollup's advisory lock, before the
        sources are read), one row:
        horizon: the watermark this run may store (see the header).
        watermark: the stored one (null: fill the rollup whole).
        lookback_start: the first bucket of the lookback window (null: the rollup is empty).
        log_complete: the ingest log holds every late row since the watermark, for every source; then
        log_start, the first bucket to recompute whole, and log_ranges, the [from, to) ranges of earlier
        buckets holding rows ingested since the watermark. -#}
    {%- set sources = [] -%}
    {%- for pair in logged_sources -%}{%- do sources.append("('" ~ pair[1] ~ "', '" ~ raw_time_column ~ "')") -%}{%- endfor -%}
    with
    stored as (
        select source_watermark as w from {{ state }}
        where rollup_name = '{{ relation.identifier }}'{% if merging %} and merge_exact{% endif %}
    ),
    horizon as (
        select {% if merging %}greatest({% endif %}least(
            statement_timestamp(),
            (
                select min(a.xact_start) from pg_stat_activity as a
                where a.datname = current_database() and a.pid <> pg_backend_pid()
            ),
            case when not pg_has_role('pg_read_all_stats', 'usage') then
                statement_timestamp() - interval '{{ var('rollup_unseen_transaction_margin', '1 hour') }}'
            end
            {%- for parent in parents %},
            coalesce(
                (select p.source_watermark from {{ parent[0] }} as p where p.rollup_name = '{{ parent[1] }}'),
                '-infinity'
            )
            {%- endfor %}
        ) - interval '{{ var('rollup_commit_margin', '10 seconds') }}'
        {%- if merging %},
            -- never back: the rollup holds the rows created before the stored watermark already, and a
            -- watermark moved back would have the next run merge those of them in late buckets again
            (select w from stored)
        ){%- endif %} as h
    ),
    lookback as (
        select {{ bucket(width, 'max(' ~ adapter.quote(time_column) ~ ") + interval '" ~ width
                                ~ "' - interval '" ~ var('rollup_lookback', '1 hour') ~ "'") }} as s
        from {{ relation }}
    )
    {%- if sources %},
    logged as (
        select count(*) = {{ sources | length }} and (
            select count(*) from pg_trigger
            where tgname = '{{ arc_eval_ingest_log_names().trigger }}' and tgenabled in ('O', 'A')
                and tgrelid in ({% for pair in logged_sources %}'{{ pair[0] }}'::regclass{% if not loop.last %}, {% endif %}{% endfor %})
        ) = {{ sources | length }} as complete
        from (
            select max(created_at) as since from {{ ingest_log }}
            where kind in ('logging started', 'pruned') and (source_table, time_column) in ({{ sources | join(', ') }})
            group by source_table
            having bool_or(kind = 'logging started')
        ) as markers
        where since <= (select w from stored)
    ),
    log_start as (
        select case when (select s from lookback) is not null then
            least((select s from lookback), {{ bucket(width, "(select w from stored) - interval '" ~ arc_eval_rollup_late_after() ~ "'") }})
        end as s
    ),
    late_buckets as (
        select distinct b
        from (
            select distinct hour from {{ ingest_log }}
            where kind = 'late rows' and (source_table, time_column) in ({{ sources | join(', ') }})
                and created_at >= (select w from stored)
                and hour < (select s from log_start)
        ) as late_hours
        cross join lateral generate_series(
            {{ bucket(width, 'late_hours.hour') }}, late_hours.hour + interval '59 minutes 59.999999 seconds',
            {{ arc_eval_rollup_step(width) }}
        ) as b
    ),
    islands as ({{ arc_eval_rollup_islands('late_buckets', width) }})
    {%- endif %}
    select
        (select h from horizon) as horizon,
        (select w from stored) as watermark,
        (select s from lookback) as lookback_start,
        {%- if sources %}
        coalesce((select complete from logged), false) as log_complete,
        (select s from log_start) as log_start,
        (select array_agg(tstzrange(from_bucket, to_bucket) order by from_bucket) from islands) as log_ranges
        {%- else %}
        false as log_complete,
        null::timestamptz as log_start,
        null::tstzrange[] as log_ranges
        {%- endif %}
{%- endmacro %}


{% macro arc_eval_rollup_step(width) -%}
    (interval '1 second' * extract(epoch from interval '{{ width }}'))
{%- endmacro %}


{% macro arc_eval_rollup_islands(buckets, width) -%}
    {#- One row (from_bucket, to_bucket) per run of adjacent buckets in `buckets` (a relation with one
        column `b` of distinct bucket starts): the [from, to) time range the run covers. -#}
    {%- set step = arc_eval_rollup_step(width) -%}
    select min(b) as from_bucket, max(b) + {{ step }} as to_bucket
    from (select b, b - {{ step }} * row_number() over (order by b) as island from {{ buckets }}) as numbered
    group by island
{%- endmacro %}


{% macro arc_eval_rollup_late_queries(raw_time_column, width) %}
    {#- Per source, the query of the [from, to) ranges (one array, bucket-aligned, merged when adjacent) of
        the buckets before $2 (the start) that hold a source row created at or after $1 (the watermark). -#}
    {%- set queries = [] -%}
    {%- for node_source in model.sources -%}
        {%- set query -%}
            with late as (
                select distinct {{ bucket(width, raw_time_column) }} as b
                from {{ source(node_source[0], node_source[1]) }}
                where created_at >= $1 and {{ raw_time_column }} < $2
            ),
            islands as ({{ arc_eval_rollup_islands('late', width) }})
            select array_agg(tstzrange(from_bucket, to_bucket) order by from_bucket) from islands
        {%- endset -%}
        {%- do queries.append(query) -%}
    {%- endfor -%}
    {{ return(queries) }}
{% endmacro %}


{% macro arc_eval_rollup_merge_ranges(relation, grain, time_column, width, merge) -%}
    {#- The statement that adds the rows of the delta (the model over the raw rows created since the
        watermark in the late ranges; the plan puts it in place of the comment arc_eval_rollup_delta, and the
        rollup's columns in place of arc_eval_rollup_columns) to the rollup's rows of the same groups: both
        are replaced by their merge (the `merge` config: column -> aggregate over the rows of one group, or
        {'distinct': N} for a sorted set). -#}
    {%- set columns = '/* arc_eval_rollup_columns */' -%}
    {%- set measures = [] -%}
    {%- for name, how in merge.items() -%}{%- do measures.append([name, none, how]) -%}{%- endfor -%}
    {%- set keys = grain | reject('equalto', time_column) | list -%}
    with rollup_delta as materialized (
        /* arc_eval_rollup_delta */
    ),
    rollup_replaced as (
        delete from {{ relation }} as r
        using (select distinct {{ grain | join(', ') }} from rollup_delta) as d
        where r.{{ time_column }} = d.{{ time_column }}
        {%- for column in keys %} and r.{{ column }} is not distinct from d.{{ column }}{% endfor %}
        returning r.*
    )
    insert into {{ relation }} ({{ columns }})
    select {{ columns }} from (
        {{ arc_eval_stats_merge_select(
            '(select ' ~ columns ~ ' from rollup_replaced union all select ' ~ columns ~ ' from rollup_delta) as rollup_both',
            keys, measures, '', width, time_column, time_column) }}
    ) as rollup_merged
{%- endmacro %}


{% macro arc_eval_run_outside_transaction(sql) %}
    {#- Run `sql` in autocommit mode. TimescaleDB refuses `refresh_continuous_aggregate` inside a
        transaction block, and dbt-postgres keeps its psycopg2 connection in transactional mode, so the
        connection is switched to autocommit for this one statement and back. Call it with no dbt
        transaction open. (If the statement fails, the error ends the node and dbt closes the connection.) -#}
    {%- set pair = adapter.add_query('select 1', auto_begin=false) -%}
    {%- set handle = pair[0].handle -%}
    {%- do handle.commit() -%}
    {%- do handle.set_session(autocommit=true) -%}
    {%- do log('arc_eval: ' ~ sql, info=false) -%}
    {%- set result = adapter.add_query(sql, auto_begin=false) -%}
    {%- do handle.set_session(autocommit=false) -%}
{% endmacro %}


{% macro arc_eval_drop_any(relation, kind) %}
    {%- if kind == 'continuous_aggregate' or kind == 'materialized_view' -%}
        drop materialized view if exists {{ relation }} cascade
    {%- elif kind == 'table' -%}
        drop table if exists {{ relation }} cascade
    {%- elif kind == 'view' -%}
        drop view if exists {{ relation }} cascade
    {%- endif -%}
{% endmacro %}


{% macro arc_eval_rollup_log(relation, action, started) %}
    {#- One log line per rollup run: what was done and how long the statements that did it took (wall
        time from `started`, through the commit: for an incremental table this includes its lock, watermark
        and late-bucket queries; the probes and catalog lookups before are not counted). -#}
    {%- set seconds = (modules.datetime.datetime.now() - started).total_seconds() -%}
    {{ log("arc_eval: rollup " ~ relation ~ " " ~ action ~ " in " ~ "%.3f" | format(seconds) ~ "s", info=true) }}
{% endmacro %}


{% materialization rollup, default %}
    {%- set time_column = config.require('time_column') -%}
    {%- set width = config.require('bucket_width') -%}
    {%- set grain = config.require('grain') -%}
    {%- set policy = config.get('refresh_policy', {}) -%}
    {%- set mode = arc_eval_rollup_mode(explain=true) -%}
    {%- set kind = arc_eval_relation_kind(this) -%}
    {%- set existing_columns = adapter.get_columns_in_relation(this) if kind is not none else [] -%}
    {%- set rebuild = arc_eval_rollup_rebuild()
        or (kind is not none and arc_eval_rollup_columns_changed(this, existing_columns, sql)) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if mode == 'continuous_aggregate' -%}
        {%- set target_relation = this.incorporate(type='view') -%}
        {%- if kind is not none and (rebuild or kind != 'continuous_aggregate') -%}
            {% call statement('drop_existing') %}{{ arc_eval_drop_any(this, kind) }}{% endcall %}
            {#- the drop cascades to views built on this rollup: dbt's cache must forget them too -#}
            {%- do adapter.cache_dropped(this) -%}
        {%- endif -%}
        {% call statement('main') -%}
            create materialized view if not exists {{ this }}
            with (timescaledb.continuous, timescaledb.materialized_only = false) as
            {{ sql }}
            with no data
        {%- endcall %}
        {%- if policy -%}
            {% call statement('policy') -%}
                select add_continuous_aggregate_policy(
                    '{{ this }}'::regclass,
                    start_offset => interval '{{ policy.start_offset }}',
                    end_offset => interval '{{ policy.end_offset }}',
                    schedule_interval => interval '{{ policy.schedule_interval }}',
                    if_not_exists => true
                )
            {%- endcall %}
        {%- endif -%}
        {% call statement('plan') %}{{ arc_eval_refresh_plan_store('continuous_aggregate') }}{% endcall %}
        {{ run_hooks(post_hooks, inside_transaction=True) }}
        {{ adapter.commit() }}
        {%- set started = modules.datetime.datetime.now() -%}
        {% do arc_eval_run_outside_transaction(
            "call refresh_continuous_aggregate('" ~ this ~ "', null, null)") %}
        {% do arc_eval_rollup_log(this, "continuous aggregate refreshed", started) %}
    {%- else -%}
        {%- set target_relation = this.incorporate(type='table') -%}
        {%- set state = arc_eval_rollup_state_relation(this) -%}
        {%- set filtered_columns = modules.re.findall('arc_eval_rollup_filter\\((\\w+)\\)', sql) -%}
        {%- if not filtered_columns -%}
            {{ exceptions.raise_compiler_error(this ~ ": a rollup model must filter its source with rollup_where()") }}
        {%- endif -%}
        {%- set raw_time_column = config.get('source_time_column', filtered_columns[0]) -%}
        {%- set merge = config.get('merge') -%}
        {%- set merging = merge is not none -%}
        {%- set created_columns = modules.re.findall('arc_eval_rollup_created\\(([\\w.]+)\\)', sql) -%}
        {%- if merging and not created_columns -%}
            {{ exceptions.raise_compiler_error(this ~ ": a rollup with a merge config must filter its source with rollup_where()") }}
        {%- endif -%}
        {%- set ingest_log = arc_eval_rollup_ingest_log() -%}
        {%- set logged_sources = arc_eval_rollup_logged_sources(ingest_log) -%}
        {%- set plan = {
            'sql': sql,
            'time_column': adapter.quote(time_column),
            'filters': [],
            'created': [],
            'merging': merging,
            'merge': arc_eval_rollup_merge_ranges(this, grain, time_column, width, merge) if merging else none,
            'position': arc_eval_rollup_position(state, ingest_log if logged_sources else none, logged_sources,
                                                 raw_time_column, this, time_column, width,
                                                 arc_eval_rollup_parents(), merging=merging),
            'late': arc_eval_rollup_late_queries(raw_time_column, width),
            'state': state | string,
            'log': (ingest_log | string) if logged_sources else none,
        } -%}
        {%- for column in filtered_columns -%}
            {%- do plan.filters.append([arc_eval_rollup_filter_marker(column), column]) -%}
        {%- endfor -%}
        {%- for column in created_columns -%}
            {%- do plan.created.append([arc_eval_rollup_created_marker(column), column]) -%}
        {%- endfor -%}
        {#- a new table (none yet, another kind, other columns, or a rebuild asked for) is created empty and
            filled whole by the plan -#}
        {%- set fresh = kind != 'table' or rebuild -%}
        {% do arc_eval_rollup_ensure_state(state) %}
        {%- if fresh and kind is not none -%}
            {% call statement('drop_existing') %}{{ arc_eval_drop_any(this, kind) }}{% endcall %}
            {#- the drop cascades to views built on this rollup: dbt's cache must forget them too -#}
            {%- do adapter.cache_dropped(this) -%}
        {%- endif -%}
        {%- set started = modules.datetime.datetime.now() -%}
        {% call statement('main', fetch_result=true) -%}
            {%- if fresh %}
            create table {{ this }} as (
                {{ sql }}
            ) with no data;
            create unique index on {{ this }} ({{ grain | map('string') | join(', ') }});
            {%- endif %}
            {{ arc_eval_refresh_plan_store('rollup', plan) }};
            select {{ adapter.quote(this.schema) }}.arc_eval_refresh_model('{{ this.identifier }}', {{ fresh }})
        {%- endcall %}
        {%- set action = load_result('main').table.columns[0].values()[0] -%}
        {{ run_hooks(post_hooks, inside_transaction=True) }}
        {{ adapter.commit() }}
        {% do arc_eval_rollup_log(this, action, started) %}
    {%- endif -%}

    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {% do persist_docs(target_relation, model) %}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
