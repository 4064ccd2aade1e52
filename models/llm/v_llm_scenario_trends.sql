-- Weekly reliability of each scenario over the last var('llm_scenario_trends_window').
-- From the hourly outcome statistics (exact and live: see macros/rollups/live.sql); the sample standard
-- deviation comes from the sums of scores and of their squares.
with stats as (
    {{ arc_eval_live_stats(
        'outcome_stats_hourly', 'int_outcomes_enriched', ['version_id', 'scenario_id'],
        arc_eval_outcome_measures(), var('llm_scenario_trends_window'),
        daily_rollup='outcome_stats_daily'
    ) }}
),

weekly as (
    select
        scenario_id,
        date_trunc('week', hour, 'UTC') as week,
        sum(executions) as executions,
        sum(reliability_sum) as reliability_sum,
        sum(reliability_square_sum) as reliability_square_sum,
        sum(duration_sum) as duration_sum,
        sum(timeouts) as timeouts
    from stats
    group by scenario_id, date_trunc('week', hour, 'UTC')
)

select
    scenario_id,
    week,
    executions::bigint as executions,
    reliability_sum / executions as avg_reliability,
    case
        when executions > 1
            then sqrt(greatest(
                0, (reliability_square_sum - reliability_sum * reliability_sum / executions) / (executions - 1)
            ))
    end as reliability_variance,
    duration_sum / executions as avg_duration,
    timeouts::bigint as timeout_count
from weekly
order by week desc, avg_reliability asc
