-- One row per failure cluster (pattern_cluster_id), over all history.
-- Each aggregate is computed per cluster first and the (one row per cluster) results are joined after:
-- joining per-failure rows to a per-cluster result before aggregating let the planner, misled by the
-- estimate of the (outcome_id, execution_time) join, rescan a sorted set once per failure (quadratic).
with clustered as (
    select
        fp.pattern_cluster_id,
        fp.failure_category,
        fp.execution_time,
        fp.error_message,
        fp.cluster_confidence,
        o.scenario_id,
        o.version_id as config_version_id
    from {{ ref('stg_failure_patterns') }} as fp
    inner join {{ ref('int_outcomes_enriched') }} as o
        on {{ same_outcome('fp', 'o') }}
    where fp.pattern_cluster_id is not null
),

per_cluster as (
    select
        pattern_cluster_id,
        mode() within group (order by failure_category) as failure_category,
        count(*) as failure_count,
        min(execution_time) as first_seen,
        max(execution_time) as last_seen,
        avg(cluster_confidence) as avg_confidence,
        count(distinct config_version_id) as config_versions_affected,
        array_agg(distinct config_version_id) as config_version_ids,
        count(distinct scenario_id) as scenarios_affected,
        array_agg(distinct scenario_id) as affected_scenarios
    from clustered
    group by pattern_cluster_id
),

latest_message as (
    select distinct on (pattern_cluster_id)
        pattern_cluster_id,
        error_message
    from clustered
    where error_message is not null
    order by pattern_cluster_id asc, execution_time desc, error_message asc
)

select
    pc.pattern_cluster_id,
    pc.failure_category,
    pc.failure_count,
    pc.first_seen,
    pc.last_seen,
    pc.avg_confidence,
    lm.error_message as sample_error_message,
    pc.config_versions_affected,
    pc.config_version_ids,
    pc.scenarios_affected,
    pc.affected_scenarios
from per_cluster as pc
left join latest_message as lm on pc.pattern_cluster_id = lm.pattern_cluster_id
