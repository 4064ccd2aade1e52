-- Daily execution totals over the last var('dashboard_window'), from the hourly and daily outcome
-- statistics (macros/rollups/live.sql): whole days and hours from the rollups, the window's partial first
-- hour and the hours holding outcomes written since the rollups' watermarks from the outcomes themselves,
-- so the view is exact and shows new rows at once.
with stats as (
    {{ arc_eval_live_stats(
        'outcome_stats_hourly', 'int_outcomes_enriched', [],
        arc_eval_outcome_measures(),
        window=var('dashboard_window'),
        daily_rollup='outcome_stats_daily'
    ) }}
),

days as (
    select
        date_trunc('day', hour, 'UTC') as day,
        sum(executions) as executions,
        sum(reliability_sum) as reliability_sum,
        sum(duration_sum) as duration_sum,
        sum(cost_sum) as cost_usd,
        sum(errors) as errors
    from stats
    group by date_trunc('day', hour, 'UTC')
)

select
    day,
    executions::bigint as total_executions,
    reliability_sum / executions as avg_reliability,
    duration_sum / executions as avg_duration_ms,
    cost_usd as daily_cost,
    errors::bigint as error_count,
    round(errors::numeric / executions * 100, 2) as error_rate_pct
from days
where executions > 0
order by day desc
