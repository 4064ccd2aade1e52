{#- Every TimescaleDB call goes through these helpers. Each consults the capability probe (`caps`, from
    arc_eval_capabilities()); a feature the server lacks is skipped with one log line per feature and run,
    never an error. Each call is idempotent: it looks in the catalog first and adds only what is missing. -#}

{#- Logs, once per run and feature, that `feature` is skipped and why. Returns true when the feature is on. -#}
{% macro arc_eval_ts_available(caps, feature, consequence) %}
    {%- set reason = caps.reasons[feature] -%}
    {%- if reason is none -%}{{ return(true) }}{%- endif -%}
    {%- if feature not in caps.skipped -%}
        {%- do caps.skipped.update({feature: reason}) -%}
        {% do log("arc-eval: " ~ feature | replace("_", " ") ~ " skipped: " ~ reason ~ "; " ~ consequence, info=True) %}
    {%- endif -%}
    {{ return(false) }}
{% endmacro %}


{% macro arc_eval_ts_is_hypertable(schema, table) %}
    {%- set r = run_query("select 1 from timescaledb_information.hypertables where hypertable_schema = '" ~ schema ~ "' and hypertable_name = '" ~ table ~ "'") -%}
    {{ return(r.rows | length > 0) }}
{% endmacro %}


{#- The chunk interval of hypertable `table`: var chunk_intervals (dbt_project.yml), as a quoted SQL interval. -#}
{% macro arc_eval_chunk_interval(table) %}
    {%- set intervals = var("chunk_intervals", {}) -%}
    {%- if intervals is not mapping or table not in intervals -%}
        {{ exceptions.raise_compiler_error("var chunk_intervals: no interval for '" ~ table ~ "' (expected a mapping of table to interval, as in dbt_project.yml)") }}
    {%- endif -%}
    {{ return("interval '" ~ (intervals[table] | string | replace("'", "''")) ~ "'") }}
{% endmacro %}


{#- Sets the chunk interval of hypertable schema.table to chunk_interval (a SQL interval) when it differs:
    chunks made from then on use it, existing ones keep theirs. Returns true if it changed it. -#}
{% macro arc_eval_ts_set_chunk_interval(caps, schema, table, chunk_interval) %}
    {%- if not caps.has_hypertables -%}{{ return(false) }}{%- endif -%}
    {%- set r = run_query("select time_interval = " ~ chunk_interval ~ " from timescaledb_information.dimensions where hypertable_schema = '" ~ schema ~ "' and hypertable_name = '" ~ table ~ "' and dimension_number = 1") -%}
    {%- if r.rows | length == 0 or r.rows[0][0] -%}{{ return(false) }}{%- endif -%}
    {% do run_query("select public.set_chunk_time_interval('" ~ schema ~ "." ~ table ~ "', " ~ chunk_interval ~ ")") %}
    {{ return(true) }}
{% endmacro %}


{#- Makes schema.table a hypertable on time_column with the given chunk interval. Returns true if it made one. -#}
{% macro arc_eval_ts_create_hypertable(caps, schema, table, time_column, chunk_interval) %}
    {%- if not arc_eval_ts_available(caps, "hypertables", "outcomes, failure_patterns and tool_usage are plain tables with BRIN indexes on execution_time") -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if arc_eval_ts_is_hypertable(schema, table) -%}{{ return(false) }}{%- endif -%}
    {% do run_query("select public.create_hypertable('" ~ schema ~ "." ~ table ~ "', '" ~ time_column ~ "', chunk_time_interval => " ~ chunk_interval ~ ", if_not_exists => true, create_default_indexes => false, migrate_data => true)") %}
    {{ return(true) }}
{% endmacro %}


{#- Enables native compression on a hypertable, or brings its settings to segmentby/orderby when they differ
    (chunks compressed from then on use them; compressed ones keep theirs). Returns true if it changed any. -#}
{% macro arc_eval_ts_enable_compression(caps, schema, table, segmentby, orderby) %}
    {%- if not arc_eval_ts_available(caps, "compression", "chunks stay uncompressed") -%}{{ return(false) }}{%- endif -%}
    {%- set r = run_query("select h.compression_enabled, coalesce(s.segmentby, ''), coalesce(s.orderby, '') from timescaledb_information.hypertables as h left join timescaledb_information.hypertable_compression_settings as s on s.hypertable = format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass where h.hypertable_schema = '" ~ schema ~ "' and h.hypertable_name = '" ~ table ~ "'") -%}
    {%- if r.rows | length == 0 -%}{{ return(false) }}{%- endif -%}
    {%- if r.rows[0][0] and r.rows[0][1] == segmentby | replace(", ", ",") and r.rows[0][2] == orderby | replace(", ", ",") -%}
        {{ return(false) }}
    {%- endif -%}
    {% do run_query("alter table " ~ schema ~ "." ~ table ~ " set (timescaledb.compress, timescaledb.compress_segmentby = '" ~ segmentby ~ "', timescaledb.compress_orderby = '" ~ orderby ~ "')") %}
    {{ return(true) }}
{% endmacro %}


{% macro arc_eval_ts_job_exists(schema, proc_name, table=none) %}
    {%- set sql -%}
        select 1 from timescaledb_information.jobs
        where proc_name = '{{ proc_name }}'
        {%- if table is none %} and proc_schema = '{{ schema }}'
        {%- else %} and hypertable_schema = '{{ schema }}' and hypertable_name = '{{ table }}'
        {%- endif %}
    {%- endset -%}
    {{ return(run_query(sql).rows | length > 0) }}
{% endmacro %}


{#- Adds a compression or retention policy (kind = 'compression' | 'retention') unless one exists. -#}
{% macro arc_eval_ts_add_policy(caps, kind, schema, table, after) %}
    {%- set consequence = "run `arc-eval maintain` to apply retention" if kind == "retention" else "chunks stay uncompressed" -%}
    {%- if not arc_eval_ts_available(caps, "policies", consequence) -%}{{ return(false) }}{%- endif -%}
    {%- if arc_eval_ts_job_exists(schema, "policy_" ~ kind, table) -%}{{ return(false) }}{%- endif -%}
    {%- set fn = "add_compression_policy" if kind == "compression" else "add_retention_policy" -%}
    {% do run_query("select public." ~ fn ~ "('" ~ schema ~ "." ~ table ~ "', interval '" ~ after ~ "', if_not_exists => true)") %}
    {{ return(true) }}
{% endmacro %}


{#- Schedules procedure schema.proc_name as a user-defined action unless it is scheduled already. -#}
{% macro arc_eval_ts_add_job(caps, schema, proc_name, schedule_interval, config) %}
    {%- if not arc_eval_ts_available(caps, "policies", "run `arc-eval maintain` to apply retention") -%}{{ return(false) }}{%- endif -%}
    {%- if arc_eval_ts_job_exists(schema, proc_name) -%}{{ return(false) }}{%- endif -%}
    {% do run_query("select public.add_job('" ~ schema ~ "." ~ proc_name ~ "', interval '" ~ schedule_interval ~ "', config => '" ~ tojson(config) ~ "'::jsonb)") %}
    {{ return(true) }}
{% endmacro %}
