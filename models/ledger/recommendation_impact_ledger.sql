-- One row per applied recommendation: what it predicted (impact_estimate) against what the version it
-- produced did, paired by scenario with its base version (see ledger_scenario_pairs). The verdict is the
-- exact two-sided sign test of config_version_comparison, on the per-scenario differences of the predicted
-- metric; the interval is the distribution-free confidence interval of their median that inverts that test.
with summary as (
    select
        recommendation_id,
        count(*) as paired_scenarios,
        count(metric_difference) as metric_pairs,
        sum(runs) as runs_after,
        sum(base_runs) as base_runs,
        avg(metric_difference) as realised_delta,
        avg(reliability_difference) as reliability_delta,
        avg(success_rate_difference) as success_rate_delta,
        avg(cost_difference) as cost_per_run_delta_usd,
        count(*) filter (where metric_difference > 0) as scenarios_up,
        count(*) filter (where metric_difference < 0) as scenarios_down,
        array_agg(metric_difference order by metric_difference) filter (
            where metric_difference is not null
        ) as sorted_differences
    from {{ ref('ledger_scenario_pairs') }}
    group by recommendation_id
),

tested as (
    select
        a.*,
        c.name as config_name,
        lrs.provider,
        coalesce(s.paired_scenarios, 0) as paired_scenarios,
        coalesce(s.metric_pairs, 0) as metric_pairs,
        coalesce(s.runs_after, 0) as runs_after,
        coalesce(s.base_runs, 0) as base_runs,
        s.realised_delta,
        s.reliability_delta,
        s.success_rate_delta,
        s.cost_per_run_delta_usd,
        coalesce(s.scenarios_up, 0) as scenarios_up,
        coalesce(s.scenarios_down, 0) as scenarios_down,
        s.sorted_differences,
        {{ arc_eval_sign_test_p_value(
            'coalesce(s.scenarios_up, 0) + coalesce(s.scenarios_down, 0)',
            'least(coalesce(s.scenarios_up, 0), coalesce(s.scenarios_down, 0))'
        ) }} as p_value,
        {{ arc_eval_sign_test_ci_rank('coalesce(s.metric_pairs, 0)', var('comparison_alpha', 0.05)) }} as ci_rank
    from {{ ref('ledger_applied_recommendations') }} as a
    left join summary as s on a.recommendation_id = s.recommendation_id
    left join {{ ref('stg_configurations') }} as c on a.config_id = c.config_id
    left join {{ ref('stg_llm_recommendation_sessions') }} as lrs on a.session_id = lrs.session_id
),

classified as (
    select
        *,
        case
            when
                (case when metric_measurable then metric_pairs else paired_scenarios end)
                >= {{ var('ledger_min_pairs') }}
                then 'measured'
            else 'awaiting data'
        end as state,
        metric_measurable and p_value < {{ var('comparison_alpha', 0.05) }} and scenarios_up <> scenarios_down
            as significant
    from tested
)

select
    recommendation_id,
    session_id,
    config_id,
    config_name,
    recommendation_type,
    provider,
    llm_model,
    confidence,
    applied_at,
    base_version_id,
    base_version_number,
    applied_version_id,
    applied_version_number,
    metric,
    metric_measurable,
    expected_delta,
    state,
    paired_scenarios,
    metric_pairs,
    runs_after,
    base_runs,
    case when metric_measurable then realised_delta end as realised_delta,
    case when metric_measurable then sorted_differences[ci_rank] end as ci_low,
    case when metric_measurable then sorted_differences[metric_pairs - ci_rank + 1] end as ci_high,
    reliability_delta,
    success_rate_delta,
    cost_per_run_delta_usd,
    scenarios_up,
    scenarios_down,
    case when metric_measurable then p_value end as p_value,
    'exact two-sided sign test on per-scenario differences of the predicted metric' as test_name,
    {{ var('comparison_alpha', 0.05) }}::double precision as alpha,
    case
        when state <> 'measured' or not metric_measurable then null
        when significant and (scenarios_up > scenarios_down) = higher_is_better then 'improvement'
        when significant then 'regression'
        else 'no_significant_change'
    end as verdict,
    case
        when state <> 'measured' then null
        when not metric_measurable then 'metric not measured'
        when significant and sign(scenarios_up - scenarios_down) = sign(expected_delta) then 'confirmed'
        when significant then 'contradicted'
        else 'not significant'
    end as prediction,
    case
        when state = 'measured' and metric_measurable and expected_delta is not null
            then sign(realised_delta) = sign(expected_delta)
    end as sign_correct,
    case
        when state = 'measured' and metric_measurable then abs(realised_delta - expected_delta)
    end as absolute_error
from classified
