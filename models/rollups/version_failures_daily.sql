{{ config(
    materialized='rollup',
    time_column='day',
    bucket_width='1 day',
    tags=['live_stats'],
    grain=['day', 'version_id'],
) }}
-- depends_on: {{ source('arc_eval_raw', 'failure_patterns') }}

{{ arc_eval_stats_select(
    ref('int_failures_enriched'),
    ['version_id'],
    arc_eval_version_failure_measures(),
    rollup_where('execution_time', ['outcome_time']),
    width='1 day',
    time_name='day',
) }}
