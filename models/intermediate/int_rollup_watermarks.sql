-- depends_on: {{ ref('simulation_performance_hourly') }}
-- depends_on: {{ ref('outcome_stats_hourly') }}
-- depends_on: {{ ref('outcome_stats_daily') }}
-- depends_on: {{ ref('failure_stats_hourly') }}
-- depends_on: {{ ref('failure_stats_daily') }}
-- depends_on: {{ ref('tool_use_hourly') }}
-- depends_on: {{ ref('tool_use_daily') }}
-- depends_on: {{ ref('tool_stats_hourly') }}
-- depends_on: {{ ref('version_failures_hourly') }}
-- depends_on: {{ ref('version_failures_daily') }}
-- The watermark of each incremental rollup: every source row created (created_at) before
-- source_watermark is in the rollup (see macros/rollups/rollup.sql). Models that read a rollup take
-- the buckets holding a row created since then from the raw rows instead, so they stay exact and live.
-- A continuous aggregate (real-time) keeps no watermark here: no row.
select
    rollup_name,
    source_watermark
from {{ this.schema }}.arc_eval_rollup_state
