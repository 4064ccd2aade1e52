{{ config(
    materialized='rollup',
    time_column='day',
    bucket_width='1 day',
    grain=['day', 'failure_category'],
    refresh_policy={'start_offset': '3 days', 'end_offset': '1 hour', 'schedule_interval': '1 hour'},
) }}

select
    {{ bucket('1 day', 'execution_time') }} as day,
    failure_category,
    count(*) as failure_count,
    avg(cluster_confidence) as avg_confidence,
    count(distinct pattern_cluster_id) as unique_patterns
from {{ source('arc_eval_raw', 'failure_patterns') }}
{{ rollup_where('execution_time') }}
group by {{ bucket('1 day', 'execution_time') }}, failure_category
