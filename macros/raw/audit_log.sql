{#- Raw table `audit_log` (seed section 2, table 12): row changes of the audited tables, written by triggers.
    Not a hypertable (the seed says so); its 1 year retention is a job on the community license and
    `arc-eval maintain` elsewhere. -#}
{% macro arc_eval_raw_audit_log() %}
{{ return({
    "name": "audit_log",
    "columns": [
        ("log_id", "uuid NOT NULL DEFAULT gen_random_uuid()"),
        ("table_name", "text NOT NULL"),
        ("operation", "text NOT NULL"),
        ("user_id", "uuid"),
        ("old_data", "jsonb"),
        ("new_data", "jsonb"),
        ("ip_address", "inet"),
        ("user_agent", "text"),
        ("modal_call_context", "jsonb"),
        ("timestamp", "timestamptz DEFAULT now()"),
    ],
    "primary_key": ["log_id"],
    "constraints": [
        ("audit_log_operation_check", arc_eval_check_in("operation", "audit_operations")),
    ],
    "indexes": [
        ("idx_audit_log_timestamp_brin", "USING brin (\"timestamp\")"),
        ("idx_audit_log_table_time", "(table_name, \"timestamp\" DESC)"),
    ],
    "retention_column": "timestamp",
    "retention": arc_eval_rule("retention")["audit_log"],
    "audited": false,
}) }}
{% endmacro %}
