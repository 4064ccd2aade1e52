-- Daily cost and tokens per model over the last var('dashboard_window').
-- From the hourly outcome statistics (exact and live: see macros/rollups/live.sql).
with stats as (
    {{ arc_eval_live_stats(
        'outcome_stats_hourly', 'int_outcomes_enriched', ['version_id', 'scenario_id'],
        arc_eval_outcome_measures(), var('dashboard_window'),
        daily_rollup='outcome_stats_daily'
    ) }}
),

daily as (
    select
        date_trunc('day', s.hour, 'UTC') as day,
        cv.model,
        sum(s.executions) as executions,
        sum(s.cost_sum) as total_cost,
        sum(s.tokens_sum) as total_tokens
    from stats as s
    inner join {{ ref('stg_config_versions') }} as cv on s.version_id = cv.version_id
    group by date_trunc('day', s.hour, 'UTC'), cv.model
)

select
    day,
    model,
    executions::bigint as executions,
    total_cost,
    total_cost / executions as avg_cost_per_execution,
    total_tokens::bigint as total_tokens,
    total_tokens / executions as avg_tokens_per_execution
from daily
order by day desc, total_cost desc
