-- One row per failure cluster (pattern_cluster_id), over all history.
with clustered as (
    select
        fp.pattern_cluster_id,
        fp.failure_category,
        fp.execution_time,
        fp.error_message,
        fp.cluster_confidence,
        o.scenario_id,
        s.config_version_id
    from {{ ref('stg_failure_patterns') }} as fp
    inner join {{ ref('stg_outcomes') }} as o
        on
            fp.outcome_id = o.outcome_id
            and fp.execution_time = o.execution_time
    inner join {{ ref('stg_simulations') }} as s on o.simulation_id = s.simulation_id
    where fp.pattern_cluster_id is not null
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
    c.pattern_cluster_id,
    mode() within group (order by c.failure_category) as failure_category,
    count(*) as failure_count,
    min(c.execution_time) as first_seen,
    max(c.execution_time) as last_seen,
    avg(c.cluster_confidence) as avg_confidence,
    lm.error_message as sample_error_message,
    count(distinct c.config_version_id) as config_versions_affected,
    array_agg(distinct c.config_version_id) as config_version_ids,
    count(distinct c.scenario_id) as scenarios_affected,
    array_agg(distinct c.scenario_id) as affected_scenarios
from clustered as c
left join latest_message as lm on c.pattern_cluster_id = lm.pattern_cluster_id
group by c.pattern_cluster_id, lm.error_message
