{#- Raw table `config_diffs` (seed section 2, table 3): YAML changes between two versions of a configuration. -#}
{% macro arc_eval_raw_config_diffs() %}
{%- set s = arc_eval_raw_schema_name() -%}
{{ return({
    "name": "config_diffs",
    "columns": [
        ("diff_id", "uuid NOT NULL DEFAULT gen_random_uuid()"),
        ("config_id", "uuid NOT NULL"),
        ("version_before", "uuid NOT NULL"),
        ("version_after", "uuid NOT NULL"),
        ("diff_yaml", "text NOT NULL"),
        ("change_summary", "jsonb"),
        ("impact_prediction", "jsonb"),
        ("llm_generated", "boolean DEFAULT false"),
        ("approval_status", "text DEFAULT 'pending'"),
        ("approved_by", "uuid"),
        ("created_at", "timestamptz DEFAULT now()"),
    ],
    "primary_key": ["diff_id"],
    "constraints": [
        ("config_diffs_diff_yaml_check", "CHECK (length(diff_yaml) <= 524288)"),
        ("config_diffs_approval_status_check", arc_eval_check_in("approval_status", "approval_statuses")),
        ("config_diffs_config_id_fkey", "FOREIGN KEY (config_id) REFERENCES " ~ s ~ ".configurations (config_id) ON DELETE CASCADE"),
        ("config_diffs_version_before_fkey", "FOREIGN KEY (version_before) REFERENCES " ~ s ~ ".config_versions (version_id)"),
        ("config_diffs_version_after_fkey", "FOREIGN KEY (version_after) REFERENCES " ~ s ~ ".config_versions (version_id)"),
        ("different_versions", "CHECK (version_before != version_after)"),
    ],
    "indexes": [
        ("idx_config_diffs_llm_generated", "(llm_generated, created_at DESC) WHERE llm_generated = true"),
    ],
    "audited": true,
    "audit_exclude": [],
}) }}
{% endmacro %}
