{#- Raw table `tool_usage` (seed section 2, table 9): per-outcome tool statistics.
    A hypertable (chunks of var chunk_intervals) where TimescaleDB is present. execution_time is the outcome's execution_time. -#}
{% macro arc_eval_raw_tool_usage() %}
{{ return({
    "name": "tool_usage",
    "columns": [
        ("usage_id", "uuid NOT NULL DEFAULT gen_random_uuid()"),
        ("outcome_id", "uuid NOT NULL"),
        ("execution_time", "timestamptz NOT NULL"),
        ("tool_name", "text NOT NULL"),
        ("call_count", "integer NOT NULL"),
        ("avg_duration_ms", "real NOT NULL"),
        ("success_rate", "real NOT NULL"),
        ("tool_sequence", "jsonb"),
        ("total_cost_usd", "real DEFAULT 0"),
        ("error_types", "text[]"),
        ("modal_function_calls", "jsonb"),
        ("sandbox_tool_logs", "text"),
        ("created_at", "timestamptz DEFAULT now()"),
    ],
    "primary_key": ["usage_id", "execution_time"],
    "constraints": [
        ("tool_usage_tool_name_check", "CHECK (length(tool_name) <= 100)"),
        ("tool_usage_call_count_check", "CHECK (call_count > 0)"),
        ("tool_usage_avg_duration_ms_check", "CHECK (avg_duration_ms >= 0)"),
        ("tool_usage_success_rate_check", "CHECK (success_rate BETWEEN 0 AND 1)"),
        ("tool_usage_total_cost_usd_check", "CHECK (total_cost_usd >= 0)"),
    ],
    "indexes": [
        ("idx_tool_usage_time", "(execution_time DESC)"),
        ("idx_tool_usage_outcome", "(outcome_id, execution_time)"),
        ("idx_tool_usage_tool_time", "(tool_name, execution_time DESC)"),
        ("idx_tool_usage_created_brin", "USING brin (created_at) WITH (pages_per_range = 16, autosummarize = on)"),
    ],
    "time_column": "execution_time",
    "chunk_interval": arc_eval_chunk_interval("tool_usage"),
    "compression": {
        "segmentby": "tool_name",
        "orderby": "execution_time DESC, usage_id, created_at",
        "after": "7 days",
    },
    "retention": arc_eval_rule("retention")["tool_usage"],
    "audited": false,
}) }}
{% endmacro %}
