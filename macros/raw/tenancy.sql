{#- Tenant isolation by user_id (docs/security.md).

    `arc_eval_principals` maps a database role (a login) to the user it acts for. It belongs to the owner;
    no other role may read or write it. The tenant helpers below are SECURITY DEFINER functions with a
    pinned search_path that read it for the *session* user, so a client cannot choose its tenant with a
    setting. Row-level security on the tenant-keyed raw tables lets the writer role see and write only
    rows under configurations of its own user; the reader role (and the reviewer) read everything; the
    owner bypasses row-level security as the tables' owner. -#}

{% macro arc_eval_principals_sql(s) %}
create table if not exists {{ s }}.arc_eval_principals (
    role_name text primary key,
    kind text not null check (kind in ('owner', 'writer', 'reader', 'reviewer')),
    user_id uuid,
    is_group boolean not null default false,
    created_at timestamptz not null default now(),
    constraint arc_eval_principals_user_check check (is_group or kind not in ('writer', 'reviewer') or user_id is not null)
)
{% endmacro %}


{#- The tenant helpers, by name: each returns its CREATE OR REPLACE statement. -#}
{% macro arc_eval_tenant_routines(s) %}
    {%- set me = "(select p.user_id from " ~ s ~ ".arc_eval_principals p where p.role_name = session_user::text and not p.is_group)" -%}
    {%- set header = "language sql stable security definer set search_path = pg_catalog, pg_temp as $arc$" -%}
    {{ return({
        "arc_eval_tenant_user": "create or replace function " ~ s ~ ".arc_eval_tenant_user() returns uuid " ~ header ~ "
    select " ~ me ~ "
$arc$",
        "arc_eval_tenant_configurations": "create or replace function " ~ s ~ ".arc_eval_tenant_configurations() returns setof uuid " ~ header ~ "
    select c.config_id from " ~ s ~ ".configurations c where c.user_id = " ~ me ~ "
$arc$",
        "arc_eval_tenant_versions": "create or replace function " ~ s ~ ".arc_eval_tenant_versions() returns setof uuid " ~ header ~ "
    select v.version_id from " ~ s ~ ".config_versions v
    join " ~ s ~ ".configurations c on c.config_id = v.config_id
    where c.user_id = " ~ me ~ "
$arc$",
        "arc_eval_tenant_simulations": "create or replace function " ~ s ~ ".arc_eval_tenant_simulations() returns setof uuid " ~ header ~ "
    select m.simulation_id from " ~ s ~ ".simulations m
    join " ~ s ~ ".config_versions v on v.version_id = m.config_version_id
    join " ~ s ~ ".configurations c on c.config_id = v.config_id
    where c.user_id = " ~ me ~ "
$arc$",
    }) }}
{% endmacro %}


{#- Row-level security: {table: (USING, WITH CHECK)} for the writer role. Each helper is called once per
    statement (an uncorrelated sub-select: an InitPlan or a hashed SubPlan), not once per row. -#}
{% macro arc_eval_tenant_policies(s) %}
    {%- set configs = "config_id in (select " ~ s ~ ".arc_eval_tenant_configurations())" -%}
    {%- set sims = "simulation_id in (select " ~ s ~ ".arc_eval_tenant_simulations())" -%}
    {%- set by_outcome = "exists (select 1 from " ~ s ~ ".outcomes o where o.outcome_id = {t}.outcome_id and o.execution_time = {t}.execution_time and o.simulation_id in (select " ~ s ~ ".arc_eval_tenant_simulations()))" -%}
    {{ return({
        "configurations": ("user_id = (select " ~ s ~ ".arc_eval_tenant_user())", "user_id = (select " ~ s ~ ".arc_eval_tenant_user())"),
        "config_versions": (configs, configs ~ " and generated_by in ('manual', 'api')"),
        "config_diffs": (configs, configs ~ " and approval_status = 'pending' and not coalesce(llm_generated, false) and approved_by is null"),
        "simulations": ("config_version_id in (select " ~ s ~ ".arc_eval_tenant_versions())", "config_version_id in (select " ~ s ~ ".arc_eval_tenant_versions())"),
        "simulations_scenarios": (sims, sims),
        "outcomes": (sims, sims),
        "tool_usage": (by_outcome.replace("{t}", "tool_usage"), by_outcome.replace("{t}", "tool_usage")),
        "failure_patterns": (by_outcome.replace("{t}", "failure_patterns"), by_outcome.replace("{t}", "failure_patterns")),
    }) }}
{% endmacro %}


{#- TimescaleDB copies a hypertable's grants to each new chunk but not its row-level security
    (timescale/timescaledb#7830), so a writer could read or write other tenants' rows in a chunk directly
    (_timescaledb_internal is usable by PUBLIC). Access through the hypertable does not check the chunk's
    grants, so chunks keep the owner's alone: a statement trigger on each hypertable takes the writer's
    away from new chunks, and the create macro from existing ones. -#}
{% macro arc_eval_chunk_privileges_sql(s, writer) %}
create or replace function {{ s }}.arc_eval_chunk_privileges() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $arc$
declare
    chunk regclass;
begin
    for chunk in
        select i.inhrelid::regclass from pg_inherits i
        where i.inhparent = tg_relid and has_table_privilege('{{ writer }}', i.inhrelid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
    loop
        perform pg_advisory_xact_lock(hashtext('arc_eval_chunk_privileges'));
        if has_table_privilege('{{ writer }}', chunk, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE') then
            execute format('revoke all on %s from %I', chunk, '{{ writer }}');
        end if;
    end loop;
    return null;
end
$arc$
{% endmacro %}


{#- Whether row-level security isolates the tenants (var tenant_row_security, default true). -#}
{% macro arc_eval_tenant_row_security() %}
    {{ return(var('tenant_row_security', true) not in [false, 'false', 'False', 0, '0']) }}
{% endmacro %}


{#- Enables row-level security (unless var tenant_row_security is false) and creates the missing policies
    (by name). -#}
{% macro arc_eval_raw_row_security(s, roles, changes) %}
    {%- set state = {} -%}
    {%- for row in run_query("select c.relname, c.relrowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = '" ~ s ~ "' and c.relkind in ('r', 'p')").rows -%}
        {%- do state.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {%- set policies = [] -%}
    {%- for row in run_query("select tablename || '.' || policyname from pg_policies where schemaname = '" ~ s ~ "'").rows -%}
        {%- do policies.append(row[0]) -%}
    {%- endfor -%}
    {%- set hypertables = [] -%}
    {%- set compressed = [] -%}
    {%- if run_query("select to_regclass('timescaledb_information.hypertables') is not null").rows[0][0] -%}
        {%- for row in run_query("select hypertable_name, compression_enabled from timescaledb_information.hypertables where hypertable_schema = '" ~ s ~ "'").rows -%}
            {%- do hypertables.append(row[0]) -%}
            {%- if row[1] -%}{%- do compressed.append(row[0]) -%}{%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if hypertables -%}
        {%- set definition = arc_eval_chunk_privileges_sql(s, roles.writer) -%}
        {%- set body = run_query("select p.prosrc from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = '" ~ s ~ "' and p.proname = 'arc_eval_chunk_privileges'").rows -%}
        {%- if not body or body[0][0] != definition.split("$arc$")[1] -%}
            {% do run_query(definition) %}
            {% do run_query("alter function " ~ s ~ ".arc_eval_chunk_privileges() owner to " ~ roles.owner) %}
            {% do run_query("revoke all on function " ~ s ~ ".arc_eval_chunk_privileges() from public") %}
            {%- do changes.append("function arc_eval_chunk_privileges") -%}
        {%- endif -%}
        {%- set triggered = [] -%}
        {%- for row in run_query("select c.relname from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace where n.nspname = '" ~ s ~ "' and t.tgname = 'arc_eval_chunk_privileges'").rows -%}
            {%- do triggered.append(row[0]) -%}
        {%- endfor -%}
        {%- for table in hypertables if table not in triggered -%}
            {% do run_query("create trigger arc_eval_chunk_privileges after insert on " ~ s ~ "." ~ table ~ " for each statement execute function " ~ s ~ ".arc_eval_chunk_privileges()") %}
            {%- do changes.append("chunk trigger " ~ table) -%}
        {%- endfor -%}
        {%- set leaky = run_query("select i.inhrelid::regclass::text from pg_inherits i join pg_class c on c.oid = i.inhparent join pg_namespace n on n.oid = c.relnamespace where n.nspname = '" ~ s ~ "' and has_table_privilege('" ~ roles.writer ~ "', i.inhrelid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')").rows -%}
        {%- for row in leaky -%}
            {% do run_query("revoke all on " ~ row[0] ~ " from " ~ roles.writer) %}
        {%- endfor -%}
        {%- if leaky -%}{%- do changes.append("writer grants removed from " ~ leaky | length ~ " chunks") -%}{%- endif -%}
    {%- endif -%}
    {%- for table, rule in arc_eval_tenant_policies(s).items() -%}
        {%- if not state.get(table) and not arc_eval_tenant_row_security() -%}
            {% do log("arc-eval: row-level security off on " ~ table ~ " (var tenant_row_security: false): writers can read every tenant's rows of this table (docs/security.md)", info=True) %}
        {%- elif table in compressed and not state.get(table) -%}
            {% do log("arc-eval: row-level security skipped on " ~ table ~ ": its compression is on, and TimescaleDB refuses compression on a table with row security; writers can read every tenant's rows of this table (docs/security.md)", info=True) %}
        {%- elif not state.get(table) -%}
            {% do run_query("alter table " ~ s ~ "." ~ table ~ " enable row level security") %}
            {%- do changes.append("row-level security " ~ table) -%}
        {%- endif -%}
        {%- if (table ~ ".arc_eval_writer_tenant") not in policies -%}
            {% do run_query("create policy arc_eval_writer_tenant on " ~ s ~ "." ~ table ~ " for all to " ~ roles.writer ~ " using (" ~ rule[0] ~ ") with check (" ~ rule[1] ~ ")") %}
            {%- do changes.append("policy " ~ table ~ ".arc_eval_writer_tenant") -%}
        {%- endif -%}
        {%- if (table ~ ".arc_eval_reader_all") not in policies -%}
            {% do run_query("create policy arc_eval_reader_all on " ~ s ~ "." ~ table ~ " for select to " ~ roles.reader ~ " using (true)") %}
            {%- do changes.append("policy " ~ table ~ ".arc_eval_reader_all") -%}
        {%- endif -%}
    {%- endfor -%}
    {#- The group roles, registered so `arc-eval roles` and `arc-eval principal` find their names. -#}
    {%- for kind, name in roles.items() -%}
        {% do run_query("insert into " ~ s ~ ".arc_eval_principals (role_name, kind, is_group) values ('" ~ name ~ "', '" ~ kind ~ "', true) on conflict (role_name) do nothing") %}
    {%- endfor -%}
{% endmacro %}
