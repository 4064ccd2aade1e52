-- Simulations with their configuration; active_at is when they started (else were created).
select
    s.simulation_id,
    v.config_id,
    s.config_version_id as version_id,
    s.simulation_name,
    s.status,
    s.overall_score,
    s.started_at,
    coalesce(s.started_at, s.created_at) as active_at
from {{ ref('stg_simulations') }} as s
inner join {{ ref('stg_config_versions') }} as v on s.config_version_id = v.version_id
