-- Each outcome with its simulation's configuration version: the join outcomes -> simulations ->
-- config_versions that the dashboard and LLM-input models share. Every outcome has a simulation and every
-- simulation a version (foreign keys), so the inner joins keep every outcome.
select
    o.outcome_id,
    o.simulation_id,
    o.scenario_id,
    o.execution_time,
    o.status,
    o.reliability_score,
    o.execution_time_ms,
    o.tokens_used,
    o.cost_usd,
    o.created_at,
    s.config_version_id as version_id,
    cv.config_id,
    cv.version_number,
    cv.model,
    cv.is_deleted as version_is_deleted
from {{ ref('stg_outcomes') }} as o
inner join {{ ref('stg_simulations') }} as s on o.simulation_id = s.simulation_id
inner join {{ ref('stg_config_versions') }} as cv on s.config_version_id = cv.version_id
