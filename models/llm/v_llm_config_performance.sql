-- Daily performance of each configuration version over the last var('llm_config_performance_window').
select
    cv.config_id,
    cv.version_id,
    cv.version_number,
    cv.parsed_config,
    date_trunc('day', o.execution_time, 'UTC') as day,
    count(*) as total_executions,
    avg(o.reliability_score) as avg_reliability,
    avg(o.execution_time_ms) as avg_execution_time,
    sum(o.cost_usd::double precision) as daily_cost,
    count(*) filter (where o.status = 'error') as error_count
from {{ ref('stg_config_versions') }} as cv
inner join {{ ref('stg_simulations') }} as s on cv.version_id = s.config_version_id
inner join {{ ref('stg_outcomes') }} as o on s.simulation_id = o.simulation_id
where o.execution_time > {{ arc_eval_now() }} - interval '{{ var("llm_config_performance_window") }}'
group by cv.config_id, cv.version_id, cv.version_number, cv.parsed_config, date_trunc('day', o.execution_time, 'UTC')
order by day desc, avg_reliability desc
