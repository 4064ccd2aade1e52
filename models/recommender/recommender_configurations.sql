-- One row per configuration with a version that is not deleted: its current version (latest_version_id
-- when not deleted, else the highest-numbered version that is not).
select
    c.config_id,
    c.name,
    c.is_active,
    cv.version_id,
    cv.version_number,
    cv.parsed_config as config
from {{ ref('stg_configurations') }} as c
cross join
    lateral (
        select
            v.version_id,
            v.version_number,
            v.parsed_config
        from {{ ref('stg_config_versions') }} as v
        where v.config_id = c.config_id and not v.is_deleted
        order by (v.version_id = c.latest_version_id) desc, v.version_number desc
        limit 1
    ) as cv
