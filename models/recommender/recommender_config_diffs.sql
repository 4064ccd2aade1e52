-- The configuration diffs the recommender may cite (newest first when read).
select
    diff_id,
    config_id,
    version_before,
    version_after,
    llm_generated,
    approval_status,
    created_at
from {{ ref('stg_config_diffs') }}
