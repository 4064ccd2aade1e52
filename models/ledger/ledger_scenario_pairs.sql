-- One row per applied recommendation and scenario run both by its base version (any time) and by the version
-- it produced (at or after applied_at): the differences of the per-scenario means (produced - base). The versions
-- come from ledger_applied_recommendations, which skips soft-deleted ones.
with applied as (
    select
        recommendation_id,
        applied_at,
        base_version_id,
        applied_version_id,
        case when metric_measurable then measure end as measure,
        tool_name
    from {{ ref('ledger_applied_recommendations') }}
),

runs as (
    select
        a.recommendation_id,
        a.applied_version_id = s.config_version_id as after_change,
        o.scenario_id,
        o.reliability_score,
        (o.status = 'success')::int::double precision as success,
        (o.status = 'timeout')::int::double precision as timed_out,
        o.cost_usd::double precision as cost_usd,
        o.execution_time_ms,
        tool.success_rate as tool_success_rate
    from applied as a
    inner join {{ ref('stg_simulations') }} as s
        on s.config_version_id in (a.base_version_id, a.applied_version_id)
    inner join {{ ref('stg_outcomes') }} as o on s.simulation_id = o.simulation_id
    left join lateral (
        select avg(tu.success_rate) as success_rate
        from {{ ref('stg_tool_usage') }} as tu
        where
            a.tool_name is not null
            and {{ same_outcome('tu', 'o') }}
            and tu.tool_name = a.tool_name
    ) as tool on true
    where s.config_version_id = a.base_version_id or o.execution_time >= a.applied_at
),

sides as (
    select
        recommendation_id,
        after_change,
        scenario_id,
        count(*) as runs,
        avg(reliability_score) as reliability,
        avg(success) as success_rate,
        avg(timed_out) as timeout_rate,
        avg(cost_usd) as cost_usd,
        avg(execution_time_ms) as execution_time_ms,
        avg(tool_success_rate) as tool_success_rate
    from runs
    group by recommendation_id, after_change, scenario_id
),

paired as (
    select
        a.recommendation_id,
        changed.scenario_id,
        a.measure,
        original.runs as base_runs,
        changed.runs,
        changed.reliability - original.reliability as reliability_difference,
        changed.success_rate - original.success_rate as success_rate_difference,
        changed.cost_usd - original.cost_usd as cost_difference,
        case a.measure
            when 'reliability' then changed.reliability - original.reliability
            when 'success_rate' then changed.success_rate - original.success_rate
            when 'failure_rate' then original.success_rate - changed.success_rate
            when 'timeout_rate' then changed.timeout_rate - original.timeout_rate
            when 'cost_usd' then changed.cost_usd - original.cost_usd
            when 'execution_time_ms' then changed.execution_time_ms - original.execution_time_ms
            when 'tool_success_rate' then changed.tool_success_rate - original.tool_success_rate
        end as metric_difference
    from applied as a
    inner join sides as changed on a.recommendation_id = changed.recommendation_id and changed.after_change
    inner join sides as original
        on
            a.recommendation_id = original.recommendation_id
            and changed.scenario_id = original.scenario_id
            and not original.after_change
)

select
    recommendation_id,
    scenario_id,
    measure,
    base_runs,
    runs,
    reliability_difference,
    success_rate_difference,
    cost_difference,
    metric_difference
from paired
