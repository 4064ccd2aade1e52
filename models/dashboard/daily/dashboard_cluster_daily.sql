{{ config(
    materialized='rollup',
    time_column='day',
    bucket_width='1 day',
    grain=['day', 'pattern_cluster_id', 'failure_category', 'version_id', 'scenario_id'],
) }}
-- depends_on: {{ source('arc_eval_raw', 'failure_patterns') }}
-- Failures per UTC day, failure cluster, configuration version and scenario (clustered failures only).
-- A rollup (incremental: a run recomputes the days with failures ingested since the last one).
with clustered as (
    select *
    from {{ ref('int_failures_enriched') }}
    where pattern_cluster_id is not null
)

select
    {{ bucket('1 day', 'execution_time') }} as day,
    f.pattern_cluster_id,
    f.failure_category,
    cv.config_id,
    f.version_id,
    cv.version_number,
    cv.model,
    f.scenario_id,
    count(*) as failures
from clustered as f
inner join {{ ref('stg_config_versions') }} as cv on f.version_id = cv.version_id
{{ rollup_where('execution_time', ['outcome_time']) }}
group by
    {{ bucket('1 day', 'execution_time') }},
    f.pattern_cluster_id,
    f.failure_category,
    cv.config_id,
    f.version_id,
    cv.version_number,
    cv.model,
    f.scenario_id
