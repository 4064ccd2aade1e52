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
  could be missed.

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
    log and deletes the entries every rollup has read (see arc_eval_rollup_store_watermark); it adds
    nothing to the raw tables.
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
    {#- The raw schema's ingest log (macros/raw/ingest_late_hours.sql) as a dict: 'relation' (none when it
        is absent or this role may not read it), 'prune' (this role may delete from it) and 'states' (the
        rollup state tables of the database this role can read: the log's other readers). -#}
    {%- set names = arc_eval_ingest_log_names() -%}
    {%- set raw = arc_eval_raw_schema_name() -%}
    {%- set query -%}
        select
            has_table_privilege(to_regclass('{{ raw }}.{{ names.table }}'), 'SELECT') as readable,
            has_table_privilege(to_regclass('{{ raw }}.{{ names.table }}'), 'INSERT, DELETE') as prunable,
            (
                select string_agg(format('%I.%I', n.nspname, c.relname), ',' order by n.nspname)
                from pg_class as c join pg_namespace as n on c.relnamespace = n.oid
                where c.relname = 'arc_eval_rollup_state' and c.relkind in ('r', 'p')
                    and has_table_privilege(c.oid, 'SELECT')
            ) as states
        where to_regclass('{{ raw }}.{{ names.table }}') is not null
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- if not rows or not rows[0]['readable'] -%}
        {{ return({'relation': none, 'prune': false, 'states': []}) }}
    {%- endif -%}
    {{ return({
        'relation': api.Relation.create(database=this.database, schema=raw, identifier=names.table, type='table'),
        'prune': rows[0]['prunable'],
        'states': (rows[0]['states'] or '').split(',') | reject('equalto', '') | list,
    }) }}
{% endmacro %}


{% macro arc_eval_rollup_logged_sources(ingest_log) %}
    {#- The model's sources as (relation without database, 'schema.table') pairs when the raw schema keeps
        the ingest log (it adds the triggers only where statement triggers with transition tables work);
        else an empty list. -#}
    {%- if ingest_log.relation is none -%}{{ return([]) }}{%- endif -%}
    {%- set sources = [] -%}
    {%- for node_source in model.sources -%}
        {%- set rel = source(node_source[0], node_source[1]) -%}
        {%- do sources.append([rel.include(database=false), rel.schema ~ '.' ~ rel.identifier]) -%}
    {%- endfor -%}
    {{ return(sources) }}
{% endmacro %}


{% macro arc_eval_rollup_ensure_state(state) %}
    {#- Creates the watermark table when missing (dbt_artifacts' create-if-missing), in its own committed
        transaction (an advisory lock keeps parallel rollup nodes from racing). -#}
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


{% macro arc_eval_rollup_position(state, ingest_log, logged_sources, raw_time_column, relation, time_column, width, incremental, parents=[], merging=false) %}
    {#- One round trip, first in the run's transaction: takes the rollup's advisory lock (one run at a
        time per rollup), applies arc_eval_rollup_session_settings(), then reads, before the sources are
        read (and before anything else in the transaction reads pg_stat_activity, whose contents are fixed
        at first use) a dict of SQL literals:
        'horizon': the watermark this run may store (see the header); unless `incremental`, that is all.
        'watermark': the stored one (none: rebuild).
        'start': the first bucket to recompute whole (none: the rollup is empty, recompute everything).
        'ranges': [from, to) pairs of earlier buckets holding rows ingested since the watermark, from the
        ingest log, or none when the log cannot tell (not kept for every source since the watermark). -#}
    {%- set lock = "select pg_advisory_xact_lock(hashtext('arc_eval_rollup " ~ relation ~ "'))" -%}
    {%- set sources = [] -%}
    {%- for pair in logged_sources -%}{%- do sources.append("('" ~ pair[1] ~ "', '" ~ raw_time_column ~ "')") -%}{%- endfor -%}
    {%- set query -%}
        with
        horizon as (
            select least(
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
            ) - interval '{{ var('rollup_commit_margin', '10 seconds') }}' as h
        )
        {%- if incremental %},
        stored as (
            select source_watermark as w from {{ state }}
            where rollup_name = '{{ relation.identifier }}'{% if merging %} and merge_exact{% endif %}
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
        {%- endif %}
        select
            (select h from horizon)::text as horizon
            {%- if incremental %},
            (select w from stored)::text as watermark,
            (select s from lookback)::text as lookback_start
            {%- if sources %},
            (select complete from logged) as log_complete,
            (select s from log_start)::text as log_start,
            (select string_agg(from_bucket::text || '|' || to_bucket::text, ',' order by from_bucket) from islands) as log_ranges
            {%- endif %}
            {%- endif %}
    {%- endset -%}
    {%- set row = run_query(lock ~ ";\n" ~ arc_eval_rollup_session_settings() ~ "\n" ~ query).rows[0] -%}
    {%- set result = {'horizon': arc_eval_rollup_literal(row['horizon']), 'watermark': none, 'start': none, 'ranges': none} -%}
    {%- if incremental and row['watermark'] is not none -%}
        {%- do result.update({'watermark': arc_eval_rollup_literal(row['watermark'])}) -%}
        {%- if sources and row['log_complete'] -%}
            {%- set ranges = [] -%}
            {%- for pair in (row['log_ranges'] or '').split(',') if pair -%}
                {%- set bounds = pair.split('|') -%}
                {%- do ranges.append([arc_eval_rollup_literal(bounds[0]), arc_eval_rollup_literal(bounds[1])]) -%}
            {%- endfor -%}
            {%- do result.update({'start': arc_eval_rollup_literal(row['log_start']), 'ranges': ranges}) -%}
        {%- else -%}
            {%- do result.update({'start': arc_eval_rollup_literal(row['lookback_start'])}) -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(result) }}
{% endmacro %}


{% macro arc_eval_rollup_store_watermark(state, ingest_log, relation, horizon, merging=false) -%}
    {#- Stores the run's watermark. Where the ingest log is kept and this role may prune it, deletes the
        'late rows' entries every rollup has read: those created before the least watermark of every rollup
        state table this role can read (the database's rollups, whatever their schema), with a 'pruned'
        mark at that cut, so a reader it could not see (another role's, one building its first watermark)
        scans its sources rather than trusting a log with entries missing. -#}
    insert into {{ state }} (rollup_name, source_watermark, refreshed_at, merge_exact)
    values ('{{ relation.identifier }}', {{ horizon }}, now(), {{ merging }})
    on conflict (rollup_name) do update
    set source_watermark = excluded.source_watermark, refreshed_at = excluded.refreshed_at,
        merge_exact = excluded.merge_exact
    {%- if ingest_log is not none and ingest_log.prune %};
    {%- set log_table = ingest_log.relation %}
    with
    cut as (
        select min(w) as c from (
            {%- for state_table in ingest_log.states + [state | string] %}
            select min(source_watermark) as w from {{ state_table }}{% if not loop.last %} union all{% endif %}
            {%- endfor %}
        ) as watermarks
    ),
    gone as (
        delete from {{ log_table }}
        where kind = 'late rows' and created_at < (select c from cut)
        returning source_table, time_column
    ),
    marked as (
        insert into {{ log_table }} (source_table, time_column, kind, created_at)
        select distinct gone.source_table, gone.time_column, 'pruned', (select c from cut) from gone
    )
    delete from {{ log_table }} as old
    where old.kind = 'pruned' and old.created_at < (select c from cut)
        and (old.source_table, old.time_column) in (select gone.source_table, gone.time_column from gone)
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


{% macro arc_eval_rollup_literal(value) -%}
    {#- A timestamptz SQL literal of a text value from the database; none stays none. -#}
    {{ return(none if value is none else "timestamptz '" ~ value ~ "'") }}
{%- endmacro %}


{% macro arc_eval_rollup_late_ranges(raw_time_column, width, watermark, start) %}
    {#- [from, to) time ranges (SQL literals), bucket-aligned and merged when adjacent, of the buckets
        before `start` that hold a source row created at or after `watermark`. -#}
    {%- set ranges = [] -%}
    {%- for node_source in model.sources -%}
        {%- set query -%}
            with late as (
                select distinct {{ bucket(width, raw_time_column) }} as b
                from {{ source(node_source[0], node_source[1]) }}
                where created_at >= {{ watermark }} and {{ raw_time_column }} < {{ start }}
            ),
            islands as ({{ arc_eval_rollup_islands('late', width) }})
            select from_bucket::text, to_bucket::text from islands order by 1
        {%- endset -%}
        {%- for row in run_query(query).rows -%}
            {%- do ranges.append([arc_eval_rollup_literal(row[0]), arc_eval_rollup_literal(row[1])]) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(ranges) }}
{% endmacro %}


{% macro arc_eval_rollup_session_settings() -%}
    {#- Settings for the rollup's statements, local to its transaction. The planner estimates as many
        groups as distinct raw timestamps (it cannot know a time bucket holds many), so with the default
        work_mem it sorts, spilling to disk, where a hash aggregate of a few hundred groups would do:
        var('rollup_work_mem') gives it room. JIT is off: compiling the aggregates and the late-row search
        costs tens of milliseconds per statement, more than it saves on these scans (the same estimate,
        summed over every chunk, pushes their cost past JIT's thresholds). -#}
    set local work_mem = '{{ var('rollup_work_mem', '64MB') }}';
    set local jit = off;
{%- endmacro %}


{% macro arc_eval_rollup_in_ranges(column, start, ranges) -%}
    {#- `column` falls in [start, infinity) or in one of `ranges`. -#}
    ({{ column }} >= {{ start }}
    {%- for range in ranges %} or ({{ column }} >= {{ range[0] }} and {{ column }} < {{ range[1] }}){% endfor -%})
{%- endmacro %}


{% macro arc_eval_rollup_restrict(sql, filtered_columns, created_columns, start, ranges, created_from=none, created_to=none) -%}
    {#- The model's SQL with its markers replaced: each filtered time column restricted to [start, infinity)
        and `ranges` (no restriction when start is none and there are no ranges; start 'infinity': the
        ranges only), each created_at column to [created_from, created_to) (none: unbounded). -#}
    {%- set out = namespace(sql=sql) -%}
    {%- for column in filtered_columns -%}
        {%- set out.sql = out.sql | replace(arc_eval_rollup_filter_marker(column),
            'true' if start is none and not ranges
            else arc_eval_rollup_in_ranges(column, start or "timestamptz 'infinity'", ranges)) -%}
    {%- endfor -%}
    {%- for column in created_columns -%}
        {%- set bounds = [] -%}
        {%- if created_from is not none %}{% do bounds.append(column ~ ' >= ' ~ created_from) %}{% endif -%}
        {%- if created_to is not none %}{% do bounds.append(column ~ ' < ' ~ created_to) %}{% endif -%}
        {%- set out.sql = out.sql | replace(arc_eval_rollup_created_marker(column), bounds | join(' and ') or 'true') -%}
    {%- endfor -%}
    {{ return(out.sql) }}
{%- endmacro %}


{% macro arc_eval_rollup_merge_ranges(relation, columns, grain, time_column, width, merge, delta_sql) -%}
    {#- Adds the rows of `delta_sql` (the model over the raw rows created since the watermark in the late
        ranges) to the rollup's rows of the same groups: both are replaced by their merge (the `merge`
        config: column -> aggregate over the rows of one group, or {'distinct': N} for a sorted set). -#}
    {%- set measures = [] -%}
    {%- for name, how in merge.items() -%}{%- do measures.append([name, none, how]) -%}{%- endfor -%}
    {%- set keys = grain | reject('equalto', time_column) | list -%}
    with rollup_delta as materialized (
        {{ delta_sql }}
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
        {{ run_hooks(post_hooks, inside_transaction=True) }}
        {{ adapter.commit() }}
        {%- set started = modules.datetime.datetime.now() -%}
        {% do arc_eval_run_outside_transaction(
            "call refresh_continuous_aggregate('" ~ this ~ "', null, null)") %}
        {% do arc_eval_rollup_log(this, "continuous aggregate refreshed", started) %}
    {%- else -%}
        {%- set target_relation = this.incorporate(type='table') -%}
        {%- set grain_list = grain | map('string') | join(', ') -%}
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
        {%- set log_relation = ingest_log.relation if logged_sources else none -%}
        {%- set prune_log = ingest_log if logged_sources else none -%}
        {% do arc_eval_rollup_ensure_state(state) %}
        {%- set columns = existing_columns | map(attribute='quoted') | join(', ')
            if kind == 'table' and not rebuild else none -%}
        {%- set started = modules.datetime.datetime.now() -%}
        {%- set position = arc_eval_rollup_position(state, log_relation, logged_sources, raw_time_column, this,
                                                    time_column, width, kind == 'table' and not rebuild,
                                                    arc_eval_rollup_parents(), merging=merging) -%}
        {%- set horizon = position.horizon -%}
        {%- set watermark = position.watermark -%}
        {%- if kind == 'table' and not rebuild and watermark is none -%}
            {{ log("arc_eval: " ~ this ~ " has no watermark in " ~ state ~ "; rebuilding it", info=true) }}
        {%- endif -%}
        {%- if watermark is not none -%}
            {%- set start = position.start -%}
            {%- set ranges = [] if start is none
                else position.ranges if position.ranges is not none
                else arc_eval_rollup_late_ranges(raw_time_column, width, watermark, start) -%}
            {#- Merging: the buckets from start are recomputed from the rows created before the horizon, the
                late ranges get the rows created since the watermark merged in; otherwise both are recomputed. -#}
            {%- set recomputed = [] if merging else ranges -%}
            {%- set delta_sql = arc_eval_rollup_restrict(sql, filtered_columns, created_columns, start, recomputed,
                                                         created_to=horizon) -%}
            {% call statement('main') -%}
                delete from {{ this }}
                {% if start is not none %}where {{ arc_eval_rollup_in_ranges(adapter.quote(time_column), start, recomputed) }}{% endif %};
                insert into {{ this }} ({{ columns }})
                select {{ columns }} from (
                    {{ delta_sql }}
                ) as rollup_delta;
                {%- if merging and start is not none and ranges %}
                {{ arc_eval_rollup_merge_ranges(this, columns, grain, time_column, width, merge,
                    arc_eval_rollup_restrict(sql, filtered_columns, created_columns, "timestamptz 'infinity'", ranges,
                                             created_from=watermark, created_to=horizon)) }};
                {%- endif %}
                {{ arc_eval_rollup_store_watermark(state, prune_log, this, horizon, merging=merging) }}
            {%- endcall %}
            {%- set action = "updated from " ~ (start or "the beginning") ~ " and " ~ ranges | length
                ~ " late range(s) (" ~ ("ingest log" if position.ranges is not none else "source scan")
                ~ (", merged" if merging else "") ~ ")" -%}
        {%- else -%}
            {%- if kind is not none -%}
                {% call statement('drop_existing') %}{{ arc_eval_drop_any(this, kind) }}{% endcall %}
            {#- the drop cascades to views built on this rollup: dbt's cache must forget them too -#}
            {%- do adapter.cache_dropped(this) -%}
            {%- endif -%}
            {% call statement('main') -%}
                create table {{ this }} as (
                    {{ arc_eval_rollup_restrict(sql, filtered_columns, created_columns, none, [], created_to=horizon) }}
                );
                create unique index on {{ this }} ({{ grain_list }});
                analyze {{ this }};
                {{ arc_eval_rollup_store_watermark(state, prune_log, this, horizon, merging=merging) }}
            {%- endcall %}
            {%- set action = "built in full" -%}
        {%- endif -%}
        {{ run_hooks(post_hooks, inside_transaction=True) }}
        {{ adapter.commit() }}
        {% do arc_eval_rollup_log(this, action, started) %}
    {%- endif -%}

    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {% do persist_docs(target_relation, model) %}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
