-- One row per configuration version: its outcomes over all history (zero when it never ran).
-- From the hourly outcome statistics (exact and live: see macros/rollups/live.sql).
with stats as (
    {{ arc_eval_live_stats(
        'outcome_stats_hourly', 'int_outcomes_enriched', ['version_id', 'scenario_id'],
        arc_eval_outcome_measures(),
        daily_rollup='outcome_stats_daily'
    ) }}
),

version_outcomes as (
    select
        version_id,
        sum(executions)::bigint as executions,
        sum(reliability_sum) / sum(executions) as avg_reliability,
        sum(successes) / sum(executions)::double precision as success_rate,
        sum(cost_sum) as total_cost_usd,
        sum(cost_sum) / sum(executions) as avg_cost_usd,
        sum(duration_sum) / sum(executions) as avg_execution_time_ms,
        sum(errors)::bigint as error_count,
        sum(timeouts)::bigint as timeout_count
    from stats
    group by version_id
)

select
    cv.config_id,
    c.name as config_name,
    cv.version_id,
    cv.version_number,
    cv.model,
    cv.temperature,
    cv.generated_by,
    cv.created_at as version_created_at,
    coalesce(vo.executions, 0) as executions,
    vo.avg_reliability,
    vo.success_rate,
    coalesce(vo.total_cost_usd, 0) as total_cost_usd,
    vo.avg_cost_usd,
    vo.avg_execution_time_ms,
    coalesce(vo.error_count, 0) as error_count,
    coalesce(vo.timeout_count, 0) as timeout_count
from {{ ref('stg_config_versions') }} as cv
inner join {{ ref('stg_configurations') }} as c on cv.config_id = c.config_id
left join version_outcomes as vo on cv.version_id = vo.version_id
where not cv.is_deleted
