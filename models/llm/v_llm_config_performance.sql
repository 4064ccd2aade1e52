-- Daily performance of each configuration version over the last var('llm_config_performance_window').
-- From the hourly outcome statistics (exact and live: see macros/rollups/live.sql).
with stats as (
    {{ arc_eval_live_stats(
        'outcome_stats_hourly', 'int_outcomes_enriched', ['version_id', 'scenario_id'],
        arc_eval_outcome_measures(), var('llm_config_performance_window'),
        daily_rollup='outcome_stats_daily'
    ) }}
),

daily as (
    select
        version_id,
        date_trunc('day', hour, 'UTC') as day,
        sum(executions)::bigint as total_executions,
        sum(reliability_sum) / sum(executions) as avg_reliability,
        sum(duration_sum) / sum(executions) as avg_execution_time,
        sum(cost_sum) as daily_cost,
        sum(errors)::bigint as error_count
    from stats
    group by version_id, date_trunc('day', hour, 'UTC')
)

select
    cv.config_id,
    cv.version_id,
    cv.version_number,
    cv.parsed_config,
    d.day,
    d.total_executions,
    d.avg_reliability,
    d.avg_execution_time,
    d.daily_cost,
    d.error_count
from daily as d
inner join {{ ref('stg_config_versions') }} as cv on d.version_id = cv.version_id
order by d.day desc, d.avg_reliability desc
