-- Per tool, tool_performance_daily summed over the days that overlap the recommender's window.
select
    tool_name,
    sum(usage_count) as usage_count,
    sum(avg_success_rate * usage_count) / nullif(sum(usage_count), 0) as avg_success_rate,
    sum(avg_duration * usage_count) / nullif(sum(usage_count), 0) as avg_duration_ms,
    sum(daily_cost) as total_cost_usd
from {{ ref('tool_performance_daily') }}
where day >= date_trunc('day', {{ recommender_window_start() }}, 'UTC')
group by tool_name
