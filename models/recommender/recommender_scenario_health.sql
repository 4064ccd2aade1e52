-- Per configuration and scenario over the last var('recommender_scenario_window') (default 30 days): runs,
-- failures, timeouts, mean reliability and the latest simulation. The counts come from the hourly outcome
-- statistics (exact and live: see macros/rollups/live.sql); the latest simulation from one index lookup.
with stats as (
    {{ arc_eval_live_stats(
        'outcome_stats_hourly', 'int_outcomes_enriched', ['version_id', 'scenario_id'],
        arc_eval_outcome_measures(), window=var('recommender_scenario_window'), end=arc_eval_now(),
        daily_rollup='outcome_stats_daily'
    ) }}
),

per_scenario as (
    select
        v.config_id,
        s.scenario_id,
        sum(s.executions)::bigint as executions,
        (sum(s.executions) - sum(s.successes))::bigint as failures,
        sum(s.timeouts)::bigint as timeouts,
        sum(s.reliability_sum) / sum(s.executions) as avg_reliability
    from stats as s
    inner join {{ ref('stg_config_versions') }} as v on s.version_id = v.version_id
    group by v.config_id, s.scenario_id
)

select
    p.config_id,
    p.scenario_id,
    p.executions,
    p.failures,
    p.timeouts,
    p.avg_reliability,
    (
        select o.simulation_id
        from {{ ref('int_outcomes_enriched') }} as o
        where
            o.config_id = p.config_id
            and o.scenario_id = p.scenario_id
            and o.execution_time > {{ arc_eval_now() }} - interval '{{ var("recommender_scenario_window") }}'
            and o.execution_time <= {{ arc_eval_now() }}
        order by o.execution_time desc
        limit 1
    ) as last_simulation_id
from per_scenario as p
