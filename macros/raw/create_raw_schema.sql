{#- arc_eval_create_raw_schema(): creates or migrates everything in the raw schema (var raw_schema).

    Runs from `dbt run-operation arc_eval_create_raw_schema`, from `arc-eval init` and from on-run-start.
    It executes its own statements in one transaction (serialised by an advisory lock), commits, and
    returns an empty string, so the hook itself has nothing left to run.

    Guarantees: every table, column, constraint, index, trigger, function and TimescaleDB object of the
    contract exists afterwards; only what is missing is added, by name (a second run issues no DDL;
    a function is replaced only when its body changed); no row is dropped; features the server lacks
    are skipped with one log line each. -#}

{% macro arc_eval_raw_schema_name() %}
    {%- set name = var("raw_schema", "arc_eval_raw") -%}
    {%- if not modules.re.match("^[a-z_][a-z0-9_]*$", name) -%}
        {{ exceptions.raise_compiler_error("var raw_schema must be a lower-case identifier, got '" ~ name ~ "'") }}
    {%- endif -%}
    {{ return(name) }}
{% endmacro %}


{#- The raw tables in creation order (parents before children). -#}
{% macro arc_eval_raw_table_specs() %}
    {{ return([
        arc_eval_raw_configurations(),
        arc_eval_raw_config_versions(),
        arc_eval_raw_config_diffs(),
        arc_eval_raw_scenarios(),
        arc_eval_raw_simulations(),
        arc_eval_raw_simulations_scenarios(),
        arc_eval_raw_outcomes(),
        arc_eval_raw_failure_patterns(),
        arc_eval_raw_tool_usage(),
        arc_eval_raw_llm_recommendation_sessions(),
        arc_eval_raw_recommendations(),
        arc_eval_raw_audit_log(),
        arc_eval_raw_ingest_dead_letters(),
    ]) }}
{% endmacro %}


{#- Names already in the schema: {"columns": {table: [..]}, "constraints": {table: [..]}, "indexes": [..],
    "lz4_columns": {table: [columns compressed with lz4]},
    "triggers": {table: [..]}}. -#}
{% macro arc_eval_raw_catalog(s) %}
    {%- set catalog = {"columns": {}, "constraints": {}, "lz4_columns": {}, "indexes": [], "triggers": {}} -%}
    {%- set queries = {
        "columns": "select c.relname, a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace where n.nspname = '" ~ s ~ "' and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped",
        "constraints": "select c.relname, con.conname from pg_constraint con join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace where n.nspname = '" ~ s ~ "'",
        "lz4_columns": "select c.relname, a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace where n.nspname = '" ~ s ~ "' and c.relkind in ('r', 'p') and a.attcompression = 'l'",
        "triggers": "select c.relname, t.tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace where n.nspname = '" ~ s ~ "' and not t.tgisinternal",
    } -%}
    {%- for kind, sql in queries.items() -%}
        {%- for row in run_query(sql).rows -%}
            {%- if row[0] not in catalog[kind] -%}{%- do catalog[kind].update({row[0]: []}) -%}{%- endif -%}
            {%- do catalog[kind][row[0]].append(row[1]) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for row in run_query("select indexname from pg_indexes where schemaname = '" ~ s ~ "'").rows -%}
        {%- do catalog.indexes.append(row[0]) -%}
    {%- endfor -%}
    {{ return(catalog) }}
{% endmacro %}


{% macro arc_eval_create_raw_schema() %}
    {%- if not execute -%}{{ return("") }}{%- endif -%}
    {%- set s = arc_eval_raw_schema_name() -%}
    {#- auto_begin: dbt opens its transaction here, so adapter.commit() below commits everything at once. -#}
    {% do adapter.execute("select pg_advisory_xact_lock(hashtext('arc_eval_create_raw_schema'))", auto_begin=true) %}
    {% do arc_eval_ensure_extensions() %}
    {%- set caps = arc_eval_capabilities() -%}
    {% do run_query("create schema if not exists " ~ s) %}
    {%- set specs = arc_eval_raw_table_specs() -%}
    {%- set catalog = arc_eval_raw_catalog(s) -%}
    {%- set changes = [] -%}

    {#- 1. Tables, and columns added since a table was made. -#}
    {%- for spec in specs -%}
        {%- set existing = catalog.columns.get(spec.name) -%}
        {%- if existing is none -%}
            {%- set defs = [] -%}
            {%- for column in spec.columns -%}{%- do defs.append('"' ~ column[0] ~ '" ' ~ column[1]) -%}{%- endfor -%}
            {%- do defs.append("constraint " ~ spec.name ~ "_pkey primary key (" ~ spec.primary_key | join(", ") ~ ")") -%}
            {% do run_query("create table if not exists " ~ s ~ "." ~ spec.name ~ " (" ~ defs | join(", ") ~ ")") %}
            {%- do changes.append("table " ~ spec.name) -%}
            {%- do catalog.constraints.update({spec.name: [spec.name ~ "_pkey"]}) -%}
        {%- else -%}
            {%- for column in spec.columns if column[0] not in existing -%}
                {% do run_query("alter table " ~ s ~ "." ~ spec.name ~ " add column if not exists \"" ~ column[0] ~ "\" " ~ column[1]) %}
                {%- do changes.append("column " ~ spec.name ~ "." ~ column[0]) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}

    {#- 1a. lz4 for the JSON and text columns' large values (TOAST): cheaper to write and read than pglz. -#}
    {%- if arc_eval_ts_available(caps, "lz4_compression", "large JSON and text values are compressed with pglz") -%}
        {%- for spec in specs -%}
            {%- set alters = [] -%}
            {%- for column in spec.columns if column[1].split(" ")[0] in ("jsonb", "text") and column[0] not in catalog.lz4_columns.get(spec.name, []) -%}
                {%- do alters.append("alter column \"" ~ column[0] ~ "\" set compression lz4") -%}
            {%- endfor -%}
            {%- if alters -%}
                {#- A hypertable with TimescaleDB compression on may refuse it: warn and keep pglz there. -#}
                {% do run_query("do $arc$ begin alter table " ~ s ~ "." ~ spec.name ~ " " ~ alters | join(", ") ~ "; exception when feature_not_supported or object_not_in_prerequisite_state then raise warning 'arc-eval: lz4 compression skipped on " ~ spec.name ~ ": %', sqlerrm; end $arc$") %}
                {%- do changes.append("lz4 compression " ~ spec.name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}

    {#- 1b. The principals table (role -> user), read by the tenant helpers and the audit trigger. -#}
    {%- if "arc_eval_principals" not in catalog.columns -%}
        {% do run_query(arc_eval_principals_sql(s)) %}
        {%- do changes.append("table arc_eval_principals") -%}
    {%- endif -%}

    {#- 2. Hypertables (before constraints and indexes, so both land on the hypertable). -#}
    {%- for spec in specs if spec.get("chunk_interval") -%}
        {%- if arc_eval_ts_create_hypertable(caps, s, spec.name, spec.time_column, spec.chunk_interval) -%}
            {%- do changes.append("hypertable " ~ spec.name ~ " (chunks of " ~ spec.chunk_interval ~ ")") -%}
        {%- elif arc_eval_ts_set_chunk_interval(caps, s, spec.name, spec.chunk_interval) -%}
            {%- do changes.append("chunk interval " ~ spec.name ~ " (" ~ spec.chunk_interval ~ ", for new chunks)") -%}
        {%- endif -%}
    {%- endfor -%}

    {#- 3. Constraints, by name: added only when missing. -#}
    {%- for spec in specs -%}
        {%- set present = catalog.constraints.get(spec.name, []) -%}
        {%- set missing = [] -%}
        {%- for constraint in spec.constraints if constraint[0] not in present -%}
            {%- do missing.append("add constraint " ~ constraint[0] ~ " " ~ constraint[1]) -%}
            {%- do changes.append("constraint " ~ spec.name ~ "." ~ constraint[0]) -%}
        {%- endfor -%}
        {%- if missing -%}
            {% do run_query("alter table " ~ s ~ "." ~ spec.name ~ " " ~ missing | join(", ")) %}
        {%- endif -%}
    {%- endfor -%}

    {#- 4. Indexes (plain CREATE INDEX: CONCURRENTLY cannot run in a transaction nor on hypertables),
           plus a BRIN index on each time column where the table is not a hypertable. -#}
    {%- for spec in specs -%}
        {%- set indexes = spec.indexes | list -%}
        {%- if spec.get("time_column") and not caps.has_hypertables -%}
            {%- do indexes.append(("idx_" ~ spec.name ~ "_" ~ spec.time_column ~ "_brin", "USING brin (" ~ spec.time_column ~ ")")) -%}
        {%- endif -%}
        {%- for index in indexes if index[0] not in catalog.indexes -%}
            {% do run_query("create index if not exists " ~ index[0] ~ " on " ~ s ~ "." ~ spec.name ~ " " ~ index[1]) %}
            {%- do changes.append("index " ~ index[0]) -%}
        {%- endfor -%}
    {%- endfor -%}

    {#- 5. Functions and procedures (replaced only when their body differs), then audit triggers. -#}
    {%- set bodies = {} -%}
    {%- for row in run_query("select p.proname, p.prosrc from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = '" ~ s ~ "'").rows -%}
        {%- do bodies.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {%- set routines = {
        "arc_eval_audit_row": arc_eval_raw_audit_function_sql(s),
        "trigger_llm_recommendation_analysis": arc_eval_raw_trigger_analysis_sql(s),
        "arc_eval_audit_log_retention": arc_eval_raw_audit_retention_sql(s),
    } -%}
    {%- do routines.update(arc_eval_tenant_routines(s)) -%}
    {%- do routines.update(arc_eval_review_routines(s)) -%}
    {%- for name, definition in routines.items() if bodies.get(name) != definition.split("$arc$")[1] -%}
        {% do run_query(definition) %}
        {%- do changes.append(("function " if name in bodies else "new function ") ~ name) -%}
    {%- endfor -%}
    {%- for spec in specs if spec.audited and "arc_eval_audit" not in catalog.triggers.get(spec.name, []) -%}
        {%- set args = [] -%}
        {%- for column in spec.audit_exclude -%}{%- do args.append("'" ~ column ~ "'") -%}{%- endfor -%}
        {% do run_query("create trigger arc_eval_audit after insert or update or delete on " ~ s ~ "." ~ spec.name ~ " for each row execute function " ~ s ~ ".arc_eval_audit_row(" ~ args | join(", ") ~ ")") %}
        {%- do changes.append("audit trigger " ~ spec.name) -%}
    {%- endfor -%}
    {%- for table, trigger in arc_eval_review_triggers().items() if trigger[0] not in catalog.triggers.get(table, []) -%}
        {% do run_query("create trigger " ~ trigger[0] ~ " " ~ trigger[1] ~ " on " ~ s ~ "." ~ table ~ " for each row execute function " ~ s ~ "." ~ trigger[2] ~ "()") %}
        {%- do changes.append("review trigger " ~ table) -%}
    {%- endfor -%}

    {#- 5b. The ingest log of late rows, read by the incremental rollups (ingest_late_hours.sql). -#}
    {% do arc_eval_raw_ingest_log(s, caps, catalog, changes) %}

    {#- 6. Roles and grants (skipped, with one log line, without CREATEROLE). Before compression: TimescaleDB
        2.19 refuses a column-level GRANT on a hypertable with compression on (it repeats the grant on the
        compressed hypertable, which lacks the column). -#}
    {%- set with_roles = arc_eval_raw_roles(s, changes) -%}

    {#- 7. Community-license features: compression and its policies, retention policies, audit_log retention job. -#}
    {#- A table that row-level security will isolate stays uncompressed (TimescaleDB refuses compression on a
        table with row security), unless compression is on already (then row security is skipped, step 8). -#}
    {%- set isolated = arc_eval_tenant_policies(s).keys() | list if with_roles and arc_eval_tenant_row_security() else [] -%}
    {%- set compressed = [] -%}
    {%- if caps.has_compression -%}
        {%- for row in run_query("select hypertable_name from timescaledb_information.hypertables where hypertable_schema = '" ~ s ~ "' and compression_enabled").rows -%}
            {%- do compressed.append(row[0]) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for spec in specs if spec.get("compression") -%}
        {%- if caps.has_compression and spec.name in isolated and spec.name not in compressed -%}
            {% do log("arc-eval: compression skipped on " ~ spec.name ~ ": row-level security isolates its tenants, and TimescaleDB refuses compression on a table with row security (var tenant_row_security: false compresses it instead; docs/security.md)", info=True) %}
        {%- else -%}
            {%- if arc_eval_ts_enable_compression(caps, s, spec.name, spec.compression.segmentby, spec.compression.orderby) -%}
                {%- do changes.append("compression settings " ~ spec.name) -%}
            {%- endif -%}
            {%- if caps.has_compression and arc_eval_ts_add_policy(caps, "compression", s, spec.name, spec.compression.after) -%}
                {%- do changes.append("compression policy " ~ spec.name ~ " (" ~ spec.compression.after ~ ")") -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for spec in specs if spec.get("retention") -%}
        {%- if spec.get("chunk_interval") -%}
            {%- if arc_eval_ts_add_policy(caps, "retention", s, spec.name, spec.retention) -%}
                {%- do changes.append("retention policy " ~ spec.name ~ " (" ~ spec.retention ~ ")") -%}
            {%- endif -%}
        {%- elif arc_eval_ts_add_job(caps, s, "arc_eval_" ~ spec.name ~ "_retention", "1 day", {"drop_after": spec.retention, "batch_size": 10000}) -%}
            {%- do changes.append("retention job " ~ spec.name ~ " (" ~ spec.retention ~ ")") -%}
        {%- endif -%}
    {%- endfor -%}


    {#- 8. Ownership, then row-level security, after compression and its policies: TimescaleDB refuses
        compression on a table with row security (the macro skips row-level security on a compressed
        hypertable instead, with a log line), and a policy whose hypertable's owner cannot log in. -#}
    {%- if with_roles -%}
        {% do arc_eval_raw_ownership(s, changes) %}
        {% do arc_eval_raw_row_security(s, arc_eval_role_names(), changes) %}
    {%- endif -%}

    {% do adapter.commit() %}
    {%- if changes | length > 12 -%}
        {%- set counts = {} -%}
        {%- for change in changes -%}
            {%- set kind = change.split(" (")[0].rsplit(" ", 1)[0] -%}
            {%- do counts.update({kind: counts.get(kind, 0) + 1}) -%}
        {%- endfor -%}
        {%- set parts = [] -%}
        {%- for kind, n in counts.items() -%}{%- do parts.append(kind ~ ": " ~ n) -%}{%- endfor -%}
        {% do log("arc-eval: raw schema " ~ s ~ ": added " ~ parts | join(", "), info=True) %}
    {%- elif changes -%}
        {% do log("arc-eval: raw schema " ~ s ~ ": added " ~ changes | join(", "), info=True) %}
    {%- else -%}
        {% do log("arc-eval: raw schema " ~ s ~ " is up to date", info=True) %}
    {%- endif -%}
    {{ return("") }}
{% endmacro %}
