{#-
  The `rollup` materialization: one model file, two physical forms.

  - Where TimescaleDB continuous aggregates are available (community license, the source is a hypertable),
    the model becomes a real-time continuous aggregate (`timescaledb.materialized_only = false`) with the
    refresh policy from the model's `refresh_policy` config, added once. Every run then refreshes what
    changed (`refresh_continuous_aggregate(..., null, null)` only recomputes invalidated buckets, late rows
    included: TimescaleDB logs them as invalidations).
  - Elsewhere (Apache TimescaleDB, plain PostgreSQL) it is a table kept up to date by delete+insert of
    (a) the buckets from `max(bucket) - var('rollup_lookback')` onwards and (b) every bucket that holds a
    source row ingested since the previous run, whatever its time (a late report, a back-fill). The first
    run, `rollup_full_refresh: true`, --full-refresh, a change of the model's columns, or a missing
    watermark build it whole. The model's SQL filters the raw rows with `{{ rollup_where('<time column>') }}`.

  Watermark (incremental tables only). Table `<model schema>.arc_eval_rollup_state (rollup_name,
  source_watermark, refreshed_at)`, one row per rollup, written in the same transaction as the rollup.
  Guarantee: every source row whose `created_at` (the raw tables' `DEFAULT now()`, i.e. the start of the
  transaction that wrote it) is before `source_watermark` is in the rollup. A run recomputes the buckets
  of the rows with `created_at >= source_watermark` (found through a BRIN index on created_at) and stores
  as the new watermark the least of the run's statement time and the start of every other transaction
  open in the database at that moment (pg_stat_activity: a transaction that commits after the run can
  only hold rows created at or after its start), minus `var('rollup_commit_margin')` (default 10 seconds:
  slack for clock steps and for the instant between a transaction taking its start time and publishing
  it). Seeing other sessions' transaction starts needs superuser or pg_read_all_stats; without it the
  watermark is also held back by `var('rollup_unseen_transaction_margin')` (default 1 hour), and
  transactions open longer than that could be missed.
  Not covered: rows written with an explicit old `created_at`, prepared (two-phase) transactions, and
  updates or deletes of raw rows older than the lookback (run with `rollup_full_refresh: true` after those).

  Model config: `time_column` (the bucket column), `bucket_width` (a fixed width, e.g. '1 hour'), `grain`
  (list of columns unique per row), `refresh_policy` (start_offset, end_offset, schedule_interval).
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


{% macro arc_eval_rollup_columns_changed(relation, sql) %}
    {#- True when the existing relation's column names differ from the model's (the model was edited):
        the rollup is then rebuilt rather than patched. -#}
    {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
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


{% macro rollup_where(raw_time_column) -%}
    {#- In a model of the `rollup` materialization: restrict the raw rows to those the run recomputes.
        Renders nothing for a continuous aggregate; for an incremental table it renders a filter that
        keeps every row (valid on its own: a full build), which the materialization replaces with the
        time ranges of the buckets to recompute. -#}
    {%- if execute and config.get('materialized') == 'rollup' and arc_eval_rollup_mode() == 'incremental' -%}
        where {{ arc_eval_rollup_filter_marker(raw_time_column) }}
    {%- endif -%}
{%- endmacro %}


{% macro arc_eval_rollup_state_relation(relation) %}
    {{ return(api.Relation.create(database=relation.database, schema=relation.schema,
                                  identifier='arc_eval_rollup_state', type='table')) }}
{% endmacro %}


{% macro arc_eval_rollup_ensure_state(state) %}
    {#- Creates the watermark table if missing, in its own committed transaction (an advisory lock keeps
        parallel rollup nodes from racing on the CREATE). -#}
    {% call statement('rollup_state_table') -%}
        select pg_advisory_xact_lock(hashtext('arc_eval_rollup_state'));
        create table if not exists {{ state }} (
            rollup_name text primary key,
            source_watermark timestamptz not null,
            refreshed_at timestamptz not null
        )
    {%- endcall %}
    {{ adapter.commit() }}
{% endmacro %}


{% macro arc_eval_rollup_position(state, relation, time_column, width, incremental) %}
    {#- One query, in the run's transaction before it reads the sources (and before anything else in that
        transaction reads pg_stat_activity, whose contents are fixed at first use): {'horizon': the
        watermark this run may store (see the header), 'watermark': the stored one, 'start': the first
        bucket of the lookback window}, as SQL literals; watermark and start are none unless
        `incremental`, start is none when the rollup is empty. -#}
    {%- set query -%}
        select
            (least(
                statement_timestamp(),
                (
                    select min(a.xact_start) from pg_stat_activity as a
                    where a.datname = current_database() and a.pid <> pg_backend_pid()
                ),
                case when not pg_has_role('pg_read_all_stats', 'usage') then
                    statement_timestamp() - interval '{{ var('rollup_unseen_transaction_margin', '1 hour') }}'
                end
            ) - interval '{{ var('rollup_commit_margin', '10 seconds') }}')::text
            {%- if incremental %},
            (select source_watermark from {{ state }} where rollup_name = '{{ relation.identifier }}')::text,
            (
                select {{ bucket(width, 'max(' ~ adapter.quote(time_column) ~ ") - interval '"
                                         ~ var('rollup_lookback', '1 day') ~ "'") }}
                from {{ relation }}
            )::text
            {%- endif %}
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- set literals = [] -%}
    {%- for value in row -%}
        {%- do literals.append(none if value is none else "timestamptz '" ~ value ~ "'") -%}
    {%- endfor -%}
    {{ return({
        'horizon': literals[0],
        'watermark': literals[1] if incremental else none,
        'start': literals[2] if incremental else none,
    }) }}
{% endmacro %}


{% macro arc_eval_rollup_store_watermark(state, relation, horizon) -%}
    insert into {{ state }} (rollup_name, source_watermark, refreshed_at)
    values ('{{ relation.identifier }}', {{ horizon }}, now())
    on conflict (rollup_name) do update
    set source_watermark = excluded.source_watermark, refreshed_at = excluded.refreshed_at
{%- endmacro %}


{% macro arc_eval_rollup_late_ranges(raw_time_column, width, watermark, start) %}
    {#- [from, to) time ranges (SQL literals), bucket-aligned and merged when adjacent, of the buckets
        before `start` that hold a source row created at or after `watermark`. -#}
    {%- set step = "(interval '1 second' * extract(epoch from interval '" ~ width ~ "'))" -%}
    {%- set ranges = [] -%}
    {%- for node_source in model.sources -%}
        {%- set query -%}
            with late as (
                select distinct {{ bucket(width, raw_time_column) }} as b
                from {{ source(node_source[0], node_source[1]) }}
                where created_at >= {{ watermark }} and {{ raw_time_column }} < {{ start }}
            ),
            numbered as (
                select b, b - {{ step }} * row_number() over (order by b) as island from late
            )
            select min(b)::text, (max(b) + {{ step }})::text from numbered group by island order by 1
        {%- endset -%}
        {%- for row in run_query(query).rows -%}
            {%- do ranges.append(["timestamptz '" ~ row[0] ~ "'", "timestamptz '" ~ row[1] ~ "'"]) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(ranges) }}
{% endmacro %}


{% macro arc_eval_rollup_in_ranges(column, start, ranges) -%}
    {#- `column` falls in [start, infinity) or in one of `ranges`. -#}
    ({{ column }} >= {{ start }}
    {%- for range in ranges %} or ({{ column }} >= {{ range[0] }} and {{ column }} < {{ range[1] }}){% endfor -%})
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
    {%- set rebuild = arc_eval_rollup_rebuild()
        or (kind is not none and arc_eval_rollup_columns_changed(this, sql)) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if mode == 'continuous_aggregate' -%}
        {%- set target_relation = this.incorporate(type='view') -%}
        {%- if kind is not none and (rebuild or kind != 'continuous_aggregate') -%}
            {% call statement('drop_existing') %}{{ arc_eval_drop_any(this, kind) }}{% endcall %}
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
        {%- set marker = modules.re.search('arc_eval_rollup_filter\\((\\w+)\\)', sql) -%}
        {%- if marker is none -%}
            {{ exceptions.raise_compiler_error(this ~ ": a rollup model must filter its source with rollup_where()") }}
        {%- endif -%}
        {%- set raw_time_column = marker.group(1) -%}
        {% do arc_eval_rollup_ensure_state(state) %}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='quoted') | join(', ')
            if kind == 'table' and not rebuild else none -%}
        {%- set started = modules.datetime.datetime.now() -%}
        {% do run_query("select pg_advisory_xact_lock(hashtext('arc_eval_rollup " ~ this ~ "'))") %}
        {%- set position = arc_eval_rollup_position(state, this, time_column, width, kind == 'table' and not rebuild) -%}
        {%- set horizon = position.horizon -%}
        {%- set watermark = position.watermark -%}
        {%- if kind == 'table' and not rebuild and watermark is none -%}
            {{ log("arc_eval: " ~ this ~ " has no watermark in " ~ state ~ "; rebuilding it", info=true) }}
        {%- endif -%}
        {%- if watermark is not none -%}
            {%- set start = position.start -%}
            {%- set ranges = [] if start is none
                else arc_eval_rollup_late_ranges(raw_time_column, width, watermark, start) -%}
            {%- set raw_filter = 'true' if start is none
                else arc_eval_rollup_in_ranges(raw_time_column, start, ranges) -%}
            {%- set delta_sql = sql | replace(arc_eval_rollup_filter_marker(raw_time_column), raw_filter) -%}
            {% call statement('main') -%}
                delete from {{ this }}
                {% if start is not none %}where {{ arc_eval_rollup_in_ranges(adapter.quote(time_column), start, ranges) }}{% endif %};
                insert into {{ this }} ({{ columns }})
                select {{ columns }} from (
                    {{ delta_sql }}
                ) as rollup_delta;
                {{ arc_eval_rollup_store_watermark(state, this, horizon) }}
            {%- endcall %}
            {%- set action = "updated from " ~ (start or "the beginning") ~ " and " ~ ranges | length
                ~ " late range(s)" -%}
        {%- else -%}
            {%- if kind is not none -%}
                {% call statement('drop_existing') %}{{ arc_eval_drop_any(this, kind) }}{% endcall %}
            {%- endif -%}
            {% call statement('main') -%}
                create table {{ this }} as (
                    {{ sql }}
                );
                create unique index on {{ this }} ({{ grain_list }});
                analyze {{ this }};
                {{ arc_eval_rollup_store_watermark(state, this, horizon) }}
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
