-- One row per applied recommendation whose versions are not soft-deleted: its prediction, the metric's
-- definition (ledger_metrics) and the two versions to compare. A deleted base is replaced by the newest
-- earlier version of the configuration that is not deleted; a deleted produced version drops the row.
with versions as (
    select
        version_id,
        config_id,
        version_number,
        is_deleted
    from {{ ref('stg_config_versions') }}
),

recommendations as (
    select
        recommendation_id,
        session_id,
        config_id,
        recommendation_type,
        confidence::double precision as confidence,
        llm_model_used as llm_model,
        applied_at,
        impact_estimate ->> 'metric' as metric,
        case
            when jsonb_typeof(impact_estimate -> 'expected_delta') = 'number'
                then (impact_estimate ->> 'expected_delta')::double precision
        end as expected_delta,
        -- the version its patch was applied to: approved against (re-based on purpose), else made against
        coalesce(approved_base_version_id, base_version_id) as recommended_base_id,
        applied_version_id
    from {{ ref('stg_recommendations') }}
    where applied and applied_version_id is not null and base_version_id is not null
)

select
    r.recommendation_id,
    r.session_id,
    r.config_id,
    r.recommendation_type,
    r.confidence,
    r.llm_model,
    r.applied_at,
    r.metric,
    r.expected_delta,
    base.version_id as base_version_id,
    base.version_number as base_version_number,
    r.applied_version_id,
    produced.version_number as applied_version_number,
    m.measure,
    m.higher_is_better,
    case when m.takes_tool then nullif(split_part(r.metric, ':', 2), '') end as tool_name,
    coalesce(m.measure is not null and (not m.takes_tool or split_part(r.metric, ':', 2) <> ''), false)
        as metric_measurable
from recommendations as r
inner join versions as produced on r.applied_version_id = produced.version_id and not produced.is_deleted
inner join versions as recommended on r.recommended_base_id = recommended.version_id
cross join
    lateral (
        select
            v.version_id,
            v.version_number
        from versions as v
        where
            v.config_id = recommended.config_id
            and v.version_number <= recommended.version_number
            and not v.is_deleted
        order by v.version_number desc
        limit 1
    ) as base
left join {{ ref('ledger_metrics') }} as m on split_part(r.metric, ':', 1) = m.metric
where base.version_id <> r.applied_version_id
