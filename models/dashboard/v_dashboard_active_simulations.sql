-- Simulations still pending or running, newest first, with progress and the outcomes recorded so far.
-- The outcomes are counted per simulation (an index range each on uncompressed chunks), not by joining
-- every outcome to the few active simulations.
select
    s.simulation_id,
    s.simulation_name,
    s.status,
    s.completed_scenarios,
    s.total_scenarios,
    round(s.completed_scenarios::numeric / s.total_scenarios * 100, 2) as progress_pct,
    extract(epoch from {{ arc_eval_now() }} - s.started_at)::double precision as runtime_seconds,
    s.modal_app_id,
    cv.model as model_name,
    oc.outcomes_recorded,
    s.config_version_id,
    s.created_at,
    s.started_at
from {{ ref('stg_simulations') }} as s
inner join {{ ref('stg_config_versions') }} as cv on s.config_version_id = cv.version_id
cross join
    lateral (
        select count(*) as outcomes_recorded
        from {{ ref('stg_outcomes') }} as o
        where o.simulation_id = s.simulation_id
    ) as oc
where s.status in ('pending', 'running')
order by s.created_at desc
