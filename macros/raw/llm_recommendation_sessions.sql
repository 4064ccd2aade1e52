{#- Raw table `llm_recommendation_sessions` (seed section 2, table 11, plus the contract's columns):
    one LLM analysis run. Status 'requested' marks a session asked for but not yet run by the recommender. -#}
{% macro arc_eval_raw_llm_recommendation_sessions() %}
{{ return({
    "name": "llm_recommendation_sessions",
    "columns": [
        ("session_id", "uuid NOT NULL DEFAULT gen_random_uuid()"),
        ("user_id", "uuid NOT NULL"),
        ("analysis_start_time", "timestamptz NOT NULL"),
        ("analysis_end_time", "timestamptz NOT NULL"),
        ("data_window_start", "timestamptz NOT NULL"),
        ("data_window_end", "timestamptz NOT NULL"),
        ("llm_model", "text NOT NULL"),
        ("llm_temperature", "real DEFAULT 0.1"),
        ("prompt_template_version", "text"),
        ("total_outcomes_analyzed", "integer NOT NULL"),
        ("patterns_identified", "integer DEFAULT 0"),
        ("recommendations_generated", "integer DEFAULT 0"),
        ("analysis_cost_usd", "real DEFAULT 0"),
        ("session_status", "text DEFAULT 'completed'"),
        ("error_message", "text"),
        ("created_at", "timestamptz DEFAULT now()"),
        ("config_id", "uuid"),
        ("provider", "text"),
        ("prompt_sha256", "text"),
        ("prompt_tokens", "integer"),
        ("completion_tokens", "integer"),
        ("recommendations_dropped", "integer DEFAULT 0"),
        ("dropped_reasons", "jsonb DEFAULT '[]'"),
    ],
    "primary_key": ["session_id"],
    "constraints": [
        ("llm_recommendation_sessions_total_outcomes_analyzed_check", "CHECK (total_outcomes_analyzed >= 0)"),
        ("llm_recommendation_sessions_analysis_cost_usd_check", "CHECK (analysis_cost_usd >= 0)"),
        ("llm_recommendation_sessions_session_status_check", arc_eval_check_in("session_status", "session_statuses")),
        ("llm_recommendation_sessions_prompt_sha256_check", "CHECK (length(prompt_sha256) = 64)"),
        ("valid_analysis_window", "CHECK (analysis_end_time >= analysis_start_time)"),
        ("valid_data_window", "CHECK (data_window_end >= data_window_start)"),
    ],
    "indexes": [
        ("idx_llm_sessions_status_created", "(session_status, created_at DESC)"),
    ],
    "audited": false,
}) }}
{% endmacro %}
