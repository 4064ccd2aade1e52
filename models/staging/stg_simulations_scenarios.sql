select
    simulation_id,
    scenario_id,
    execution_order,
    status,
    modal_call_id,
    modal_execution_logs,
    started_at,
    completed_at,
    coalesce(retry_count, 0) as retry_count
from {{ source('arc_eval_raw', 'simulations_scenarios') }}
