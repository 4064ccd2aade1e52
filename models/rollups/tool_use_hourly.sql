{{ config(
    materialized='rollup',
    time_column='hour',
    bucket_width='1 hour',
    tags=['live_stats'],
    merge=arc_eval_measure_merges(arc_eval_tool_use_measures()),
    grain=['hour', 'version_id', 'scenario_id'],
) }}
-- depends_on: {{ source('arc_eval_raw', 'tool_usage') }}

{{ arc_eval_stats_select(
    ref('int_tool_usage_enriched'),
    ['version_id', 'scenario_id'],
    arc_eval_tool_use_measures(),
    rollup_where('execution_time', ['outcome_time']),
) }}
