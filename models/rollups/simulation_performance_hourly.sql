{{ config(
    materialized='rollup',
    time_column='hour',
    bucket_width='1 hour',
    grain=['hour', 'simulation_id'],
    refresh_policy={'start_offset': '1 day', 'end_offset': '1 hour', 'schedule_interval': '1 hour'},
) }}

select
    {{ bucket('1 hour', 'execution_time') }} as hour,
    simulation_id,
    count(*) as total_outcomes,
    avg(reliability_score) as avg_reliability,
    avg(execution_time_ms) as avg_execution_time,
    sum(cost_usd::double precision) as total_cost,
    count(*) filter (where status = 'error') as error_count
from {{ source('arc_eval_raw', 'outcomes') }}
{{ rollup_where('execution_time') }}
group by {{ bucket('1 hour', 'execution_time') }}, simulation_id
