{#- Functions and procedures of the raw schema. Each returns its CREATE OR REPLACE statement. -#}

{#- Trigger function: one audit_log row per changed row. Trigger arguments name columns left out of
    old_data/new_data (config_versions passes 'embedding': a 1536-d vector would dwarf the rest of the row).
    user_id is the user of the session's principal (arc_eval_principals) when it has one, else the session
    setting arc_eval.user_id (NULL when unset or empty). SECURITY DEFINER: the roles that write audited
    tables cannot write audit_log themselves. -#}
{% macro arc_eval_raw_audit_function_sql(s) %}
create or replace function {{ s }}.arc_eval_audit_row() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $arc$
declare
    excluded text[] := case when tg_nargs > 0 then tg_argv else '{}'::text[] end;
    old_row jsonb;
    new_row jsonb;
begin
    if tg_op in ('UPDATE', 'DELETE') then
        old_row := to_jsonb(old) - excluded;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        new_row := to_jsonb(new) - excluded;
    end if;
    insert into {{ s }}.audit_log (table_name, operation, user_id, old_data, new_data, ip_address, user_agent)
    values (
        tg_table_name,
        tg_op,
        coalesce(
            (select p.user_id from {{ s }}.arc_eval_principals p where p.role_name = session_user::text and not p.is_group),
            nullif(current_setting('arc_eval.user_id', true), '')::uuid
        ),
        old_row,
        new_row,
        inet_client_addr(),
        nullif(current_setting('application_name', true), '')
    );
    return null;
end
$arc$
{% endmacro %}


{#- Seed section 5B, fixed: records a *requested* analysis session (llm_model 'pending') with the numbers of
    outcomes and failure patterns in the window; the recommender runs it and completes it. The requester is
    user_id_param, else the session's arc_eval.user_id, else the nil UUID (the system). -#}
{% macro arc_eval_raw_trigger_analysis_sql(s) %}
create or replace function {{ s }}.trigger_llm_recommendation_analysis(
    analysis_window interval default '7 days',
    user_id_param uuid default null
) returns uuid
language plpgsql as $arc$
declare
    new_session_id uuid := gen_random_uuid();
    window_end timestamptz := now();
    window_start timestamptz := now() - analysis_window;
    requester uuid := coalesce(
        user_id_param,
        nullif(current_setting('arc_eval.user_id', true), '')::uuid,
        '00000000-0000-0000-0000-000000000000'::uuid
    );
    outcomes_count integer;
    patterns_count integer;
begin
    select count(*) into outcomes_count
    from {{ s }}.outcomes
    where execution_time > window_start and execution_time <= window_end;

    select count(*) into patterns_count
    from {{ s }}.failure_patterns
    where execution_time > window_start and execution_time <= window_end;

    insert into {{ s }}.llm_recommendation_sessions (
        session_id, user_id, analysis_start_time, analysis_end_time, data_window_start, data_window_end,
        llm_model, total_outcomes_analyzed, patterns_identified, recommendations_generated, session_status
    ) values (
        new_session_id, requester, window_end, window_end, window_start, window_end,
        'pending', outcomes_count, patterns_count, 0, 'requested'
    );
    return new_session_id;
end
$arc$
{% endmacro %}


{#- Retention for a table that is not a hypertable (audit_log): deletes rows older than config.drop_after
    in batches of config.batch_size, committing after each batch. Scheduled with add_job on the community
    license; `arc-eval maintain` does the same elsewhere. -#}
{% macro arc_eval_raw_audit_retention_sql(s) %}
create or replace procedure {{ s }}.arc_eval_audit_log_retention(job_id integer, config jsonb)
language plpgsql as $arc$
declare
    cutoff timestamptz := now() - coalesce(config ->> 'drop_after', '{{ arc_eval_rule("retention")["audit_log"] }}')::interval;
    batch integer := coalesce((config ->> 'batch_size')::integer, 10000);
    deleted integer;
begin
    loop
        delete from {{ s }}.audit_log
        where log_id in (select log_id from {{ s }}.audit_log where "timestamp" < cutoff limit batch);
        get diagnostics deleted = row_count;
        exit when deleted = 0;
        commit;
    end loop;
end
$arc$
{% endmacro %}
