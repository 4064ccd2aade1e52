-- Outcomes per UTC day, configuration version and scenario: the sums the dashboard's charts, filters
-- and scenario x version matrix add up (means, rates and intervals are computed from these sums).
select
    date_trunc('day', o.execution_time, 'UTC') as day,
    cv.config_id,
    c.name as config_name,
    cv.version_id,
    cv.version_number,
    cv.model,
    o.scenario_id,
    count(*) as executions,
    count(*) filter (where o.status = 'success') as successes,
    count(*) filter (where o.status = 'error') as errors,
    count(*) filter (where o.status = 'timeout') as timeouts,
    sum(o.reliability_score::double precision) as reliability_sum,
    sum(o.reliability_score::double precision * o.reliability_score::double precision) as reliability_sq_sum,
    sum(o.cost_usd::double precision) as cost_usd,
    sum(o.tokens_used::bigint) as tokens,
    sum(o.execution_time_ms::double precision) as latency_ms_sum
from {{ ref('stg_outcomes') }} as o
inner join {{ ref('stg_simulations') }} as s on o.simulation_id = s.simulation_id
inner join {{ ref('stg_config_versions') }} as cv on s.config_version_id = cv.version_id
inner join {{ ref('stg_configurations') }} as c on cv.config_id = c.config_id
group by
    date_trunc('day', o.execution_time, 'UTC'),
    cv.config_id,
    c.name,
    cv.version_id,
    cv.version_number,
    cv.model,
    o.scenario_id
