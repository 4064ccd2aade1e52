-- Every statistics rollup (tag live_stats: the hourly ones over the enriched rows, the daily ones merged
-- from the hourly ones) holds exactly the aggregate of the enriched rows at its width: the rows created
-- before the hourly rollup's watermark (rows written during the run wait for the next one), in the
-- buckets of the last var('rollup_reconcile_window') (default 7 days: late rows arrive up to three days
-- late; the whole history of a busy year is minutes of reading).
{%- set outcome_grain = ['version_id', 'scenario_id'] %}
{%- set failure_grain = ['pattern_cluster_id', 'failure_category'] %}
{%- set checks = [
    ('outcome_stats_hourly', 'int_outcomes_enriched', outcome_grain, arc_eval_outcome_measures(), '1 hour'),
    ('outcome_stats_daily', 'int_outcomes_enriched', outcome_grain, arc_eval_outcome_measures(), '1 day'),
    ('failure_stats_hourly', 'int_failures_enriched', failure_grain, arc_eval_failure_measures(), '1 hour'),
    ('failure_stats_daily', 'int_failures_enriched', failure_grain, arc_eval_failure_measures(), '1 day'),
    ('version_failures_hourly', 'int_failures_enriched', ['version_id'], arc_eval_version_failure_measures(), '1 hour'),
    ('version_failures_daily', 'int_failures_enriched', ['version_id'], arc_eval_version_failure_measures(), '1 day'),
    ('tool_use_hourly', 'int_tool_usage_enriched', outcome_grain, arc_eval_tool_use_measures(), '1 hour'),
    ('tool_use_daily', 'int_tool_usage_enriched', outcome_grain, arc_eval_tool_use_measures(), '1 day'),
    ('tool_stats_hourly', 'int_tool_usage_enriched', ['version_id', 'tool_name'], arc_eval_tool_measures(), '1 hour'),
] %}
{%- set since = bucket('1 day', "now() - interval '" ~ var('rollup_reconcile_window', '7 days') ~ "'") %}
{%- for rollup, relation, grain, measures, width in checks %}
    {{ arc_eval_stats_mismatches(
        ref(rollup), ref(relation), grain, measures, width, 'hour' if width == '1 hour' else 'day',
        since=since,
        created_before="(select w.source_watermark from " ~ ref(rollup).schema
            ~ ".arc_eval_rollup_state as w where w.rollup_name = '" ~ rollup | replace('_daily', '_hourly') ~ "')",
    ) }}
    {{ 'union all' if not loop.last }}
{%- endfor %}
