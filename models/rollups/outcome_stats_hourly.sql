{{ config(
    materialized='rollup',
    time_column='hour',
    bucket_width='1 hour',
    tags=['live_stats'],
    merge=arc_eval_measure_merges(arc_eval_outcome_measures()),
    grain=['hour', 'version_id', 'scenario_id'],
) }}
-- depends_on: {{ source('arc_eval_raw', 'outcomes') }}

{{ arc_eval_stats_select(
    ref('int_outcomes_enriched'),
    ['version_id', 'scenario_id'],
    arc_eval_outcome_measures(),
    rollup_where('execution_time'),
) }}
