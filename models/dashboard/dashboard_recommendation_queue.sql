-- Every recommendation, whatever its state or confidence (the dashboard filters in plain sight), with
-- its configuration, the version it was written against, the configuration's current version, its
-- session, and, for a pending one, the oldest other pending recommendation with the same configuration,
-- type and patch (duplicate_of), so repeats of one proposal are marked rather than hidden.
with recs as (
    select
        r.*,
        case
            when r.applied then 'applied'
            else r.review_status
        end as state
    from {{ ref('stg_recommendations') }} as r
),

firsts as (
    select distinct on (config_id, recommendation_type, suggested_yaml_changes)
        config_id,
        recommendation_type,
        suggested_yaml_changes,
        recommendation_id as first_id
    from recs
    where state = 'pending'
    order by config_id asc, recommendation_type asc, suggested_yaml_changes asc, created_at asc, recommendation_id asc
)

select
    r.recommendation_id,
    r.state,
    r.recommendation_type,
    r.description,
    r.confidence,
    r.impact_estimate,
    r.suggested_yaml_changes,
    r.created_at,
    r.session_id,
    lrs.llm_model as generated_by_model,
    lrs.provider,
    r.config_id,
    c.name as config_name,
    r.base_version_id,
    bv.version_number as base_version_number,
    c.latest_version_id as current_version_id,
    cur.version_number as current_version_number,
    r.reviewed_by,
    r.reviewed_at,
    r.review_reason,
    r.applied_by,
    r.applied_at,
    r.applied_version_id,
    av.version_number as applied_version_number,
    case
        when r.state = 'pending' and f.first_id <> r.recommendation_id then f.first_id
    end as duplicate_of
from recs as r
left join {{ ref('stg_llm_recommendation_sessions') }} as lrs on r.session_id = lrs.session_id
left join {{ ref('stg_configurations') }} as c on r.config_id = c.config_id
left join {{ ref('stg_config_versions') }} as bv on r.base_version_id = bv.version_id
left join {{ ref('stg_config_versions') }} as cur on c.latest_version_id = cur.version_id
left join {{ ref('stg_config_versions') }} as av on r.applied_version_id = av.version_id
left join firsts as f
    on
        r.config_id is not distinct from f.config_id
        and r.recommendation_type = f.recommendation_type
        and r.suggested_yaml_changes is not distinct from f.suggested_yaml_changes
