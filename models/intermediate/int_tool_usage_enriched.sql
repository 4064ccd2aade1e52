-- Each tool-usage row with its outcome's scenario and configuration version. Every tool-usage row has its
-- outcome (foreign key). Joined with same_outcome(), as int_failures_enriched.
select
    tu.usage_id,
    tu.outcome_id,
    tu.execution_time,
    tu.tool_name,
    tu.call_count,
    tu.success_rate,
    tu.avg_duration_ms,
    tu.created_at,
    o.scenario_id,
    o.version_id,
    -- equal to execution_time (the foreign key); filtering it as well lets a time range exclude outcome chunks
    o.execution_time as outcome_time
from {{ ref('stg_tool_usage') }} as tu
inner join {{ ref('int_outcomes_enriched') }} as o
    on {{ same_outcome('tu', 'o') }}
