-- Per configuration: outcomes and failure patterns in the recommender's window
-- (recommender_window_start(), arc_eval_now()].
with outcomes as (
    select
        v.config_id,
        o.outcome_id,
        o.execution_time
    from {{ ref('stg_outcomes') }} as o
    inner join {{ ref('stg_simulations') }} as s on o.simulation_id = s.simulation_id
    inner join {{ ref('stg_config_versions') }} as v on s.config_version_id = v.version_id
    where o.execution_time > {{ recommender_window_start() }} and o.execution_time <= {{ arc_eval_now() }}
),

patterns as (
    select
        o.config_id,
        count(*) as failure_patterns
    from {{ ref('stg_failure_patterns') }} as fp
    inner join outcomes as o on {{ same_outcome('fp', 'o') }}
    group by o.config_id
)

select
    c.config_id,
    count(o.outcome_id) as outcomes,
    coalesce(max(p.failure_patterns), 0) as failure_patterns
from {{ ref('stg_configurations') }} as c
left join outcomes as o on c.config_id = o.config_id
left join patterns as p on c.config_id = p.config_id
group by c.config_id
