select
    config_id,
    name,
    user_id,
    latest_version_id,
    coalesce(is_active, true) as is_active,
    modal_app_id,
    coalesce(sandbox_config, '{}'::jsonb) as sandbox_config,
    created_at,
    updated_at
from {{ source('arc_eval_raw', 'configurations') }}
