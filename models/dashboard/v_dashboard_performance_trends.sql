-- Daily execution totals over the last var('dashboard_window').
select
    date_trunc('day', execution_time, 'UTC') as day,
    count(*) as total_executions,
    avg(reliability_score) as avg_reliability,
    avg(execution_time_ms) as avg_duration_ms,
    sum(cost_usd::double precision) as daily_cost,
    count(*) filter (where status = 'error') as error_count,
    round((count(*) filter (where status = 'error'))::numeric / count(*) * 100, 2) as error_rate_pct
from {{ ref('stg_outcomes') }}
where execution_time > {{ arc_eval_now() }} - interval '{{ var("dashboard_window") }}'
group by date_trunc('day', execution_time, 'UTC')
order by day desc
