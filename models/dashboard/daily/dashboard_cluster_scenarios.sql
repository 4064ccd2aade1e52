-- Which scenarios each failure cluster affected on each version, and on which days first and last:
-- the "affected scenarios" of the failure clusters page, filtered without reading the daily rows.
select
    pattern_cluster_id,
    config_id,
    version_id,
    model,
    scenario_id,
    min(day) as first_day,
    max(day) as last_day,
    sum(failures) as failures
from {{ ref('dashboard_cluster_daily') }}
group by pattern_cluster_id, config_id, version_id, model, scenario_id
