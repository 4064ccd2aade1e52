{#-
  The `rollup` materialization: one model file, two physical forms.

  - Where TimescaleDB continuous aggregates are available (community license, the source is a hypertable),
    the model becomes a real-time continuous aggregate (`timescaledb.materialized_only = false`) with the
    refresh policy from the model's `refresh_policy` config, added once. Every run then refreshes what
    changed (`refresh_continuous_aggregate(..., null, null)` only recomputes invalidated buckets).
  - Elsewhere (Apache TimescaleDB, plain PostgreSQL) it is a table kept up to date by delete+insert of the
    buckets from `max(bucket) - var('rollup_lookback')` onwards; the first run (or `rollup_full_refresh`)
    builds it whole. The model's SQL filters the raw rows with `{{ rollup_where('<time column>') }}`.

  Model config: `time_column` (the bucket column), `bucket_width` (e.g. '1 hour'), `grain` (list of
  columns unique per row), `refresh_policy` (start_offset, end_offset, schedule_interval).
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


{% macro arc_eval_rollup_start(relation, time_column, width) %}
    {#- First bucket the next incremental run recomputes, as a SQL literal; none means "everything". -#}
    {%- if not execute or arc_eval_rollup_rebuild() or arc_eval_relation_kind(relation) != 'table' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select {{ bucket(width, 'max(' ~ adapter.quote(time_column) ~ ") - interval '" ~ var('rollup_lookback', '1 day') ~ "'") }}::text
        from {{ relation }}
    {%- endset -%}
    {%- set value = run_query(query).columns[0].values()[0] -%}
    {{ return(none if value is none else "timestamptz '" ~ value ~ "'") }}
{% endmacro %}


{% macro arc_eval_rollup_start_marker() -%}
    timestamptz '-infinity' /* arc_eval_rollup_start */
{%- endmacro %}


{% macro rollup_where(raw_time_column) -%}
    {#- In a model of the `rollup` materialization: restrict the raw rows to those the run recomputes.
        Renders nothing for a continuous aggregate; for an incremental table it renders a filter from
        '-infinity' (valid on its own: a full build), whose bound the materialization replaces with the
        first bucket to recompute. -#}
    {%- if execute and config.get('materialized') == 'rollup' and arc_eval_rollup_mode() == 'incremental' -%}
        where {{ raw_time_column }} >= {{ arc_eval_rollup_start_marker() }}
    {%- endif -%}
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
        time from `started`, through the commit; the probes and catalog lookups before are not counted). -#}
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
        {%- if kind == 'table' and not rebuild -%}
            {%- set start = arc_eval_rollup_start(this, time_column, width) -%}
            {%- set delta_sql = sql if start is none else sql | replace(arc_eval_rollup_start_marker(), start) -%}
            {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='quoted') | join(', ') -%}
            {%- set started = modules.datetime.datetime.now() -%}
            {% call statement('main') -%}
                delete from {{ this }}
                {% if start is not none %}where {{ adapter.quote(time_column) }} >= {{ start }}{% endif %};
                insert into {{ this }} ({{ columns }})
                select {{ columns }} from (
                    {{ delta_sql }}
                ) as rollup_delta
            {%- endcall %}
            {%- set action = "updated from " ~ (start or "the beginning") -%}
        {%- else -%}
            {%- set started = modules.datetime.datetime.now() -%}
            {%- if kind is not none -%}
                {% call statement('drop_existing') %}{{ arc_eval_drop_any(this, kind) }}{% endcall %}
            {%- endif -%}
            {% call statement('main') -%}
                create table {{ this }} as (
                    {{ sql }}
                );
                create unique index on {{ this }} ({{ grain_list }});
                analyze {{ this }}
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
