"""The seed's own view SQL (sections 3B, 5A, 6A, 6B) over the raw tables, as reference for the models."""

# The seed's section 3B, 5A, 6A and 6B SQL over the raw tables, with its defects fixed:
# round(double precision, int) -> round(numeric, int); ambiguous execution_time/day qualified in
# v_llm_failure_analysis; pending recommendations joined through session_id (not by timestamps) and
# limited to review_status 'pending'; continuous-aggregate time_bucket written as date_trunc (UTC session).
SEED_SQL = {
    "simulation_performance_hourly": """
        SELECT date_trunc('hour', execution_time) AS hour, simulation_id, COUNT(*) AS total_outcomes,
            AVG(reliability_score) AS avg_reliability, AVG(execution_time_ms) AS avg_execution_time,
            SUM(cost_usd) AS total_cost, SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS error_count
        FROM {raw}.outcomes GROUP BY hour, simulation_id""",
    "failure_trends_daily": """
        SELECT date_trunc('day', execution_time) AS day, failure_category, COUNT(*) AS failure_count,
            AVG(cluster_confidence) AS avg_confidence, COUNT(DISTINCT pattern_cluster_id) AS unique_patterns
        FROM {raw}.failure_patterns GROUP BY day, failure_category""",
    "tool_performance_daily": """
        SELECT date_trunc('day', execution_time) AS day, tool_name, AVG(success_rate) AS avg_success_rate,
            AVG(avg_duration_ms) AS avg_duration, SUM(total_cost_usd) AS daily_cost, COUNT(*) AS usage_count
        FROM {raw}.tool_usage GROUP BY day, tool_name""",
    "v_llm_failure_analysis": """
        SELECT date_trunc('day', fp.execution_time) as day, failure_category, COUNT(*) as daily_failures,
            AVG(cluster_confidence) as avg_confidence,
            ARRAY_AGG(DISTINCT error_message) FILTER (WHERE error_message IS NOT NULL) as sample_errors,
            ARRAY_AGG(DISTINCT scenario_id) as affected_scenarios
        FROM {raw}.failure_patterns fp JOIN {raw}.outcomes o ON fp.outcome_id = o.outcome_id
        WHERE fp.execution_time > NOW() - INTERVAL '30 days'
        GROUP BY 1, failure_category""",
    "v_llm_config_performance": """
        SELECT cv.config_id, cv.version_number, cv.parsed_config, date_trunc('day', o.execution_time) as day,
            COUNT(*) as total_executions, AVG(o.reliability_score) as avg_reliability,
            AVG(o.execution_time_ms) as avg_execution_time, SUM(o.cost_usd) as daily_cost,
            COUNT(*) FILTER (WHERE o.status = 'error') as error_count
        FROM {raw}.config_versions cv
        JOIN {raw}.simulations s ON cv.version_id = s.config_version_id
        JOIN {raw}.outcomes o ON s.simulation_id = o.simulation_id
        WHERE o.execution_time > NOW() - INTERVAL '90 days'
        GROUP BY cv.config_id, cv.version_number, cv.parsed_config, day""",
    "v_llm_scenario_trends": """
        SELECT scenario_id, date_trunc('week', execution_time) as week, COUNT(*) as executions,
            AVG(reliability_score) as avg_reliability, STDDEV(reliability_score) as reliability_variance,
            AVG(execution_time_ms) as avg_duration, COUNT(*) FILTER (WHERE status = 'timeout') as timeout_count
        FROM {raw}.outcomes WHERE execution_time > NOW() - INTERVAL '6 months'
        GROUP BY scenario_id, week""",
    "v_dashboard_active_simulations": """
        SELECT s.simulation_id, s.simulation_name, s.status, s.completed_scenarios, s.total_scenarios,
            ROUND((s.completed_scenarios::numeric / s.total_scenarios * 100), 2) as progress_pct,
            EXTRACT(EPOCH FROM NOW() - s.started_at) as runtime_seconds, s.modal_app_id,
            cv.parsed_config->>'model' as model_name, COUNT(o.outcome_id) as outcomes_recorded
        FROM {raw}.simulations s
        JOIN {raw}.config_versions cv ON s.config_version_id = cv.version_id
        LEFT JOIN {raw}.outcomes o ON s.simulation_id = o.simulation_id
        WHERE s.status IN ('pending', 'running')
        GROUP BY s.simulation_id, s.simulation_name, s.status, s.completed_scenarios,
                 s.total_scenarios, s.started_at, s.modal_app_id, cv.parsed_config""",
    "v_dashboard_pending_recommendations": """
        SELECT r.recommendation_id, r.recommendation_type, r.description, r.confidence, r.impact_estimate,
            r.suggested_yaml_changes, lrs.llm_model as generated_by_model, lrs.data_window_start,
            lrs.data_window_end, r.created_at
        FROM {raw}.recommendations r
        JOIN {raw}.llm_recommendation_sessions lrs ON r.session_id = lrs.session_id
        WHERE r.applied = false AND r.review_status = 'pending' AND r.confidence > 0.7
        ORDER BY r.confidence DESC, r.created_at DESC
        LIMIT 10""",
    "v_dashboard_performance_trends": """
        SELECT date_trunc('day', execution_time) as day, COUNT(*) as total_executions,
            AVG(reliability_score) as avg_reliability, AVG(execution_time_ms) as avg_duration_ms,
            SUM(cost_usd) as daily_cost, COUNT(*) FILTER (WHERE status = 'error') as error_count,
            ROUND((COUNT(*) FILTER (WHERE status = 'error')::numeric / COUNT(*) * 100), 2) as error_rate_pct
        FROM {raw}.outcomes WHERE execution_time > NOW() - INTERVAL '30 days'
        GROUP BY day""",
    "v_dashboard_cost_analysis": """
        SELECT date_trunc('day', o.execution_time) as day, cv.parsed_config->>'model' as model,
            COUNT(*) as executions, SUM(o.cost_usd) as total_cost, AVG(o.cost_usd) as avg_cost_per_execution,
            SUM(o.tokens_used) as total_tokens, AVG(o.tokens_used) as avg_tokens_per_execution
        FROM {raw}.outcomes o
        JOIN {raw}.simulations s ON o.simulation_id = s.simulation_id
        JOIN {raw}.config_versions cv ON s.config_version_id = cv.version_id
        WHERE o.execution_time > NOW() - INTERVAL '30 days'
        GROUP BY day, cv.parsed_config->>'model'""",
}
