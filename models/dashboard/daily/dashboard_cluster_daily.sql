-- Failures per UTC day, failure cluster, configuration version and scenario (clustered failures only).
-- From the hourly failure statistics (see macros/rollups/live.sql): a rebuild reads hours, not failures.
with stats as (
    {{ arc_eval_live_stats(
        'failure_stats_hourly', 'int_failures_enriched',
        ['pattern_cluster_id', 'failure_category', 'version_id', 'scenario_id'],
        arc_eval_failure_measures()
    ) }}
)

select
    date_trunc('day', s.hour, 'UTC') as day,
    s.pattern_cluster_id,
    s.failure_category,
    cv.config_id,
    s.version_id,
    cv.version_number,
    cv.model,
    s.scenario_id,
    sum(s.failures)::bigint as failures
from stats as s
inner join {{ ref('stg_config_versions') }} as cv on s.version_id = cv.version_id
where s.pattern_cluster_id is not null
group by
    date_trunc('day', s.hour, 'UTC'),
    s.pattern_cluster_id,
    s.failure_category,
    cv.config_id,
    s.version_id,
    cv.version_number,
    cv.model,
    s.scenario_id
