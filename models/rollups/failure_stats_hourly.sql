{{ config(
    materialized='rollup',
    time_column='hour',
    bucket_width='1 hour',
    tags=['live_stats'],
    merge=arc_eval_measure_merges(arc_eval_failure_measures()),
    grain=['hour', 'pattern_cluster_id', 'failure_category'],
) }}
-- depends_on: {{ source('arc_eval_raw', 'failure_patterns') }}

{{ arc_eval_stats_select(
    ref('int_failures_enriched'),
    ['pattern_cluster_id', 'failure_category'],
    arc_eval_failure_measures(),
    rollup_where('execution_time', ['outcome_time']),
) }}
