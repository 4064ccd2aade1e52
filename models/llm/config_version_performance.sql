-- One row per configuration version: its outcomes over all history (zero when it never ran).
with version_outcomes as (
    select
        o.version_id,
        count(*) as executions,
        avg(o.reliability_score) as avg_reliability,
        avg((o.status = 'success')::int::double precision) as success_rate,
        sum(o.cost_usd::double precision) as total_cost_usd,
        avg(o.cost_usd::double precision) as avg_cost_usd,
        avg(o.execution_time_ms) as avg_execution_time_ms,
        count(*) filter (where o.status = 'error') as error_count,
        count(*) filter (where o.status = 'timeout') as timeout_count
    from {{ ref('int_outcomes_enriched') }} as o
    group by o.version_id
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
