-- failure_clusters with the configurations whose versions they touched.
select
    fc.pattern_cluster_id,
    fc.failure_category,
    fc.failure_count,
    fc.first_seen,
    fc.last_seen,
    fc.sample_error_message,
    fc.config_version_ids as version_ids,
    fc.affected_scenarios as scenario_ids,
    array(
        select distinct v.config_id
        from {{ ref('stg_config_versions') }} as v
        where v.version_id = any(fc.config_version_ids)
        order by v.config_id
    ) as config_ids
from {{ ref('failure_clusters') }} as fc
