-- Per configuration version and tool: its usage in the recommender's window.
select
    v.config_id,
    s.config_version_id as version_id,
    t.tool_name,
    count(*) as usage_count,
    sum(t.call_count) as call_count,
    avg(t.success_rate) as avg_success_rate,
    avg(t.avg_duration_ms) as avg_duration_ms
from {{ ref('stg_tool_usage') }} as t
inner join {{ ref('stg_outcomes') }} as o on {{ same_outcome('t', 'o') }}
inner join {{ ref('stg_simulations') }} as s on o.simulation_id = s.simulation_id
inner join {{ ref('stg_config_versions') }} as v on s.config_version_id = v.version_id
where t.execution_time > {{ recommender_window_start() }} and t.execution_time <= {{ arc_eval_now() }}
group by v.config_id, s.config_version_id, t.tool_name
