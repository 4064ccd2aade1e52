-- Per configuration version and tool: its usage in the recommender's window.
-- From the hourly tool statistics (exact and live: see macros/rollups/live.sql).
with stats as (
    {{ arc_eval_live_stats(
        'tool_stats_hourly', 'int_tool_usage_enriched', ['version_id', 'tool_name'],
        arc_eval_tool_measures(), start=recommender_window_start(), end=arc_eval_now()
    ) }}
)

select
    v.config_id,
    s.version_id,
    s.tool_name,
    sum(s.uses)::bigint as usage_count,
    sum(s.call_count_sum) as call_count,
    sum(s.success_rate_sum) / nullif(sum(s.success_rate_count), 0) as avg_success_rate,
    sum(s.duration_sum) / nullif(sum(s.duration_count), 0) as avg_duration_ms
from stats as s
inner join {{ ref('stg_config_versions') }} as v on s.version_id = v.version_id
group by v.config_id, s.version_id, s.tool_name
