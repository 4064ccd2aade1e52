-- Expected tools (scenarios.expected_tools) against the tools each configuration version actually used,
-- per scenario. expected_tools may be a JSON array of names (or of objects with a "name") or an object
-- keyed by tool name. Runs and used tools come from the hourly statistics (exact and live: see
-- macros/rollups/live.sql).
with expected as (
    select
        sc.scenario_id,
        array(
            select distinct tool.tool_name
            from (
                select
                    case
                        when jsonb_typeof(element.value) = 'string' then element.value #>> '{}'
                        else element.value ->> 'name'
                    end as tool_name
                from
                    jsonb_array_elements(
                        case when jsonb_typeof(sc.expected_tools) = 'array' then sc.expected_tools else '[]' end
                    ) as element
                union all
                select object_key.tool_name
                from
                    jsonb_object_keys(
                        case when jsonb_typeof(sc.expected_tools) = 'object' then sc.expected_tools else '{}' end
                    ) as object_key (tool_name)
            ) as tool
            where tool.tool_name is not null
            order by tool.tool_name
        ) as expected_tools
    from {{ ref('stg_scenarios') }} as sc
),

runs as (
    select
        s.scenario_id,
        s.version_id,
        cv.config_id,
        cv.version_number,
        sum(s.executions)::bigint as executions
    from (
        {{ arc_eval_live_stats(
            'outcome_stats_hourly', 'int_outcomes_enriched', ['version_id', 'scenario_id'],
            arc_eval_outcome_measures(),
            daily_rollup='outcome_stats_daily'
        ) }}
    ) as s
    inner join {{ ref('stg_config_versions') }} as cv on s.version_id = cv.version_id
    group by s.scenario_id, s.version_id, cv.config_id, cv.version_number
),

used as (
    select
        t.scenario_id,
        t.version_id,
        array_agg(distinct u.tool_name order by u.tool_name) as used_tools
    from (
        -- the distinct sets first: most hours repeat one
        select distinct
            live.scenario_id,
            live.version_id,
            live.tool_names
        from (
            {{ arc_eval_live_stats(
                'tool_use_hourly', 'int_tool_usage_enriched', ['version_id', 'scenario_id'],
                arc_eval_tool_use_measures(),
                daily_rollup='tool_use_daily'
            ) }}
        ) as live
    ) as t
    cross join lateral unnest(t.tool_names) as u (tool_name)
    group by t.scenario_id, t.version_id
),

combined as (
    select
        r.scenario_id,
        r.config_id,
        r.version_id,
        r.version_number,
        r.executions,
        coalesce(e.expected_tools, '{}'::text[]) as expected_tools,
        coalesce(u.used_tools, '{}'::text[]) as used_tools
    from runs as r
    left join expected as e on r.scenario_id = e.scenario_id
    left join used as u
        on
            r.scenario_id = u.scenario_id
            and r.version_id = u.version_id
)

select
    scenario_id,
    config_id,
    version_id,
    version_number,
    executions,
    expected_tools,
    used_tools,
    array(
        select unnest(expected_tools) as tool_name
        except
        select unnest(used_tools) as tool_name
        order by tool_name
    ) as missing_tools,
    array(
        select unnest(used_tools) as tool_name
        except
        select unnest(expected_tools) as tool_name
        order by tool_name
    ) as unexpected_tools,
    cardinality(expected_tools) as expected_count,
    cardinality(used_tools) as used_count,
    case
        when cardinality(expected_tools) > 0
            then
                cardinality(array(
                    select unnest(expected_tools)
                    intersect
                    select unnest(used_tools)
                ))::double precision
                / cardinality(expected_tools)
    end as coverage_ratio
from combined
