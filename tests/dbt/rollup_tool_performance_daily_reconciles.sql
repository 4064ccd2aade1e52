-- tool_performance_daily holds exactly the raw tool_usage totals per tool (cost to 1e-6 relative).
with rollup_totals as (
    select
        tool_name,
        sum(usage_count) as usages,
        sum(daily_cost) as cost_usd,
        sum(avg_success_rate * usage_count) as success_rate_sum
    from {{ ref('tool_performance_daily') }}
    group by tool_name
),

raw_totals as (
    select
        tool_name,
        count(*) as usages,
        sum(total_cost_usd::double precision) as cost_usd,
        sum(success_rate::double precision) as success_rate_sum
    from {{ source('arc_eval_raw', 'tool_usage') }}
    group by tool_name
)

select
    coalesce(r.tool_name, w.tool_name) as tool_name,
    r.usages as rollup_usages,
    w.usages as raw_usages
from rollup_totals as r
full outer join raw_totals as w on r.tool_name = w.tool_name
where
    r.usages is distinct from w.usages
    or abs(r.cost_usd - w.cost_usd) > 1e-6 * greatest(1, abs(w.cost_usd))
    or abs(r.success_rate_sum - w.success_rate_sum) > 1e-6 * greatest(1, w.success_rate_sum)
