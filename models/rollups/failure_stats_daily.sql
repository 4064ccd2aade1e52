{{ config(
    materialized='rollup',
    time_column='day',
    bucket_width='1 day',
    tags=['live_stats'],
    grain=['day', 'pattern_cluster_id', 'failure_category'],
) }}
-- depends_on: {{ source('arc_eval_raw', 'failure_patterns') }}

{{ arc_eval_stats_select(
    ref('int_failures_enriched'),
    ['pattern_cluster_id', 'failure_category'],
    arc_eval_failure_measures(),
    rollup_where('execution_time', ['outcome_time']),
    width='1 day',
    time_name='day',
) }}
