{#- Raw table `config_versions` (seed section 2, table 2): immutable YAML snapshots with embeddings. -#}
{% macro arc_eval_raw_config_versions() %}
{%- set s = arc_eval_raw_schema_name() -%}
{{ return({
    "name": "config_versions",
    "columns": [
        ("version_id", "uuid NOT NULL DEFAULT gen_random_uuid()"),
        ("config_id", "uuid NOT NULL"),
        ("version_number", "integer NOT NULL"),
        ("raw_yaml", "text NOT NULL"),
        ("parsed_config", "jsonb NOT NULL"),
        ("config_hash", "text NOT NULL"),
        ("embedding", "vector(1536)"),
        ("generated_by", "text DEFAULT 'manual'"),
        ("modal_deployment_id", "text"),
        ("is_deleted", "boolean DEFAULT false"),
        ("created_at", "timestamptz DEFAULT now()"),
    ],
    "primary_key": ["version_id"],
    "constraints": [
        ("config_versions_version_number_check", "CHECK (version_number > 0)"),
        ("config_versions_raw_yaml_check", "CHECK (length(raw_yaml) <= 1048576)"),
        ("config_versions_config_hash_check", "CHECK (length(config_hash) = 64)"),
        ("config_versions_generated_by_check", arc_eval_check_in("generated_by", "generated_by")),
        ("config_versions_config_id_fkey", "FOREIGN KEY (config_id) REFERENCES " ~ s ~ ".configurations (config_id) ON DELETE CASCADE"),
        ("config_versions_config_id_version_number_key", "UNIQUE (config_id, version_number)"),
        ("valid_parsed_config", "CHECK (parsed_config ? 'model' AND parsed_config ? 'temperature' AND (parsed_config ->> 'temperature')::numeric BETWEEN 0 AND 2)"),
    ],
    "indexes": [
        ("idx_config_versions_config_version", "(config_id, version_number DESC)"),
        ("idx_config_embedding_cosine", "USING hnsw (embedding vector_cosine_ops) WHERE embedding IS NOT NULL"),
        ("idx_config_versions_parsed_gin", "USING gin (parsed_config)"),
    ],
    "audited": true,
    "audit_exclude": ["embedding"],
}) }}
{% endmacro %}
