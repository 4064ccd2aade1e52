select
    pattern_id,
    outcome_id,
    execution_time,
    failure_type,
    failure_category,
    error_message,
    pattern_cluster_id,
    cluster_confidence,
    coalesce(similar_failures_count, 0) as similar_failures_count,
    coalesce(recovery_attempted, false) as recovery_attempted,
    coalesce(recovery_successful, false) as recovery_successful,
    resolution_steps,
    llm_analysis,
    created_at,
    error_embedding is not null as has_embedding
from {{ source('arc_eval_raw', 'failure_patterns') }}
