-- One row per failure cluster (pattern_cluster_id), over all history.
-- From the hourly failure statistics (exact and live: see macros/rollups/live.sql). The category is the
-- most frequent one (the first in sort order among equals, as mode()); the sample message is the latest
-- (the first in sort order among equals).
with stats as (
    {{ arc_eval_live_stats(
        'failure_stats_hourly', 'int_failures_enriched',
        ['pattern_cluster_id', 'failure_category'],
        arc_eval_failure_measures(),
        daily_rollup='failure_stats_daily'
    ) }}
),

clustered as (
    select *
    from stats
    where pattern_cluster_id is not null
),

per_cluster as (
    select
        pattern_cluster_id,
        sum(failures)::bigint as failure_count,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        sum(confidence_sum) / nullif(sum(confidence_count), 0) as avg_confidence
    from clustered
    group by pattern_cluster_id
),

cluster_versions as (
    -- Each cluster's versions and scenarios: the distinct sets first (most hours repeat one), then one
    -- pass over their elements.
    select
        d.pattern_cluster_id,
        array_agg(distinct v.version_id order by v.version_id) as config_version_ids
    from (
        select distinct
            pattern_cluster_id,
            version_ids
        from clustered
    ) as d
    cross join lateral unnest(d.version_ids) as v (version_id)
    group by d.pattern_cluster_id
),

cluster_scenarios as (
    select
        d.pattern_cluster_id,
        array_agg(distinct sc.scenario_id order by sc.scenario_id) as affected_scenarios
    from (
        select distinct
            pattern_cluster_id,
            scenario_ids
        from clustered
    ) as d
    cross join lateral unnest(d.scenario_ids) as sc (scenario_id)
    group by d.pattern_cluster_id
),

categories as (
    select distinct on (pattern_cluster_id)
        pattern_cluster_id,
        failure_category
    from (
        select
            pattern_cluster_id,
            failure_category,
            sum(failures) as failures
        from clustered
        group by pattern_cluster_id, failure_category
    ) as per_category
    order by pattern_cluster_id asc, failures desc, failure_category asc
),

latest_message as (
    select distinct on (pattern_cluster_id)
        pattern_cluster_id,
        latest_message as error_message
    from clustered
    where latest_message is not null
    order by pattern_cluster_id asc, message_time desc, latest_message asc
)

select
    pc.pattern_cluster_id,
    c.failure_category,
    pc.failure_count,
    pc.first_seen,
    pc.last_seen,
    pc.avg_confidence,
    lm.error_message as sample_error_message,
    cardinality(cv.config_version_ids)::bigint as config_versions_affected,
    cv.config_version_ids,
    cardinality(cs.affected_scenarios)::bigint as scenarios_affected,
    cs.affected_scenarios
from per_cluster as pc
inner join categories as c on pc.pattern_cluster_id = c.pattern_cluster_id
inner join cluster_versions as cv on pc.pattern_cluster_id = cv.pattern_cluster_id
inner join cluster_scenarios as cs on pc.pattern_cluster_id = cs.pattern_cluster_id
left join latest_message as lm on pc.pattern_cluster_id = lm.pattern_cluster_id
