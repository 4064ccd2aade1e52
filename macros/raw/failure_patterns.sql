{#- Raw table `failure_patterns` (seed section 2, table 8): structured failures of outcomes.
    A hypertable (chunks of var chunk_intervals) where TimescaleDB is present. execution_time is the outcome's execution_time. -#}
{% macro arc_eval_raw_failure_patterns() %}
{{ return({
    "name": "failure_patterns",
    "columns": [
        ("pattern_id", "uuid NOT NULL DEFAULT gen_random_uuid()"),
        ("outcome_id", "uuid NOT NULL"),
        ("execution_time", "timestamptz NOT NULL"),
        ("failure_type", "text NOT NULL"),
        ("failure_category", "text NOT NULL"),
        ("error_message", "text"),
        ("error_embedding", "vector(1536)"),
        ("pattern_cluster_id", "uuid"),
        ("cluster_confidence", "real"),
        ("similar_failures_count", "integer DEFAULT 0"),
        ("recovery_attempted", "boolean DEFAULT false"),
        ("recovery_successful", "boolean DEFAULT false"),
        ("resolution_steps", "text"),
        ("llm_analysis", "jsonb"),
        ("created_at", "timestamptz DEFAULT now()"),
    ],
    "primary_key": ["pattern_id", "execution_time"],
    "constraints": [
        ("failure_patterns_failure_type_check", "CHECK (length(failure_type) <= 100)"),
        ("failure_patterns_failure_category_check", arc_eval_check_in("failure_category", "failure_categories")),
        ("failure_patterns_error_message_check", "CHECK (length(error_message) <= 10000)"),
        ("failure_patterns_cluster_confidence_check", "CHECK (cluster_confidence BETWEEN 0 AND 1)"),
        ("failure_patterns_similar_failures_count_check", "CHECK (similar_failures_count >= 0)"),
        ("valid_recovery", "CHECK (NOT recovery_successful OR recovery_attempted = true)"),
    ],
    "indexes": [
        ("idx_failure_patterns_time", "(execution_time DESC)"),
        ("idx_failure_patterns_cluster_time", "(pattern_cluster_id, execution_time DESC) WHERE pattern_cluster_id IS NOT NULL"),
        ("idx_failure_patterns_outcome", "(outcome_id, execution_time)"),
        ("idx_failure_patterns_category_time", "(failure_category, execution_time DESC)"),
        ("idx_failure_patterns_error_embedding_cosine", "USING hnsw (error_embedding vector_cosine_ops) WHERE error_embedding IS NOT NULL"),
        ("idx_failure_patterns_created_brin", "USING brin (created_at) WITH (pages_per_range = 16, autosummarize = on)"),
    ],
    "time_column": "execution_time",
    "chunk_interval": arc_eval_chunk_interval("failure_patterns"),
    "compression": {
        "segmentby": "failure_category",
        "orderby": "execution_time DESC, pattern_id, created_at",
        "after": "14 days",
    },
    "retention": arc_eval_rule("retention")["failure_patterns"],
    "audited": false,
}) }}
{% endmacro %}
