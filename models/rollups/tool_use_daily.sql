{{ config(
    materialized='rollup',
    time_column='day',
    bucket_width='1 day',
    tags=['live_stats'],
    grain=['day', 'version_id', 'scenario_id'],
) }}
-- depends_on: {{ source('arc_eval_raw', 'tool_usage') }}

{{ arc_eval_stats_select(
    ref('int_tool_usage_enriched'),
    ['version_id', 'scenario_id'],
    arc_eval_tool_use_measures(),
    rollup_where('execution_time', ['outcome_time']),
    width='1 day',
    time_name='day',
) }}
