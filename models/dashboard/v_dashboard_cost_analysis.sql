-- Daily cost and tokens per model over the last var('dashboard_window').
select
    date_trunc('day', o.execution_time, 'UTC') as day,
    o.model,
    count(*) as executions,
    sum(o.cost_usd::double precision) as total_cost,
    avg(o.cost_usd::double precision) as avg_cost_per_execution,
    sum(o.tokens_used) as total_tokens,
    avg(o.tokens_used) as avg_tokens_per_execution
from {{ ref('int_outcomes_enriched') }} as o
where o.execution_time > {{ arc_eval_now() }} - interval '{{ var("dashboard_window") }}'
group by date_trunc('day', o.execution_time, 'UTC'), o.model
order by day desc, total_cost desc
