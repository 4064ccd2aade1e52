{#-
  Stored refresh plans: what a run of a stored model does, kept in the database so that `arc-eval refresh`
  can bring the models up to date without dbt (a new process then starts in a tenth of a second, where
  loading dbt and the project took seconds).

  Each build of a `rollup` (incremental table) or of a `table` model stores its plan in
  `<model schema>.arc_eval_refresh_plan (model_name, kind, relation, plan, stored_at)`:
  - a rollup: its SQL with the rollup_where() markers, the markers, the position query (watermark,
    lookback start and late ranges from the ingest log), the late-row scan of each source, and the merge
    statement of a merging rollup (see macros/rollups/rollup.sql);
  - a table: its compiled SELECT.
  `<model schema>.arc_eval_refresh_model(model_name, rebuild)` runs a plan in the caller's transaction and
  returns what it did. The rollup materialization itself calls it after storing the plan, so a refresh
  through dbt and one without run the same code. A table's plan replaces its rows (delete and insert in
  one transaction: readers see the old rows until it commits, and the views on it stay).

  `arc-eval refresh` (loader/arc_eval/dbt.py) runs the stored plans only while nothing they were made from
  changed: the project, the profile, the vars and the versions (the stored manifest's key), and no plan
  was stored since the last refresh through dbt (by a `dbt run` with other vars, for instance). Otherwise
  it runs dbt, which stores them again. Each plan names the dbt invocation that stored it (`stored_by`):
  a refresh through dbt keeps the plans for the next only when its own invocation stored every one (not a
  `dbt run` of another process at the same time).
-#}

{% macro arc_eval_refresh_plan_relation(relation) %}
    {{ return(api.Relation.create(database=relation.database, schema=relation.schema,
                                  identifier='arc_eval_refresh_plan', type='table')) }}
{% endmacro %}


{% macro arc_eval_refresh_plan_table(relation) -%}
    {#- Creates the plan table of `relation`'s schema when missing, and adds `stored_by` to one made by an
        earlier release (the lock only then: parallel nodes). -#}
    {%- set plans = arc_eval_refresh_plan_relation(relation) -%}
    do $arc$ begin
        if to_regclass('{{ plans }}') is null then
            perform pg_advisory_xact_lock(hashtext('arc_eval_rollup_state'));
            create table if not exists {{ plans }} (
                model_name text primary key,
                kind text not null check (kind in ('rollup', 'continuous_aggregate', 'table')),
                relation text not null,
                plan jsonb not null,
                stored_at timestamptz not null,
                stored_by text
            );
        end if;
        if not exists (
            select from pg_attribute
            where attrelid = '{{ plans }}'::regclass and attname = 'stored_by' and not attisdropped
        ) then
            perform pg_advisory_xact_lock(hashtext('arc_eval_rollup_state'));
            alter table {{ plans }} add column if not exists stored_by text;
        end if;
    end $arc$
{%- endmacro %}


{% macro arc_eval_refresh_plan_store(kind, plan={}) -%}
    {#- SQL storing the current model's plan (`plan`: a dict, stored as JSON). -#}
    {%- set text = tojson(plan) | replace("'", "''") -%}
    {{ arc_eval_refresh_plan_table(this) }};
    insert into {{ arc_eval_refresh_plan_relation(this) }} as p (model_name, kind, relation, plan, stored_at, stored_by)
    values ('{{ this.identifier }}', '{{ kind }}', '{{ this | replace("'", "''") }}', '{{ text }}'::jsonb, clock_timestamp(),
            '{{ invocation_id }}')
    on conflict (model_name) do update
    set kind = excluded.kind, relation = excluded.relation, plan = excluded.plan, stored_at = excluded.stored_at,
        stored_by = excluded.stored_by
{%- endmacro %}


{% macro arc_eval_refresh_plan_store_table() -%}
    {#- Post-hook of every model (dbt_project.yml); for a `table`, stores the compiled SELECT that rebuilds the table's rows. -#}
    {%- if execute and config.get('materialized') == 'table' -%}
        {{ arc_eval_refresh_plan_store('table', {'sql': model.compiled_code}) }}
    {%- endif -%}
{%- endmacro %}


{% macro arc_eval_refresh_functions(relation) -%}
    {#- SQL (re)creating the functions that run the stored plans of `relation`'s schema. The rollups' settings,
        local to the function's run: the planner estimates as many groups as distinct raw timestamps (it
        cannot know a time bucket holds many), so with the default work_mem it sorts, spilling to disk, where
        a hash aggregate of a few hundred groups would do: var('rollup_work_mem') gives it room. JIT is off:
        compiling the aggregates and the late-row search costs tens of milliseconds per statement, more than
        it saves on these scans. -#}
    {%- set s = adapter.quote(relation.schema) -%}
    create or replace function {{ s }}.arc_eval_rollup_in_ranges(
        time_column text, start timestamptz, ranges tstzrange[]
    ) returns text language sql stable as $arc$
        -- `time_column` falls in [start, infinity) or in one of `ranges`
        select format('(%s >= %L::timestamptz', time_column, start) || coalesce(string_agg(
            format(' or (%1$s >= %2$L::timestamptz and %1$s < %3$L::timestamptz)', time_column, lower(r), upper(r)),
            '' order by lower(r)
        ), '') || ')'
        from unnest(ranges) as r
    $arc$;

    create or replace function {{ s }}.arc_eval_rollup_restrict(
        model_sql text, plan jsonb, start timestamptz, ranges tstzrange[],
        created_from timestamptz, created_to timestamptz
    ) returns text language plpgsql stable as $arc$
    -- The model's SQL with its markers replaced: each filtered time column restricted to [start, infinity)
    -- and `ranges` (no restriction when start is null and there are no ranges; start 'infinity': the
    -- ranges only), each created_at column to [created_from, created_to) (null: unbounded).
    declare
        marker jsonb;
    begin
        for marker in select jsonb_array_elements(plan->'filters') loop
            model_sql := replace(model_sql, marker->>0, case
                when start is null and cardinality(ranges) = 0 then 'true'
                else {{ s }}.arc_eval_rollup_in_ranges(marker->>1, coalesce(start, 'infinity'), ranges)
            end);
        end loop;
        for marker in select jsonb_array_elements(plan->'created') loop
            model_sql := replace(model_sql, marker->>0, coalesce(nullif(concat_ws(' and ',
                case when created_from is not null then format('%s >= %L::timestamptz', marker->>1, created_from) end,
                case when created_to is not null then format('%s < %L::timestamptz', marker->>1, created_to) end
            ), ''), 'true'));
        end loop;
        return model_sql;
    end
    $arc$;

    create or replace function {{ s }}.arc_eval_refresh_model(refresh_model text, rebuild boolean default false)
    returns text language plpgsql
    set work_mem = '{{ var('rollup_work_mem', '64MB') }}'
    set jit = off
    as $arc$
    -- Runs the stored plan of `refresh_model` (see macros/rollups/refresh.sql) and returns what it did.
    -- `rebuild`: a rollup is filled whole, whatever its watermark.
    declare
        plan_kind text;
        rel text;
        plan jsonb;
        pos record;
        cols text;
        start timestamptz;
        ranges tstzrange[] := '{}';
        recomputed tstzrange[];
        late_query text;
        log_table text;
        state_table text;
        cut timestamptz;
        action text;
    begin
        select p.kind, p.relation, p.plan into plan_kind, rel, plan
        from {{ s }}.arc_eval_refresh_plan as p where p.model_name = refresh_model;
        if not found then
            raise exception 'arc_eval: no refresh plan for model %', refresh_model
                using hint = 'Run `arc-eval dbt run`: building a model stores its plan.';
        end if;
        if plan_kind = 'table' then
            -- one writer at a time (two would each delete only the rows they see, then both insert); readers
            -- go on reading the old rows
            execute format('lock table %s in exclusive mode', rel);
            execute format('delete from %s', rel);
            execute format('insert into %s %s', rel, plan->>'sql');
            return 'rows replaced';
        elsif plan_kind <> 'rollup' then
            raise exception 'arc_eval: model % (%) is not refreshed by a stored plan', refresh_model, plan_kind;
        end if;

        -- one run at a time per rollup; then, before the sources are read (and before anything else in the
        -- transaction reads pg_stat_activity, whose contents are fixed at first use), the position
        perform pg_advisory_xact_lock(hashtext('arc_eval_rollup ' || rel));
        execute plan->>'position' into pos;
        select string_agg(quote_ident(a.attname), ', ' order by a.attnum) into cols
        from pg_attribute as a where a.attrelid = rel::regclass and a.attnum > 0 and not a.attisdropped;

        if rebuild or pos.watermark is null then
            execute format('delete from %s', rel);
            execute format('insert into %s (%s) select %s from (%s) as rollup_delta', rel, cols, cols,
                {{ s }}.arc_eval_rollup_restrict(plan->>'sql', plan, null, '{}', null, pos.horizon));
            execute format('analyze %s', rel);
            action := 'built in full';
        else
            start := case when pos.log_complete then pos.log_start else pos.lookback_start end;
            if start is null then
                ranges := '{}';
            elsif pos.log_complete then
                ranges := coalesce(pos.log_ranges, '{}');
            else
                for late_query in select jsonb_array_elements_text(plan->'late') loop
                    execute late_query into recomputed using pos.watermark, start;
                    ranges := ranges || coalesce(recomputed, '{}');
                end loop;
            end if;
            -- merging: the buckets from start are recomputed from the rows created before the horizon, the
            -- late ranges get the rows created since the watermark merged in; otherwise both are recomputed
            recomputed := case when (plan->>'merging')::boolean then '{}' else ranges end;
            execute format('delete from %s', rel) || case when start is not null
                then ' where ' || {{ s }}.arc_eval_rollup_in_ranges(plan->>'time_column', start, recomputed)
                else '' end;
            execute format('insert into %s (%s) select %s from (%s) as rollup_delta', rel, cols, cols,
                {{ s }}.arc_eval_rollup_restrict(plan->>'sql', plan, start, recomputed, null, pos.horizon));
            if (plan->>'merging')::boolean and start is not null and cardinality(ranges) > 0 then
                execute replace(replace(plan->>'merge', '/* arc_eval_rollup_columns */', cols),
                    '/* arc_eval_rollup_delta */',
                    {{ s }}.arc_eval_rollup_restrict(plan->>'sql', plan, 'infinity', ranges, pos.watermark, pos.horizon));
            end if;
            action := format('updated from %s and %s late range(s) (%s%s)',
                coalesce(start::text, 'the beginning'), cardinality(ranges),
                case when pos.log_complete then 'ingest log' else 'source scan' end,
                case when (plan->>'merging')::boolean then ', merged' else '' end);
        end if;

        -- the watermark, in the same transaction as the rows
        execute format($q$
            insert into %s (rollup_name, source_watermark, refreshed_at, merge_exact) values ($1, $2, now(), $3)
            on conflict (rollup_name) do update
            set source_watermark = excluded.source_watermark, refreshed_at = excluded.refreshed_at,
                merge_exact = excluded.merge_exact
        $q$, plan->>'state') using refresh_model, pos.horizon, (plan->>'merging')::boolean;

        -- The ingest log's 'late rows' entries every rollup has read (created before the least watermark
        -- of every rollup state table this role can read: the database's rollups, whatever their schema)
        -- are deleted, with a 'pruned' mark at that cut, so a reader this role cannot see (another role's,
        -- one building its first watermark) scans its sources rather than trusting a log with entries
        -- missing.
        log_table := plan->>'log';
        if log_table is not null and has_table_privilege(log_table, 'INSERT, DELETE') then
            for state_table in
                select format('%I.%I', n.nspname, c.relname)
                from pg_class as c join pg_namespace as n on c.relnamespace = n.oid
                where c.relname = 'arc_eval_rollup_state' and c.relkind in ('r', 'p')
                    and has_table_privilege(c.oid, 'SELECT')
            loop
                execute format('select least($1, min(source_watermark)) from %s', state_table) into cut using cut;
            end loop;
            execute format($q$
                with
                gone as (
                    delete from %1$s
                    where kind = 'late rows' and created_at < $1
                    returning source_table, time_column
                ),
                marked as (
                    insert into %1$s (source_table, time_column, kind, created_at)
                    select distinct gone.source_table, gone.time_column, 'pruned', $1 from gone
                )
                delete from %1$s as old
                where old.kind = 'pruned' and old.created_at < $1
                    and (old.source_table, old.time_column) in (select gone.source_table, gone.time_column from gone)
            $q$, log_table) using cut;
        end if;
        return action;
    end
    $arc$
{%- endmacro %}
