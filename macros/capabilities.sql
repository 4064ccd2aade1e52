{#- The capability probe: what this server offers, as data. Python twin: arc_eval.capabilities.probe(). -#}

{% macro arc_eval_capabilities_sql() %}
select
    (select extversion from pg_extension where extname = 'timescaledb') as timescaledb_version,
    (select default_version from pg_available_extensions where name = 'timescaledb') as timescaledb_available,
    current_setting('timescaledb.license', true) as timescaledb_license,
    coalesce(current_setting('shared_preload_libraries', true), '') like '%timescaledb%' as timescaledb_preloaded,
    (select extversion from pg_extension where extname = 'vector') as vector_version,
    (select default_version from pg_available_extensions where name = 'vector') as vector_available,
    current_setting('server_version') as server_version,
    current_setting('server_version_num')::integer as server_version_num,
    coalesce((select 'lz4' = any(enumvals) from pg_settings where name = 'default_toast_compression'), false) as lz4_available
{% endmacro %}


{#- Returns a dict: the probed values plus has_timescaledb, has_hypertables, has_compression,
    has_continuous_aggregates, has_policies, has_vector, has_lz4, and reasons[feature] (why a feature is off).
    At parse time (execute is false) every feature is off. The server is probed once per dbt invocation
    (cached in `graph`, as elementary caches its run state); `refresh=true` probes again, after an
    extension was created. -#}
{% macro arc_eval_capabilities(refresh=false) %}
    {%- set cache = graph.setdefault('arc_eval', {}) if execute else {} -%}
    {%- if not refresh and cache.get('invocation_id') == invocation_id and 'capabilities' in cache -%}
        {{ return(cache['capabilities']) }}
    {%- endif -%}
    {%- set caps = {
        "timescaledb_version": none,
        "timescaledb_available": none,
        "timescaledb_license": none,
        "timescaledb_preloaded": false,
        "vector_version": none,
        "vector_available": none,
        "server_version": none,
        "server_version_num": 0,
        "lz4_available": false,
    } -%}
    {%- if execute -%}
        {%- set result = run_query(arc_eval_capabilities_sql()) -%}
        {%- for column in result.column_names -%}
            {%- do caps.update({column: result.rows[0][column]}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set has_ts = caps.timescaledb_version is not none -%}
    {%- set community = has_ts and caps.timescaledb_license == "timescale" -%}
    {%- if not has_ts -%}
        {%- if caps.timescaledb_available is none -%}
            {%- set ts_reason = "TimescaleDB is not installed on this server" -%}
        {%- elif not caps.timescaledb_preloaded -%}
            {%- set ts_reason = "TimescaleDB is available but not in shared_preload_libraries" -%}
        {%- else -%}
            {%- set ts_reason = "the timescaledb extension is not created in this database" -%}
        {%- endif -%}
        {%- set license_reason = ts_reason -%}
    {%- else -%}
        {%- set ts_reason = none -%}
        {%- set license_reason = none if community else "TimescaleDB license is '" ~ caps.timescaledb_license ~ "' (needs the community license 'timescale')" -%}
    {%- endif -%}
    {%- do caps.update({
        "has_timescaledb": has_ts,
        "has_hypertables": has_ts,
        "has_compression": community,
        "has_continuous_aggregates": community,
        "has_policies": community,
        "has_vector": caps.vector_version is not none,
        "has_lz4": caps.lz4_available,
        "reasons": {
            "hypertables": ts_reason,
            "compression": license_reason,
            "continuous_aggregates": license_reason,
            "policies": license_reason,
            "vector": none if caps.vector_version is not none else "pgvector (extension 'vector') is not installed",
            "lz4_compression": none if caps.lz4_available else "this PostgreSQL was built without lz4",
        },
        "skipped": {},
    }) -%}
    {%- if execute -%}
        {%- do cache.update({'invocation_id': invocation_id, 'capabilities': caps}) -%}
    {%- endif -%}
    {{ return(caps) }}
{% endmacro %}


{#- `dbt run-operation arc_eval_print_capabilities`: logs the probe as one JSON line. -#}
{% macro arc_eval_print_capabilities() %}
    {%- set caps = {} -%}
    {%- for key, value in arc_eval_capabilities().items() if key != "skipped" -%}
        {%- do caps.update({key: value}) -%}
    {%- endfor -%}
    {% do log("arc-eval capabilities: " ~ tojson(caps), info=True) %}
    {{ return(caps) }}
{% endmacro %}


{#- Creates the extensions this project uses, in schema public, when the server has them.
    pgvector is required (the raw tables hold vector(1536) columns); TimescaleDB is optional. -#}
{% macro arc_eval_ensure_extensions() %}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set caps = arc_eval_capabilities() -%}
    {%- if caps.vector_version is none -%}
        {%- if caps.vector_available is none -%}
            {{ exceptions.raise_compiler_error("arc-eval needs pgvector: install the PostgreSQL extension 'vector' on this server (Debian: postgresql-NN-pgvector)") }}
        {%- endif -%}
        {% do run_query("create extension if not exists vector with schema public") %}
        {%- set caps = arc_eval_capabilities(refresh=true) -%}
    {%- endif -%}
    {%- if caps.timescaledb_version is none and caps.timescaledb_available is not none and caps.timescaledb_preloaded -%}
        {#- A failure here (e.g. no privilege) must not stop the schema: report it and go on as plain PostgreSQL. -#}
        {% do run_query("do $arc$ begin create extension if not exists timescaledb with schema public; exception when others then raise warning 'arc-eval: could not create extension timescaledb: %', sqlerrm; end $arc$") %}
        {%- if arc_eval_capabilities(refresh=true).timescaledb_version is none -%}
            {% do log("arc-eval: could not create extension timescaledb here (see the server log); continuing as plain PostgreSQL", info=True) %}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
