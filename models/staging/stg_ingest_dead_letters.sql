select
    dead_letter_id,
    target_table,
    record_id,
    payload,
    error_message,
    sqlstate,
    failed_at
from {{ source('arc_eval_raw', 'ingest_dead_letters') }}
