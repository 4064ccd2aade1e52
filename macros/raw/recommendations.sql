{#- Raw table `recommendations` (seed section 2, table 10, plus the contract's review columns):
    LLM-generated improvement suggestions, linked to their session by session_id. -#}
{% macro arc_eval_raw_recommendations() %}
{%- set s = arc_eval_raw_schema_name() -%}
{{ return({
    "name": "recommendations",
    "columns": [
        ("recommendation_id", "uuid NOT NULL DEFAULT gen_random_uuid()"),
        ("source_type", "text NOT NULL"),
        ("source_id", "uuid NOT NULL"),
        ("recommendation_type", "text NOT NULL"),
        ("description", "text NOT NULL"),
        ("suggested_yaml_changes", "text"),
        ("impact_estimate", "jsonb"),
        ("confidence", "real NOT NULL"),
        ("llm_model_used", "text"),
        ("llm_prompt_hash", "text"),
        ("historical_data_window", "interval"),
        ("applied", "boolean DEFAULT false"),
        ("applied_at", "timestamptz"),
        ("applied_by", "uuid"),
        ("feedback_score", "integer"),
        ("created_at", "timestamptz DEFAULT now()"),
        ("session_id", "uuid"),
        ("config_id", "uuid"),
        ("base_version_id", "uuid"),
        ("review_status", "text NOT NULL DEFAULT 'pending'"),
        ("reviewed_by", "uuid"),
        ("reviewed_at", "timestamptz"),
        ("applied_version_id", "uuid"),
    ],
    "primary_key": ["recommendation_id"],
    "constraints": [
        ("recommendations_source_type_check", arc_eval_check_in("source_type", "source_types")),
        ("recommendations_recommendation_type_check", arc_eval_check_in("recommendation_type", "recommendation_types")),
        ("recommendations_description_check", "CHECK (length(description) >= 10)"),
        ("recommendations_confidence_check", "CHECK (confidence BETWEEN 0 AND 1)"),
        ("recommendations_feedback_score_check", "CHECK (feedback_score BETWEEN 1 AND 5)"),
        ("recommendations_review_status_check", arc_eval_check_in("review_status", "review_statuses")),
        ("recommendations_session_id_fkey", "FOREIGN KEY (session_id) REFERENCES " ~ s ~ ".llm_recommendation_sessions (session_id)"),
        ("recommendations_config_id_fkey", "FOREIGN KEY (config_id) REFERENCES " ~ s ~ ".configurations (config_id)"),
        ("recommendations_base_version_id_fkey", "FOREIGN KEY (base_version_id) REFERENCES " ~ s ~ ".config_versions (version_id)"),
        ("recommendations_applied_version_id_fkey", "FOREIGN KEY (applied_version_id) REFERENCES " ~ s ~ ".config_versions (version_id)"),
        ("valid_application", "CHECK ((applied = false AND applied_at IS NULL) OR (applied = true AND applied_at IS NOT NULL))"),
    ],
    "indexes": [
        ("idx_recommendations_impact_gin", "USING gin (impact_estimate) WHERE impact_estimate IS NOT NULL"),
        ("idx_recommendations_pending_confidence", "(applied, confidence DESC, created_at DESC) WHERE applied = false"),
        ("idx_recommendations_session", "(session_id)"),
    ],
    "audited": true,
    "audit_exclude": [],
}) }}
{% endmacro %}
