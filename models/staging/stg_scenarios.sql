select
    scenario_id,
    name,
    task_prompt,
    ground_truth,
    difficulty_level,
    coalesce(tags, '{}'::text[]) as tags,
    expected_tools,
    modal_function_name,
    coalesce(is_active, true) as is_active,
    estimated_duration_ms,
    created_at,
    scenario_embedding is not null as has_embedding
from {{ source('arc_eval_raw', 'scenarios') }}
