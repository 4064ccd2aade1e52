-- Each configuration version on each scenario over all history, beside its predecessor (the previous
-- version number of the same configuration) on the same scenario: the per-scenario deltas of the
-- versions page and the cells of the scenario x version matrix.
with cells as (
    select
        config_id,
        config_name,
        version_id,
        version_number,
        scenario_id,
        sum(executions) as executions,
        sum(successes)::double precision / sum(executions) as success_rate,
        sum(reliability_sum) / sum(executions) as mean_reliability,
        sum(cost_usd) / sum(executions) as mean_cost_usd,
        sum(latency_ms_sum) / sum(executions) as mean_latency_ms
    from {{ ref('dashboard_daily_version_scenario') }}
    group by config_id, config_name, version_id, version_number, scenario_id
),

versions as (
    select
        config_id,
        version_id,
        lag(version_id) over (partition by config_id order by version_number) as previous_version_id,
        lag(version_number) over (partition by config_id order by version_number) as previous_version_number
    from {{ ref('stg_config_versions') }}
    where not is_deleted
)

select
    c.config_id,
    c.config_name,
    c.version_id,
    c.version_number,
    v.previous_version_id,
    v.previous_version_number,
    c.scenario_id,
    c.executions,
    c.success_rate,
    c.mean_reliability,
    c.mean_cost_usd,
    c.mean_latency_ms,
    p.executions as previous_executions,
    p.success_rate as previous_success_rate,
    p.mean_reliability as previous_mean_reliability,
    c.mean_reliability - p.mean_reliability as reliability_delta,
    c.success_rate - p.success_rate as success_rate_delta,
    c.mean_cost_usd - p.mean_cost_usd as cost_delta_usd
from cells as c
inner join versions as v on c.version_id = v.version_id
left join cells as p on v.previous_version_id = p.version_id and c.scenario_id = p.scenario_id
