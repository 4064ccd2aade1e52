{#- Raw table `configurations` (seed section 2, table 1): configuration metadata, one row per agent configuration. -#}
{% macro arc_eval_raw_configurations() %}
{%- set s = arc_eval_raw_schema_name() -%}
{{ return({
    "name": "configurations",
    "columns": [
        ("config_id", "uuid NOT NULL DEFAULT gen_random_uuid()"),
        ("name", "text NOT NULL"),
        ("user_id", "uuid NOT NULL"),
        ("latest_version_id", "uuid"),
        ("is_active", "boolean DEFAULT true"),
        ("modal_app_id", "text"),
        ("sandbox_config", "jsonb DEFAULT '{}'"),
        ("created_at", "timestamptz DEFAULT now()"),
        ("updated_at", "timestamptz DEFAULT now()"),
    ],
    "primary_key": ["config_id"],
    "constraints": [
        ("configurations_name_check", "CHECK (length(name) >= 3 AND length(name) <= 100)"),
        ("valid_name", "CHECK (name ~ '^[a-zA-Z0-9_\\-\\s]+$')"),
        ("valid_timestamps", "CHECK (updated_at >= created_at)"),
        ("fk_latest_version", "FOREIGN KEY (latest_version_id) REFERENCES " ~ s ~ ".config_versions (version_id) DEFERRABLE INITIALLY DEFERRED"),
    ],
    "indexes": [],
    "audited": true,
    "audit_exclude": [],
}) }}
{% endmacro %}
