select
    log_id,
    table_name,
    operation,
    user_id,
    old_data,
    new_data,
    ip_address,
    user_agent,
    modal_call_context,
    timestamp
from {{ source('arc_eval_raw', 'audit_log') }}
