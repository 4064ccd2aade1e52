-- Each configuration version against its predecessor in the same configuration, paired by scenario.
-- Means are over the scenarios both versions ran, each scenario weighted equally. The verdict comes from
-- an exact two-sided sign test on the per-scenario differences of mean reliability (ties dropped).
-- Per-scenario statistics come from the hourly outcome statistics (exact and live: macros/rollups/live.sql).
with versions as (
    select
        config_id,
        version_id,
        version_number,
        lag(version_id) over (partition by config_id order by version_number) as previous_version_id,
        lag(version_number) over (partition by config_id order by version_number) as previous_version_number
    from {{ ref('stg_config_versions') }}
    where not is_deleted
),

stats as (
    {{ arc_eval_live_stats(
        'outcome_stats_hourly', 'int_outcomes_enriched', ['version_id', 'scenario_id'],
        arc_eval_outcome_measures(),
        daily_rollup='outcome_stats_daily'
    ) }}
),

scenario_stats as (
    select
        version_id,
        scenario_id,
        sum(executions)::bigint as executions,
        sum(reliability_sum) / sum(executions) as mean_reliability,
        sum(successes) / sum(executions)::double precision as success_rate,
        sum(cost_sum) / sum(executions) as mean_cost_usd,
        sum(duration_sum) / sum(executions) as mean_execution_time_ms
    from stats
    group by version_id, scenario_id
),

paired as (
    select
        v.version_id,
        cur.executions,
        prev.executions as previous_executions,
        cur.mean_reliability,
        prev.mean_reliability as previous_mean_reliability,
        cur.mean_reliability - prev.mean_reliability as reliability_difference,
        cur.success_rate - prev.success_rate as success_rate_difference,
        cur.mean_cost_usd - prev.mean_cost_usd as cost_difference,
        cur.mean_execution_time_ms - prev.mean_execution_time_ms as latency_difference
    from versions as v
    inner join scenario_stats as cur on v.version_id = cur.version_id
    inner join scenario_stats as prev
        on
            v.previous_version_id = prev.version_id
            and cur.scenario_id = prev.scenario_id
),

summary as (
    select
        version_id,
        count(*) as paired_scenarios,
        sum(executions) as executions,
        sum(previous_executions) as previous_executions,
        avg(mean_reliability) as mean_reliability,
        avg(previous_mean_reliability) as previous_mean_reliability,
        avg(reliability_difference) as reliability_delta,
        avg(success_rate_difference) as success_rate_change,
        avg(cost_difference) as cost_change_usd,
        avg(latency_difference) as latency_change_ms,
        count(*) filter (where reliability_difference > 0) as scenarios_improved,
        count(*) filter (where reliability_difference < 0) as scenarios_regressed
    from paired
    group by version_id
),

signs as (
    select
        v.version_id,
        coalesce(sm.scenarios_improved + sm.scenarios_regressed, 0) as untied,
        coalesce(least(sm.scenarios_improved, sm.scenarios_regressed), 0) as rarer
    from versions as v
    left join summary as sm on v.version_id = sm.version_id
),

sign_test as (
    select
        sg.version_id,
        {{ arc_eval_sign_test_p_value('sg.untied', 'sg.rarer') }} as p_value
    from signs as sg
),

tested as (
    select
        v.config_id,
        v.version_id,
        v.version_number,
        v.previous_version_id,
        v.previous_version_number,
        coalesce(sm.paired_scenarios, 0) as paired_scenarios,
        coalesce(sm.executions, 0) as executions,
        coalesce(sm.previous_executions, 0) as previous_executions,
        sm.mean_reliability,
        sm.previous_mean_reliability,
        sm.reliability_delta,
        sm.success_rate_change,
        sm.cost_change_usd,
        sm.latency_change_ms,
        coalesce(sm.scenarios_improved, 0) as scenarios_improved,
        coalesce(sm.scenarios_regressed, 0) as scenarios_regressed,
        st.p_value
    from versions as v
    left join summary as sm on v.version_id = sm.version_id
    inner join sign_test as st on v.version_id = st.version_id
    where v.previous_version_id is not null
)

select
    config_id,
    version_id,
    version_number,
    previous_version_id,
    previous_version_number,
    paired_scenarios,
    executions,
    previous_executions,
    mean_reliability,
    previous_mean_reliability,
    reliability_delta,
    success_rate_change,
    cost_change_usd,
    latency_change_ms,
    scenarios_improved,
    scenarios_regressed,
    p_value,
    'exact two-sided sign test on per-scenario mean reliability differences' as test_name,
    {{ var('comparison_alpha', 0.05) }}::double precision as alpha,
    case
        when p_value < {{ var('comparison_alpha', 0.05) }} and scenarios_regressed > scenarios_improved
            then 'regression'
        when p_value < {{ var('comparison_alpha', 0.05) }} and scenarios_improved > scenarios_regressed
            then 'improvement'
        else 'no_significant_change'
    end as verdict
from tested
