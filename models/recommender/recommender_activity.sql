-- Per configuration: outcomes and failure patterns in the recommender's window
-- (recommender_window_start(), arc_eval_now()], from the hourly statistics (exact and live: see
-- macros/rollups/live.sql).
with outcomes as (
    select
        v.config_id,
        sum(s.executions)::bigint as outcomes
    from (
        {{ arc_eval_live_stats(
            'outcome_stats_hourly', 'int_outcomes_enriched', ['version_id', 'scenario_id'],
            [('executions', 'count(*)')], start=recommender_window_start(), end=arc_eval_now(),
            daily_rollup='outcome_stats_daily'
        ) }}
    ) as s
    inner join {{ ref('stg_config_versions') }} as v on s.version_id = v.version_id
    group by v.config_id
),

patterns as (
    select
        v.config_id,
        sum(f.failures)::bigint as failure_patterns
    from (
        {{ arc_eval_live_stats(
            'version_failures_hourly', 'int_failures_enriched', ['version_id'],
            arc_eval_version_failure_measures(), start=recommender_window_start(), end=arc_eval_now(),
            daily_rollup='version_failures_daily'
        ) }}
    ) as f
    inner join {{ ref('stg_config_versions') }} as v on f.version_id = v.version_id
    group by v.config_id
)

select
    c.config_id,
    coalesce(o.outcomes, 0) as outcomes,
    coalesce(p.failure_patterns, 0) as failure_patterns
from {{ ref('stg_configurations') }} as c
left join outcomes as o on c.config_id = o.config_id
left join patterns as p on c.config_id = p.config_id
