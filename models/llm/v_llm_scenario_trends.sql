-- Weekly reliability of each scenario over the last var('llm_scenario_trends_window').
select
    scenario_id,
    date_trunc('week', execution_time, 'UTC') as week,
    count(*) as executions,
    avg(reliability_score) as avg_reliability,
    stddev_samp(reliability_score) as reliability_variance,
    avg(execution_time_ms) as avg_duration,
    count(*) filter (where status = 'timeout') as timeout_count
from {{ ref('stg_outcomes') }}
where execution_time > {{ arc_eval_now() }} - interval '{{ var("llm_scenario_trends_window") }}'
group by scenario_id, date_trunc('week', execution_time, 'UTC')
order by week desc, avg_reliability asc
