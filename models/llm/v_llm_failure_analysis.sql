-- Daily failures per category over the last var('llm_failure_window'), for the recommender's prompt.
-- From the hourly failure statistics (exact and live: see macros/rollups/live.sql): the sample errors are
-- the first var('llm_sample_errors') distinct messages in sort order, which each hour keeps. The
-- per-day sets are materialized: the planner estimates one row for them and would recompute them per day.
with stats as (
    {{ arc_eval_live_stats(
        'failure_stats_hourly', 'int_failures_enriched',
        ['pattern_cluster_id', 'failure_category'],
        arc_eval_failure_measures(), var('llm_failure_window'),
        daily_rollup='failure_stats_daily'
    ) }}
),

messages as materialized (
    select
        day,
        failure_category,
        (array_agg(error_message order by error_message))[1:{{ var('llm_sample_errors', 5) }}] as sample_errors
    from (
        select distinct
            s.day,
            s.failure_category,
            m.error_message
        from (
            -- the distinct sets first: most hours repeat one
            select distinct
                date_trunc('day', hour, 'UTC') as day,
                failure_category,
                first_messages
            from stats
        ) as s
        cross join lateral unnest(s.first_messages) as m (error_message)
    ) as distinct_messages
    group by day, failure_category
),

daily as (
    select
        date_trunc('day', hour, 'UTC') as day,
        failure_category,
        sum(failures)::bigint as daily_failures,
        sum(confidence_sum) / nullif(sum(confidence_count), 0) as avg_confidence
    from stats
    group by date_trunc('day', hour, 'UTC'), failure_category
),

scenarios as materialized (
    select
        day,
        failure_category,
        array_agg(scenario_id order by scenario_id) as affected_scenarios
    from (
        select distinct
            s.day,
            s.failure_category,
            sc.scenario_id
        from (
            select distinct
                date_trunc('day', hour, 'UTC') as day,
                failure_category,
                scenario_ids
            from stats
        ) as s
        cross join lateral unnest(s.scenario_ids) as sc (scenario_id)
    ) as distinct_scenarios
    group by day, failure_category
)

select
    d.day,
    d.failure_category,
    d.daily_failures,
    d.avg_confidence,
    m.sample_errors,
    sc.affected_scenarios
from daily as d
left join messages as m on d.day = m.day and d.failure_category = m.failure_category
inner join scenarios as sc on d.day = sc.day and d.failure_category = sc.failure_category
order by d.day desc, d.daily_failures desc
