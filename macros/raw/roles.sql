{#- Roles, ownership and privileges of the raw schema (docs/security.md has the matrix and the reasons).

    Four NOLOGIN group roles, named by var `roles`: owner (owns the schema and every object in it; runs
    `arc-eval init` and `dbt build`), writer (sandboxes), reader (analysts, dashboards) and reviewer
    (reader plus the review functions). Logins join a group with `arc-eval principal add`.

    Creating roles needs CREATEROLE (or superuser). Without it, and when the roles do not exist already,
    the step is skipped with one log line: the schema then has a single user, its creator. Idempotent:
    grants are compared with the catalog and rewritten only when they differ. -#}

{% macro arc_eval_role_names() %}
    {%- set configured = var("roles") -%}
    {%- set names = {} -%}
    {%- for kind in ["owner", "writer", "reader", "reviewer"] -%}
        {%- set name = configured.get(kind) -%}
        {%- if name is none or not modules.re.match("^[a-z_][a-z0-9_]*$", name) -%}
            {{ exceptions.raise_compiler_error("var roles." ~ kind ~ " must be a lower-case identifier, got '" ~ name ~ "'") }}
        {%- endif -%}
        {%- do names.update({kind: name}) -%}
    {%- endfor -%}
    {{ return(names) }}
{% endmacro %}


{#- Privileges of the group roles on the raw tables: {kind: {table: [privilege, ...]}}.
    "UPDATE (a, b)" grants UPDATE on those columns only. The owner holds everything by ownership; the
    reviewer holds the reader's privileges by membership, and writes only through the review functions. -#}
{% macro arc_eval_raw_grants() %}
    {%- set reader = {} -%}
    {%- for table in ["configurations", "config_versions", "config_diffs", "scenarios", "simulations",
                      "simulations_scenarios", "outcomes", "failure_patterns", "tool_usage",
                      "llm_recommendation_sessions", "recommendations", "ingest_dead_letters"] -%}
        {%- do reader.update({table: ["SELECT"]}) -%}
    {%- endfor -%}
    {{ return({
        "writer": {
            "configurations": ["SELECT", "INSERT", "UPDATE (latest_version_id, updated_at, is_active)"],
            "config_versions": ["SELECT", "INSERT"],
            "config_diffs": ["SELECT", "INSERT"],
            "scenarios": ["SELECT"],
            "simulations": ["SELECT", "INSERT", "UPDATE (status, completed_at, completed_scenarios, overall_score, total_cost_usd, execution_time_ms)"],
            "simulations_scenarios": ["SELECT", "INSERT", "UPDATE (status, started_at, completed_at, retry_count, modal_call_id, modal_execution_logs)"],
            "outcomes": ["SELECT", "INSERT"],
            "tool_usage": ["SELECT", "INSERT"],
            "failure_patterns": ["SELECT", "INSERT"],
            "ingest_dead_letters": ["INSERT"],
        },
        "reader": reader,
        "reviewer": {},
    }) }}
{% endmacro %}


{#- Functions each role may execute (besides the owner): the writer's row-level-security helpers and the
    reviewer's review functions. Every other routine of the schema is the owner's alone. -#}
{% macro arc_eval_routine_grants() %}
    {{ return({
        "writer": ["arc_eval_tenant_user", "arc_eval_tenant_configurations", "arc_eval_tenant_versions",
                   "arc_eval_tenant_simulations"],
        "reader": [],
        "reviewer": ["arc_eval_review_approve", "arc_eval_review_reject", "arc_eval_review_reopen",
                     "arc_eval_review_apply", "arc_eval_review_feedback"],
    }) }}
{% endmacro %}


{#- The ACL entries `object:grantee:PRIVILEGE` the grants above imply, sorted. -#}
{% macro arc_eval_expected_acl(roles) %}
    {%- set entries = [] -%}
    {%- for kind, tables in arc_eval_raw_grants().items() -%}
        {%- if kind != "reviewer" -%}{%- do entries.append("schema:" ~ roles[kind] ~ ":USAGE") -%}{%- endif -%}
        {%- for table, privileges in tables.items() -%}
            {%- for privilege in privileges -%}
                {%- if "(" in privilege -%}
                    {%- set parts = privilege.split("(") -%}
                    {%- for column in parts[1].rstrip(")").split(",") -%}
                        {%- do entries.append(table ~ "." ~ column.strip() ~ ":" ~ roles[kind] ~ ":" ~ parts[0].strip()) -%}
                    {%- endfor -%}
                {%- else -%}
                    {%- do entries.append(table ~ ":" ~ roles[kind] ~ ":" ~ privilege) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for kind, routines in arc_eval_routine_grants().items() -%}
        {%- for routine in routines -%}{%- do entries.append(routine ~ "():" ~ roles[kind] ~ ":EXECUTE") -%}{%- endfor -%}
    {%- endfor -%}
    {{ return(entries | sort) }}
{% endmacro %}


{#- The same entries as they are in the catalog (grants to anyone but the object's owner; PUBLIC is '-'). -#}
{% macro arc_eval_actual_acl_sql(s) %}
select entry from (
    select 'schema:' || g.grantee::regrole::text || ':' || g.privilege_type as entry
    from pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) g
    where n.nspname = '{{ s }}' and g.grantee <> n.nspowner
    union all
    select c.relname || ':' || g.grantee::regrole::text || ':' || g.privilege_type
    from pg_class c join pg_namespace n on n.oid = c.relnamespace, aclexplode(c.relacl) g
    where n.nspname = '{{ s }}' and c.relkind in ('r', 'p', 'v', 'm') and g.grantee <> c.relowner
    union all
    select c.relname || '.' || a.attname || ':' || g.grantee::regrole::text || ':' || g.privilege_type
    from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace,
        aclexplode(a.attacl) g
    where n.nspname = '{{ s }}' and a.attnum > 0 and not a.attisdropped and g.grantee <> c.relowner
    union all
    select p.proname || '():' || g.grantee::regrole::text || ':' || g.privilege_type
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace,
        aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) g
    where n.nspname = '{{ s }}' and g.grantee <> p.proowner
) as acl
order by entry
{% endmacro %}


{#- Creates the group roles (when allowed), their memberships and the grants (arc_eval_raw_ownership then hands
    the objects to the owner role, arc_eval_raw_row_security sets row-level security). Appends what it did
    to `changes`. Returns whether the roles exist. -#}
{% macro arc_eval_raw_roles(s, changes) %}
    {%- set roles = arc_eval_role_names() -%}
    {%- set me = run_query("select current_user, rolsuper, rolcreaterole from pg_roles where rolname = current_user").rows[0] -%}
    {%- set existing = [] -%}
    {%- for row in run_query("select rolname from pg_roles where rolname in ('" ~ roles.values() | join("', '") ~ "')").rows -%}
        {%- do existing.append(row[0]) -%}
    {%- endfor -%}
    {%- set missing = [] -%}
    {%- for kind, name in roles.items() if name not in existing -%}{%- do missing.append(name) -%}{%- endfor -%}
    {%- if missing and not (me[1] or me[2]) -%}
        {% do log("arc-eval: roles " ~ missing | join(", ") ~ " not created: " ~ me[0] ~ " lacks CREATEROLE; the raw schema stays single-user (no grants, no row-level security); see docs/security.md", info=True) %}
        {{ return(false) }}
    {%- endif -%}
    {%- for name in missing -%}
        {#- Another database of the cluster may create the same role concurrently. -#}
        {% do run_query("do $$ begin create role " ~ name ~ " nologin; exception when duplicate_object then null; end $$") %}
        {%- do changes.append("role " ~ name) -%}
    {%- endfor -%}

    {#- Memberships: the reviewer is a reader; whoever runs this macro can act as the owner. -#}
    {%- set members = [(roles.reader, roles.reviewer)] -%}
    {%- if not me[1] -%}{%- do members.append((roles.owner, me[0])) -%}{%- endif -%}
    {%- set grants = [] -%}
    {%- for group, member in members -%}
        {%- if not run_query("select 1 from pg_auth_members m where m.roleid = '" ~ group ~ "'::regrole and m.member = '" ~ member ~ "'::regrole").rows -%}
            {%- do grants.append((group, member)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if grants and not (me[1] or me[2]) -%}
        {% do log("arc-eval: roles, grants and row-level security skipped: " ~ me[0] ~ " lacks CREATEROLE to grant " ~ grants[0][0] ~ " to " ~ grants[0][1] ~ "; the raw schema stays single-user (docs/security.md)", info=True) %}
        {{ return(false) }}
    {%- endif -%}
    {%- for group, member in grants -%}
        {% do run_query("grant " ~ group ~ " to " ~ member) %}
        {%- do changes.append("membership " ~ member ~ " in " ~ group) -%}
    {%- endfor -%}

    {#- Grants: rewritten as a whole when the catalog differs from the spec (PUBLIC keeps nothing). -#}
    {%- set actual = [] -%}
    {%- for row in run_query(arc_eval_actual_acl_sql(s)).rows -%}{%- do actual.append(row[0]) -%}{%- endfor -%}
    {%- if actual != arc_eval_expected_acl(roles) -%}
        {%- set grantees = "public, " ~ roles.writer ~ ", " ~ roles.reader ~ ", " ~ roles.reviewer -%}
        {% do run_query("revoke all on schema " ~ s ~ " from " ~ grantees) %}
        {% do run_query("revoke all on all tables in schema " ~ s ~ " from " ~ grantees) %}
        {% do run_query("revoke all on all routines in schema " ~ s ~ " from " ~ grantees) %}
        {% do run_query("grant usage on schema " ~ s ~ " to " ~ roles.writer ~ ", " ~ roles.reader) %}
        {%- for kind, tables in arc_eval_raw_grants().items() -%}
            {%- for table, privileges in tables.items() -%}
                {%- set on_columns = [] -%}
                {%- set on_table = [] -%}
                {%- for privilege in privileges -%}
                    {%- do (on_columns if "(" in privilege else on_table).append(privilege) -%}
                {%- endfor -%}
                {%- if on_table -%}
                    {% do run_query("grant " ~ on_table | join(", ") ~ " on " ~ s ~ "." ~ table ~ " to " ~ roles[kind]) %}
                {%- endif -%}
                {%- for privilege in on_columns -%}
                    {#- Refused by TimescaleDB 2.19 on a hypertable with compression on (create_raw_schema grants
                        before it turns compression on; this is a later rewrite): warn, keep the rest. -#}
                    {% do run_query("do $arc$ begin grant " ~ privilege ~ " on " ~ s ~ "." ~ table ~ " to " ~ roles[kind] ~ "; exception when undefined_column then raise warning 'arc-eval: % on " ~ table ~ " not granted to " ~ roles[kind] ~ ": %', '" ~ privilege ~ "', sqlerrm; end $arc$") %}
                {%- endfor -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- for kind, routines in arc_eval_routine_grants().items() -%}
            {%- for routine in routines -%}
                {% do run_query("grant execute on function " ~ s ~ "." ~ routine ~ " to " ~ roles[kind]) %}
            {%- endfor -%}
        {%- endfor -%}
        {%- do changes.append("grants") -%}
    {%- endif -%}
    {{ return(true) }}
{% endmacro %}


{#- Hands the schema, its tables and its routines to the owner role (after arc_eval_raw_roles, and after the
    TimescaleDB policies: a background job needs a hypertable owner that can log in when it is added). -#}
{% macro arc_eval_raw_ownership(s, changes) %}
    {%- set roles = arc_eval_role_names() -%}
    {#- Ownership: the schema, its tables and its routines belong to the owner role. -#}
    {%- set owned = run_query("
        select 'schema', quote_ident(nspname), null from pg_namespace where nspname = '" ~ s ~ "' and nspowner <> '" ~ roles.owner ~ "'::regrole
        union all
        select 'table', quote_ident(c.relname), null from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = '" ~ s ~ "' and c.relkind in ('r', 'p', 'v', 'm') and c.relowner <> '" ~ roles.owner ~ "'::regrole
        union all
        select 'routine', quote_ident(p.proname), pg_get_function_identity_arguments(p.oid) from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = '" ~ s ~ "' and p.proowner <> '" ~ roles.owner ~ "'::regrole").rows -%}
    {%- for kind, name, args in owned -%}
        {%- if kind == "schema" -%}
            {% do run_query("alter schema " ~ name ~ " owner to " ~ roles.owner) %}
        {%- elif kind == "table" -%}
            {% do run_query("alter table " ~ s ~ "." ~ name ~ " owner to " ~ roles.owner) %}
        {%- else -%}
            {% do run_query("alter routine " ~ s ~ "." ~ name ~ "(" ~ args ~ ") owner to " ~ roles.owner) %}
        {%- endif -%}
        {%- do changes.append("owner of " ~ kind ~ " " ~ name) -%}
    {%- endfor -%}
{% endmacro %}


{#- on-run-end: the reader role (and so the reviewer) may read every schema dbt built; PUBLIC may not. -#}
{% macro arc_eval_grant_analytics(schemas) %}
    {%- if not execute -%}{{ return("") }}{%- endif -%}
    {%- set reader = arc_eval_role_names().reader -%}
    {% do adapter.execute("select 1", auto_begin=true) %}
    {%- if not run_query("select 1 from pg_roles where rolname = '" ~ reader ~ "'").rows -%}{{ return("") }}{%- endif -%}
    {%- for schema in schemas | unique -%}
        {% do run_query("revoke all on schema " ~ schema ~ " from public") %}
        {% do run_query("revoke all on all routines in schema " ~ schema ~ " from public") %}
        {% do run_query("grant usage on schema " ~ schema ~ " to " ~ reader) %}
        {% do run_query("grant select on all tables in schema " ~ schema ~ " to " ~ reader) %}
    {%- endfor -%}
    {% do adapter.commit() %}
    {{ return("") }}
{% endmacro %}
