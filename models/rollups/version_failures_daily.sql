{{ config(
    materialized='rollup',
    time_column='day',
    bucket_width='1 day',
    tags=['live_stats'],
    source_time_column='execution_time',
    grain=['day', 'version_id'],
) }}
-- depends_on: {{ source('arc_eval_raw', 'failure_patterns') }}
-- The hourly statistics merged per day: the run recomputes a day from its 24 rows per group, not from
-- the day's raw rows (the days holding rows ingested since the watermark, found in failure_patterns).

{{ arc_eval_stats_merge_select(
    ref('version_failures_hourly'),
    ['version_id'],
    arc_eval_version_failure_measures(),
    rollup_where('hour'),
) }}
