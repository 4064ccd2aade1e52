-- Outcomes per UTC day, configuration version and scenario: the sums the dashboard's charts, filters
-- and scenario x version matrix add up (means, rates and intervals are computed from these sums).
-- From the hourly outcome statistics (see macros/rollups/live.sql): a rebuild reads hours, not outcomes.
with stats as (
    {{ arc_eval_live_stats(
        'outcome_stats_hourly', 'int_outcomes_enriched', ['version_id', 'scenario_id'],
        arc_eval_outcome_measures(),
        daily_rollup='outcome_stats_daily'
    ) }}
)

select
    date_trunc('day', s.hour, 'UTC') as day,
    cv.config_id,
    c.name as config_name,
    cv.version_id,
    cv.version_number,
    cv.model,
    s.scenario_id,
    sum(s.executions)::bigint as executions,
    sum(s.successes)::bigint as successes,
    sum(s.errors)::bigint as errors,
    sum(s.timeouts)::bigint as timeouts,
    sum(s.reliability_sum) as reliability_sum,
    sum(s.reliability_square_sum) as reliability_sq_sum,
    sum(s.cost_sum) as cost_usd,
    sum(s.tokens_sum) as tokens,
    sum(s.duration_sum) as latency_ms_sum
from stats as s
inner join {{ ref('stg_config_versions') }} as cv on s.version_id = cv.version_id
inner join {{ ref('stg_configurations') }} as c on cv.config_id = c.config_id
group by
    date_trunc('day', s.hour, 'UTC'),
    cv.config_id,
    c.name,
    cv.version_id,
    cv.version_number,
    cv.model,
    s.scenario_id
