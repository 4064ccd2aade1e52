select
    version_id,
    config_id,
    version_number,
    raw_yaml,
    parsed_config,
    config_hash,
    generated_by,
    modal_deployment_id,
    coalesce(is_deleted, false) as is_deleted,
    created_at,
    parsed_config ->> 'model' as model,
    (parsed_config ->> 'temperature')::numeric as temperature,
    embedding is not null as has_embedding
from {{ source('arc_eval_raw', 'config_versions') }}
