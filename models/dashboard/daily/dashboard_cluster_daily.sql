-- Failures per UTC day, failure cluster, configuration version and scenario (clustered failures only).
select
    date_trunc('day', fp.execution_time, 'UTC') as day,
    fp.pattern_cluster_id,
    fp.failure_category,
    cv.config_id,
    s.config_version_id as version_id,
    cv.version_number,
    cv.model,
    o.scenario_id,
    count(*) as failures
from {{ ref('stg_failure_patterns') }} as fp
inner join {{ ref('stg_outcomes') }} as o
    on
        {{ same_outcome('fp', 'o') }}
inner join {{ ref('stg_simulations') }} as s on o.simulation_id = s.simulation_id
inner join {{ ref('stg_config_versions') }} as cv on s.config_version_id = cv.version_id
where fp.pattern_cluster_id is not null
group by
    date_trunc('day', fp.execution_time, 'UTC'),
    fp.pattern_cluster_id,
    fp.failure_category,
    cv.config_id,
    s.config_version_id,
    cv.version_number,
    cv.model,
    o.scenario_id
