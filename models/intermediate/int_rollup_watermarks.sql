-- depends_on: {{ ref('simulation_performance_hourly') }}
-- The watermark of each incremental rollup: every source row created (created_at) before
-- source_watermark is in the rollup (see macros/rollups/rollup.sql). Models that read a rollup take
-- the buckets holding a row created since then from the raw rows instead, so they stay exact and live.
-- Continuous aggregates (real-time) keep no watermark here: no rows.
{% if arc_eval_rollup_capabilities()['continuous_aggregates'] %}
    select
        null::text as rollup_name,
        null::timestamptz as source_watermark
    where false
{% else %}
    select
        rollup_name,
        source_watermark
    from {{ this.schema }}.arc_eval_rollup_state
{% endif %}
