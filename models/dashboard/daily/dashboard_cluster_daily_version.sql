-- dashboard_cluster_daily without the scenario: what the failure clusters page adds up when no scenario
-- filter is set (a small fraction of the rows).
select
    day,
    pattern_cluster_id,
    failure_category,
    config_id,
    version_id,
    version_number,
    model,
    sum(failures) as failures
from {{ ref('dashboard_cluster_daily') }}
group by day, pattern_cluster_id, failure_category, config_id, version_id, version_number, model
