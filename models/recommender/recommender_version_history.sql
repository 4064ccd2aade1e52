-- Every version that is not deleted, numbered from the newest (recency 1) within its configuration.
select
    config_id,
    version_id,
    version_number,
    parsed_config as config,
    generated_by,
    created_at,
    row_number() over (partition by config_id order by version_number desc) as recency
from {{ ref('stg_config_versions') }}
where not is_deleted
