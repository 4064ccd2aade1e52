{#- The ingest log of late rows: table `ingest_late_hours`, function `arc_eval_log_late_hours` and an AFTER
    INSERT statement trigger `arc_eval_late_hours` on each time-series raw table (the specs with a
    `time_column`: outcomes, tool_usage, failure_patterns). The incremental rollups read it to find the
    buckets of rows ingested since their watermark without looking into every chunk of their sources
    (macros/rollups/rollup.sql has the argument). Internal: owned by the owner role, granted to no one; the
    trigger function is SECURITY DEFINER, so writers need no privilege on the log.

    Rows, by kind:
    - 'late rows': an hour holding rows older than arc_eval_rollup_late_after() when they were inserted;
      created_at is the inserting transaction's now().
    - 'logging started': the trigger was (re)created at created_at (clock time after it exists): the log
      holds the late rows of every transaction that started after that.
    - 'pruned': the rollups deleted the 'late rows' entries created before created_at (every rollup had
      read them).
    A reader may trust the log for rows created since its watermark only when, for each source, the newest
    'logging started' and 'pruned' marks are before that watermark. -#}

{% macro arc_eval_rollup_late_after() -%}
    {#- Rows whose time is older than this when they are inserted are "late": the log records their hours.
        Read by the trigger function and by the rollups. A change replaces the function at the next run,
        which marks a new 'logging started' for every source (rows inserted under the old value are then
        found by scanning until the rollups' watermarks pass the mark). -#}
    15 minutes
{%- endmacro %}


{#- The log's name, its trigger's name and its kinds. -#}
{% macro arc_eval_ingest_log_names() %}
    {{ return({"table": "ingest_late_hours", "trigger": "arc_eval_late_hours", "function": "arc_eval_log_late_hours"}) }}
{% endmacro %}


{#- {table: time column} of the raw tables whose late rows are logged. -#}
{% macro arc_eval_ingest_logged_tables() %}
    {%- set tables = {} -%}
    {%- for spec in arc_eval_raw_table_specs() if spec.get("time_column") -%}
        {%- do tables.update({spec.name: spec.time_column}) -%}
    {%- endfor -%}
    {{ return(tables) }}
{% endmacro %}


{% macro arc_eval_ingest_log_table_sql(s) %}
create table {{ s }}.{{ arc_eval_ingest_log_names().table }} (
    source_table text not null,
    time_column text not null,
    kind text not null constraint ingest_late_hours_kind_check check (kind in ('logging started', 'late rows', 'pruned')),
    hour timestamptz,
    created_at timestamptz not null default now()
)
{% endmacro %}


{#- The trigger function (argument: the table's time column). A missing log table must not stop
    ingestion: the statement's entries are lost, and the next run recreates the table with new
    'logging started' marks, so the rollups scan meanwhile. -#}
{% macro arc_eval_ingest_log_function_sql(s) %}
{%- set names = arc_eval_ingest_log_names() -%}
create or replace function {{ s }}.{{ names.function }}() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $arc$
begin
    execute format(
        'insert into {{ s }}.{{ names.table }} (source_table, time_column, kind, hour) '
        'select %L, %L, ''late rows'', h from (select distinct date_bin(interval ''1 hour'', %I, '
        'timestamptz ''2000-01-03 00:00:00+00'') as h from new_rows '
        'where %I < now() - interval ''{{ arc_eval_rollup_late_after() }}'') as late',
        tg_table_schema || '.' || tg_table_name, tg_argv[0], tg_argv[0], tg_argv[0]
    );
    return null;
exception when undefined_table then
    return null;
end
$arc$
{% endmacro %}


{#- Whether statement triggers with transition tables work on `table`: plain PostgreSQL, or TimescaleDB
    2.18 and later on hypertables. -#}
{% macro arc_eval_ingest_log_supported(caps, hypertables, table) %}
    {%- if caps.timescaledb_version is none or table not in hypertables -%}{{ return(true) }}{%- endif -%}
    {%- set version = caps.timescaledb_version.split(".") -%}
    {{ return([version[0] | int, version[1] | int] >= [2, 18]) }}
{% endmacro %}


{#- Creates the log table and function (the function is replaced when its body differs), and (re)creates
    the trigger on each logged table where it is missing or not enabled, where the log has no
    'logging started' row for it (the log was dropped) or where the function was replaced, each time with a
    'logging started' mark. Drops the triggers an older version added from the rollup materialization.
    Appends what it did to `changes`. -#}
{% macro arc_eval_raw_ingest_log(s, caps, catalog, changes) %}
    {%- set names = arc_eval_ingest_log_names() -%}
    {%- set log = s ~ "." ~ names.table -%}
    {%- set recreate_all = names.table not in catalog.columns -%}
    {%- if recreate_all -%}
        {% do run_query(arc_eval_ingest_log_table_sql(s)) %}
        {% do run_query("create index if not exists " ~ names.table ~ "_lookup on " ~ log ~ " (source_table, time_column, created_at)") %}
        {%- do changes.append("table " ~ names.table) -%}
    {%- endif -%}
    {%- set definition = arc_eval_ingest_log_function_sql(s) -%}
    {%- set body = run_query("select p.prosrc from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = '" ~ s ~ "' and p.proname = '" ~ names.function ~ "'").rows -%}
    {%- if not body or body[0][0] != definition.split("$arc$")[1] -%}
        {% do run_query(definition) %}
        {%- do changes.append(("function " if body else "new function ") ~ names.function) -%}
        {%- set recreate_all = true -%}
    {%- endif -%}

    {#- Triggers of the rollup materialization's own log (`arc_eval_late_rows_<schema>_<column>`, writing
        `<schema>.arc_eval_rollup_ingest_log`): dropped with their function and log. -#}
    {%- for row in run_query("select t.tgname, c.relname, p.oid::regprocedure::text, quote_ident(pn.nspname) from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace join pg_proc p on p.oid = t.tgfoid join pg_namespace pn on pn.oid = p.pronamespace where n.nspname = '" ~ s ~ "' and t.tgname like 'arc\\_eval\\_late\\_rows\\_%'").rows -%}
        {% do run_query("drop trigger " ~ row[0] ~ " on " ~ s ~ "." ~ row[1]) %}
        {% do run_query("do $arc$ begin drop function " ~ row[2] ~ "; drop table if exists " ~ row[3] ~ ".arc_eval_rollup_ingest_log; exception when dependent_objects_still_exist or undefined_function or insufficient_privilege then null; end $arc$") %}
        {%- do changes.append("dropped trigger " ~ row[0] ~ " on " ~ row[1]) -%}
    {%- endfor -%}

    {%- set hypertables = [] -%}
    {%- if caps.has_hypertables -%}
        {%- for row in run_query("select hypertable_name from timescaledb_information.hypertables where hypertable_schema = '" ~ s ~ "'").rows -%}
            {%- do hypertables.append(row[0]) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set enabled = [] -%}
    {%- for row in run_query("select c.relname from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace where n.nspname = '" ~ s ~ "' and t.tgname = '" ~ names.trigger ~ "' and t.tgenabled in ('O', 'A')").rows -%}
        {%- do enabled.append(row[0]) -%}
    {%- endfor -%}
    {%- set logged = arc_eval_ingest_logged_tables() -%}
    {%- set started = [] -%}
    {%- if not recreate_all -%}
        {%- set candidates = [] -%}
        {%- for table, time_column in logged.items() -%}
            {%- do candidates.append("('" ~ s ~ "." ~ table ~ "', '" ~ time_column ~ "')") -%}
        {%- endfor -%}
        {%- for row in run_query("select t.source_table from (values " ~ candidates | join(", ") ~ ") as t (source_table, time_column) where exists (select 1 from " ~ log ~ " as l where l.source_table = t.source_table and l.time_column = t.time_column and l.kind = 'logging started')").rows -%}
            {%- do started.append(row[0]) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for table, time_column in logged.items() -%}
        {%- if not arc_eval_ingest_log_supported(caps, hypertables, table) -%}
            {% do log("arc-eval: no ingest log on " ~ s ~ "." ~ table ~ ": TimescaleDB " ~ caps.timescaledb_version ~ " has no statement triggers with transition tables on hypertables (2.18 and later do); incremental rollups scan it for late rows", info=True) %}
        {%- elif recreate_all or table not in enabled or (s ~ "." ~ table) not in started -%}
            {% do run_query("drop trigger if exists " ~ names.trigger ~ " on " ~ s ~ "." ~ table) %}
            {% do run_query("create trigger " ~ names.trigger ~ " after insert on " ~ s ~ "." ~ table ~ " referencing new table as new_rows for each statement execute function " ~ s ~ "." ~ names.function ~ "('" ~ time_column ~ "')") %}
            {% do run_query("insert into " ~ log ~ " (source_table, time_column, kind, created_at) values ('" ~ s ~ "." ~ table ~ "', '" ~ time_column ~ "', 'logging started', clock_timestamp())") %}
            {%- do changes.append("ingest log trigger " ~ table) -%}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}
