select
    diff_id,
    config_id,
    version_before,
    version_after,
    diff_yaml,
    change_summary,
    impact_prediction,
    coalesce(llm_generated, false) as llm_generated,
    approval_status,
    approved_by,
    created_at
from {{ source('arc_eval_raw', 'config_diffs') }}
