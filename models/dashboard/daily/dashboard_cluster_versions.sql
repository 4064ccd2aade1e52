-- Each failure cluster on each configuration version that ran: its failures per 100 executions,
-- beside the predecessor version's rate, and whether the version shrank the cluster (a lower rate).
with executions as (
    select
        config_id,
        version_id,
        version_number,
        sum(executions) as executions
    from {{ ref('dashboard_daily_version_scenario') }}
    group by config_id, version_id, version_number
),

versions as (
    select
        config_id,
        version_id,
        version_number,
        executions,
        lag(version_id) over (partition by config_id order by version_number) as previous_version_id
    from executions
),

clusters as (
    select distinct pattern_cluster_id
    from {{ ref('dashboard_cluster_daily') }}
),

failures as (
    select
        pattern_cluster_id,
        version_id,
        sum(failures) as failures
    from {{ ref('dashboard_cluster_daily') }}
    group by pattern_cluster_id, version_id
),

rates as (
    select
        cl.pattern_cluster_id,
        v.config_id,
        v.version_id,
        v.version_number,
        v.previous_version_id,
        v.executions,
        coalesce(f.failures, 0) as failures,
        100.0 * coalesce(f.failures, 0) / v.executions as failures_per_100
    from clusters as cl
    cross join versions as v
    left join failures as f on cl.pattern_cluster_id = f.pattern_cluster_id and v.version_id = f.version_id
)

select
    r.pattern_cluster_id,
    r.config_id,
    r.version_id,
    r.version_number,
    r.executions,
    r.failures,
    r.failures_per_100,
    p.failures_per_100 as previous_failures_per_100,
    coalesce(r.failures_per_100 < p.failures_per_100, false) as shrank
from rates as r
left join rates as p
    on
        r.pattern_cluster_id = p.pattern_cluster_id
        and r.previous_version_id = p.version_id
where r.failures > 0 or p.failures > 0
