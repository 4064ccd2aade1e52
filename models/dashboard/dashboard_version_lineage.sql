-- Each configuration version with its YAML, the diff that made it, the recommendation it was applied
-- from (with the predicted impact), and its measured effect: the paired comparison with its predecessor.
with made_by as (
    select distinct on (applied_version_id)
        applied_version_id as version_id,
        recommendation_id,
        description as recommendation_description,
        impact_estimate as predicted_impact,
        confidence as recommendation_confidence,
        applied_by,
        applied_at
    from {{ ref('stg_recommendations') }}
    where applied_version_id is not null
    order by applied_version_id asc, applied_at asc, recommendation_id asc
),

diffs as (
    select distinct on (version_after)
        version_after as version_id,
        version_before,
        diff_yaml,
        approval_status,
        approved_by,
        llm_generated
    from {{ ref('stg_config_diffs') }}
    order by version_after asc, created_at desc
)

select
    v.config_id,
    c.name as config_name,
    v.version_id,
    v.version_number,
    v.version_id = c.latest_version_id as is_current,
    v.model,
    v.temperature,
    v.generated_by,
    v.created_at,
    v.raw_yaml,
    d.version_before as diff_from_version_id,
    d.diff_yaml,
    d.approval_status,
    d.approved_by,
    m.recommendation_id,
    m.recommendation_description,
    m.predicted_impact,
    m.recommendation_confidence,
    m.applied_by,
    m.applied_at,
    cmp.previous_version_number,
    cmp.paired_scenarios,
    cmp.executions,
    cmp.previous_executions,
    cmp.reliability_delta,
    cmp.success_rate_change,
    cmp.cost_change_usd,
    cmp.latency_change_ms,
    cmp.scenarios_improved,
    cmp.scenarios_regressed,
    cmp.p_value,
    cmp.alpha,
    cmp.test_name,
    cmp.verdict
from {{ ref('stg_config_versions') }} as v
inner join {{ ref('stg_configurations') }} as c on v.config_id = c.config_id
left join diffs as d on v.version_id = d.version_id
left join made_by as m on v.version_id = m.version_id
left join {{ ref('dashboard_version_comparison') }} as cmp on v.version_id = cmp.version_id
where not v.is_deleted
