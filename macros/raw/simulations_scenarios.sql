{#- Raw table `simulations_scenarios` (seed section 2, table 6): which scenarios a simulation runs, and their progress. -#}
{% macro arc_eval_raw_simulations_scenarios() %}
{%- set s = arc_eval_raw_schema_name() -%}
{{ return({
    "name": "simulations_scenarios",
    "columns": [
        ("simulation_id", "uuid NOT NULL"),
        ("scenario_id", "text NOT NULL"),
        ("execution_order", "integer NOT NULL"),
        ("status", "text DEFAULT 'pending'"),
        ("modal_call_id", "text"),
        ("modal_execution_logs", "text"),
        ("started_at", "timestamptz"),
        ("completed_at", "timestamptz"),
        ("retry_count", "integer DEFAULT 0"),
    ],
    "primary_key": ["simulation_id", "scenario_id"],
    "constraints": [
        ("simulations_scenarios_execution_order_check", "CHECK (execution_order > 0)"),
        ("simulations_scenarios_status_check", arc_eval_check_in("status", "scenario_statuses")),
        ("simulations_scenarios_retry_count_check", "CHECK (retry_count >= 0)"),
        ("simulations_scenarios_simulation_id_fkey", "FOREIGN KEY (simulation_id) REFERENCES " ~ s ~ ".simulations (simulation_id) ON DELETE CASCADE"),
        ("simulations_scenarios_scenario_id_fkey", "FOREIGN KEY (scenario_id) REFERENCES " ~ s ~ ".scenarios (scenario_id)"),
        ("valid_execution_timestamps", "CHECK (completed_at IS NULL OR started_at IS NOT NULL)"),
    ],
    "indexes": [
        ("idx_simulations_scenarios_scenario", "(scenario_id)"),
    ],
    "audited": false,
}) }}
{% endmacro %}
