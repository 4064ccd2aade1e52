-- dashboard_latency_daily summed over scenarios: what the overview reads when no scenario filter is set.
select
    day,
    config_id,
    version_id,
    model,
    latency_bucket,
    latency_upper_ms,
    sum(executions) as executions
from {{ ref('dashboard_latency_daily') }}
group by day, config_id, version_id, model, latency_bucket, latency_upper_ms
