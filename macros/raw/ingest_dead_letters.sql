{#- Raw table `ingest_dead_letters` (contract addition): rows the loader could not write, with the database's error. -#}
{% macro arc_eval_raw_ingest_dead_letters() %}
{{ return({
    "name": "ingest_dead_letters",
    "columns": [
        ("dead_letter_id", "uuid NOT NULL DEFAULT gen_random_uuid()"),
        ("target_table", "text NOT NULL"),
        ("record_id", "uuid"),
        ("payload", "jsonb NOT NULL"),
        ("error_message", "text NOT NULL"),
        ("sqlstate", "text"),
        ("failed_at", "timestamptz NOT NULL DEFAULT now()"),
    ],
    "primary_key": ["dead_letter_id"],
    "constraints": [],
    "indexes": [
        ("idx_ingest_dead_letters_table_time", "(target_table, failed_at DESC)"),
    ],
    "audited": false,
}) }}
{% endmacro %}
