-- The metrics the impact ledger can measure, by the name a recommendation's impact_estimate.metric uses.
-- A metric named "<metric>:<tool>" (takes_tool) is measured on that tool's calls only.
select
    metric,
    measure,
    higher_is_better,
    takes_tool,
    description
from (
    values
    ('avg_reliability', 'reliability', true, false, 'mean reliability_score per run'),
    ('reliability', 'reliability', true, false, 'mean reliability_score per run'),
    ('reliability_score', 'reliability', true, false, 'mean reliability_score per run'),
    ('success_rate', 'success_rate', true, false, 'share of runs with status success'),
    ('error_rate', 'failure_rate', false, false, 'share of runs whose status is not success'),
    ('failure_rate', 'failure_rate', false, false, 'share of runs whose status is not success'),
    ('timeout_rate', 'timeout_rate', false, false, 'share of runs with status timeout'),
    ('avg_cost_usd', 'cost_usd', false, false, 'mean cost_usd per run'),
    ('cost_per_run', 'cost_usd', false, false, 'mean cost_usd per run'),
    ('cost_usd', 'cost_usd', false, false, 'mean cost_usd per run'),
    ('avg_execution_time_ms', 'execution_time_ms', false, false, 'mean execution_time_ms per run'),
    ('latency_ms', 'execution_time_ms', false, false, 'mean execution_time_ms per run'),
    ('tool_success_rate', 'tool_success_rate', true, true, 'mean success_rate of the named tool per run using it')
) as m (metric, measure, higher_is_better, takes_tool, description)
