-- The ten most confident recommendations (confidence > 0.7) still awaiting review, with their session.
select
    r.recommendation_id,
    r.recommendation_type,
    r.description,
    r.confidence,
    r.impact_estimate,
    r.suggested_yaml_changes,
    lrs.llm_model as generated_by_model,
    lrs.data_window_start,
    lrs.data_window_end,
    r.created_at,
    r.session_id,
    r.config_id,
    r.base_version_id
from {{ ref('stg_recommendations') }} as r
inner join {{ ref('stg_llm_recommendation_sessions') }} as lrs on r.session_id = lrs.session_id
where
    not r.applied
    and r.review_status = 'pending'
    and r.confidence > 0.7
order by r.confidence desc, r.created_at desc, r.recommendation_id asc
limit 10
