-- Daily failures per category over the last var('llm_failure_window'), for the recommender's prompt.
with recent_failures as (
    select
        fp.execution_time,
        fp.failure_category,
        fp.cluster_confidence,
        fp.error_message,
        o.scenario_id
    from {{ ref('stg_failure_patterns') }} as fp
    inner join {{ ref('stg_outcomes') }} as o
        on {{ same_outcome('fp', 'o') }}
    where
        fp.execution_time > {{ arc_eval_now() }} - interval '{{ var("llm_failure_window") }}'
        and o.execution_time > {{ arc_eval_now() }} - interval '{{ var("llm_failure_window") }}'
)

select
    date_trunc('day', execution_time, 'UTC') as day,
    failure_category,
    count(*) as daily_failures,
    avg(cluster_confidence) as avg_confidence,
    (array_agg(distinct error_message) filter (
        where error_message is not null
    ))[1:{{ var('llm_sample_errors', 5) }}] as sample_errors,
    array_agg(distinct scenario_id) as affected_scenarios
from recent_failures
group by date_trunc('day', execution_time, 'UTC'), failure_category
order by day desc, daily_failures desc
