-- Per configuration and scenario over the last var('recommender_scenario_window') (default 30 days): runs,
-- failures, timeouts, mean reliability and the latest simulation.
select
    v.config_id,
    o.scenario_id,
    count(*) as executions,
    count(*) filter (where o.status <> 'success') as failures,
    count(*) filter (where o.status = 'timeout') as timeouts,
    avg(o.reliability_score) as avg_reliability,
    (array_agg(o.simulation_id order by o.execution_time desc))[1] as last_simulation_id
from {{ ref('stg_outcomes') }} as o
inner join {{ ref('stg_simulations') }} as s on o.simulation_id = s.simulation_id
inner join {{ ref('stg_config_versions') }} as v on s.config_version_id = v.version_id
where
    o.execution_time > {{ arc_eval_now() }} - interval '{{ var("recommender_scenario_window") }}'
    and o.execution_time <= {{ arc_eval_now() }}
group by v.config_id, o.scenario_id
