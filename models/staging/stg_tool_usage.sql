select
    usage_id,
    outcome_id,
    execution_time,
    tool_name,
    call_count,
    avg_duration_ms,
    success_rate,
    tool_sequence,
    coalesce(total_cost_usd, 0) as total_cost_usd,
    error_types,
    modal_function_calls,
    sandbox_tool_logs,
    created_at
from {{ source('arc_eval_raw', 'tool_usage') }}
