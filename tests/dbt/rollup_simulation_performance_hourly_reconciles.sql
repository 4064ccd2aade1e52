-- simulation_performance_hourly holds exactly the raw outcomes' totals, per simulation.
-- Returns the simulations where counts, errors or cost (to 1e-6 relative) disagree.
with rollup_totals as (
    select
        simulation_id,
        sum(total_outcomes) as outcomes,
        sum(error_count) as errors,
        sum(total_cost) as cost_usd,
        sum(avg_reliability * total_outcomes) as reliability_sum
    from {{ ref('simulation_performance_hourly') }}
    group by simulation_id
),

raw_totals as (
    select
        simulation_id,
        count(*) as outcomes,
        count(*) filter (where status = 'error') as errors,
        sum(cost_usd::double precision) as cost_usd,
        sum(reliability_score::double precision) as reliability_sum
    from {{ source('arc_eval_raw', 'outcomes') }}
    group by simulation_id
)

select
    coalesce(r.simulation_id, w.simulation_id) as simulation_id,
    r.outcomes as rollup_outcomes,
    w.outcomes as raw_outcomes
from rollup_totals as r
full outer join raw_totals as w on r.simulation_id = w.simulation_id
where
    r.outcomes is distinct from w.outcomes
    or r.errors is distinct from w.errors
    or abs(r.cost_usd - w.cost_usd) > 1e-6 * greatest(1, abs(w.cost_usd))
    or abs(r.reliability_sum - w.reliability_sum) > 1e-6 * greatest(1, w.reliability_sum)
