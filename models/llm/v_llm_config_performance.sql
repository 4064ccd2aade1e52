-- Daily performance of each configuration version over the last var('llm_config_performance_window').
with daily as (
    select
        version_id,
        date_trunc('day', execution_time, 'UTC') as day,
        count(*) as total_executions,
        avg(reliability_score) as avg_reliability,
        avg(execution_time_ms) as avg_execution_time,
        sum(cost_usd::double precision) as daily_cost,
        count(*) filter (where status = 'error') as error_count
    from {{ ref('int_outcomes_enriched') }}
    where execution_time > {{ arc_eval_now() }} - interval '{{ var("llm_config_performance_window") }}'
    group by version_id, date_trunc('day', execution_time, 'UTC')
)

select
    cv.config_id,
    cv.version_id,
    cv.version_number,
    cv.parsed_config,
    d.day,
    d.total_executions,
    d.avg_reliability,
    d.avg_execution_time,
    d.daily_cost,
    d.error_count
from daily as d
inner join {{ ref('stg_config_versions') }} as cv on d.version_id = cv.version_id
order by d.day desc, d.avg_reliability desc
