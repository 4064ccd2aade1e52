{{ config(
    materialized='rollup',
    time_column='day',
    bucket_width='1 day',
    grain=['day', 'tool_name'],
    refresh_policy={'start_offset': '3 days', 'end_offset': '1 hour', 'schedule_interval': '1 hour'},
) }}

select
    {{ bucket('1 day', 'execution_time') }} as day,
    tool_name,
    avg(success_rate) as avg_success_rate,
    avg(avg_duration_ms) as avg_duration,
    sum(total_cost_usd::double precision) as daily_cost,
    count(*) as usage_count
from {{ source('arc_eval_raw', 'tool_usage') }}
{{ rollup_where('execution_time') }}
group by {{ bucket('1 day', 'execution_time') }}, tool_name
