-- Latency histogram per UTC day, configuration version and scenario, in log-spaced buckets: bucket k
-- holds executions with latency in (10 ms * 1.25^(k-1), 10 ms * 1.25^k] (bucket 0: up to 10 ms; the
-- last bucket holds everything above its lower edge). Histograms add up across days and scenarios, so
-- percentiles of any filtered set are read from the summed counts, to within one bucket (25%).
with bucketed as (
    select
        date_trunc('day', o.execution_time, 'UTC') as day,
        s.config_version_id as version_id,
        o.scenario_id,
        least(
            {{ var('dashboard_latency_buckets') }} - 1,
            greatest(0, ceil(ln(greatest(o.execution_time_ms::double precision, 1) / 10) / ln(1.25)))
        )::int as latency_bucket
    from {{ ref('stg_outcomes') }} as o
    inner join {{ ref('stg_simulations') }} as s on o.simulation_id = s.simulation_id
)

select
    b.day,
    cv.config_id,
    b.version_id,
    cv.model,
    b.scenario_id,
    b.latency_bucket,
    10 * power(1.25, b.latency_bucket) as latency_upper_ms,
    count(*) as executions
from bucketed as b
inner join {{ ref('stg_config_versions') }} as cv on b.version_id = cv.version_id
group by b.day, cv.config_id, b.version_id, cv.model, b.scenario_id, b.latency_bucket
