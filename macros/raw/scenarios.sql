{#- Raw table `scenarios` (seed section 2, table 4): test scenarios; rows come from seeds/scenarios.csv (upserted). -#}
{% macro arc_eval_raw_scenarios() %}
{{ return({
    "name": "scenarios",
    "columns": [
        ("scenario_id", "text NOT NULL"),
        ("name", "text NOT NULL"),
        ("task_prompt", "text NOT NULL"),
        ("ground_truth", "jsonb"),
        ("difficulty_level", "text DEFAULT 'medium'"),
        ("tags", "text[]"),
        ("scenario_embedding", "vector(1536)"),
        ("expected_tools", "jsonb"),
        ("modal_function_name", "text"),
        ("is_active", "boolean DEFAULT true"),
        ("estimated_duration_ms", "integer"),
        ("created_at", "timestamptz DEFAULT now()"),
    ],
    "primary_key": ["scenario_id"],
    "constraints": [
        ("scenarios_scenario_id_check", "CHECK (length(scenario_id) <= 100)"),
        ("scenarios_name_check", "CHECK (length(name) >= 3 AND length(name) <= 200)"),
        ("scenarios_task_prompt_check", "CHECK (length(task_prompt) >= 10)"),
        ("scenarios_difficulty_level_check", arc_eval_check_in("difficulty_level", "difficulty_levels")),
        ("scenarios_tags_check", "CHECK (array_length(tags, 1) <= 20)"),
        ("scenarios_estimated_duration_ms_check", "CHECK (estimated_duration_ms > 0)"),
        ("valid_scenario_id", "CHECK (scenario_id ~ '^[a-z0-9_]+$')"),
    ],
    "indexes": [
        ("idx_scenario_embedding_cosine", "USING hnsw (scenario_embedding vector_cosine_ops) WHERE scenario_embedding IS NOT NULL"),
    ],
    "audited": false,
}) }}
{% endmacro %}
