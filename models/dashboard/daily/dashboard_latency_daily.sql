{{ config(
    materialized='rollup',
    time_column='day',
    bucket_width='1 day',
    grain=['day', 'version_id', 'scenario_id', 'latency_bucket'],
) }}
-- depends_on: {{ source('arc_eval_raw', 'outcomes') }}
-- Latency histogram per UTC day, configuration version and scenario, in log-spaced buckets: bucket k
-- holds executions with latency in (10 ms * 1.25^(k-1), 10 ms * 1.25^k] (bucket 0: up to 10 ms; the
-- last bucket holds everything above its lower edge). Histograms add up across days and scenarios, so
-- percentiles of any filtered set are read from the summed counts, to within one bucket (25%).
-- A rollup (incremental: a run recomputes the days holding outcomes ingested since the last one).
with bucketed as (
    select
        {{ bucket('1 day', 'execution_time') }} as day,
        config_id,
        version_id,
        model,
        scenario_id,
        least(
            {{ var('dashboard_latency_buckets') }} - 1,
            greatest(0, ceil(ln(greatest(execution_time_ms::double precision, 1) / 10) / ln(1.25)))
        )::int as latency_bucket
    from {{ ref('int_outcomes_enriched') }}
    {{ rollup_where('execution_time') }}
)

select
    day,
    config_id,
    version_id,
    model,
    scenario_id,
    latency_bucket,
    10 * power(1.25, latency_bucket) as latency_upper_ms,
    count(*) as executions
from bucketed
group by day, config_id, version_id, model, scenario_id, latency_bucket
