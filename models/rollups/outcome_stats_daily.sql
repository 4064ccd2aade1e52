{{ config(
    materialized='rollup',
    time_column='day',
    bucket_width='1 day',
    tags=['live_stats'],
    source_time_column='execution_time',
    grain=['day', 'version_id', 'scenario_id'],
) }}
-- depends_on: {{ source('arc_eval_raw', 'outcomes') }}
-- The hourly statistics merged per day: the run recomputes a day from its 24 rows per group, not from
-- the day's raw rows (the days holding rows ingested since the watermark, found in outcomes).

{{ arc_eval_stats_merge_select(
    ref('outcome_stats_hourly'),
    ['version_id', 'scenario_id'],
    arc_eval_outcome_measures(),
    rollup_where('hour'),
) }}
