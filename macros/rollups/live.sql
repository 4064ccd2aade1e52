{#-
  Hourly statistics that the windowed and all-history models aggregate instead of raw rows.

  Each `*_stats_hourly` rollup keeps, per UTC hour and grain, additive measures (counts, sums, extremes,
  capped sorted arrays) of an enriched intermediate (`int_*_enriched`), written once here and rendered
  both in the rollup and over raw rows. `arc_eval_live_stats` returns rows at the rollup's grain that
  equal aggregating the intermediate over the window directly: the rollup's whole hours, except the
  hours holding a row created since the rollup's watermark, plus those hours and the window's partial
  first hour computed from the intermediate's rows. So a model over it is exact and shows new rows at
  once, and reads a few hours of raw rows whatever the size of the history.
-#}

{#-
  A measure is (name, expression, merge): `expression` aggregates the enriched rows of one bucket;
  `merge` aggregates the measure's column over the rows of finer buckets (hours) into the value the
  expression gives over their rows together (arc_eval_stats_merge_select builds the daily rollups from
  the hourly ones with it). A merge {'distinct': N} is a sorted set: the distinct elements of the finer
  buckets' arrays (never null), the first N of them (none: all).
-#}

{% macro arc_eval_outcome_measures() %}
    {#- The additive outcome measures, over columns of int_outcomes_enriched. -#}
    {{ return([
        ('executions', 'count(*)', 'sum(executions)::bigint'),
        ('successes', "count(*) filter (where status = 'success')", 'sum(successes)::bigint'),
        ('errors', "count(*) filter (where status = 'error')", 'sum(errors)::bigint'),
        ('timeouts', "count(*) filter (where status = 'timeout')", 'sum(timeouts)::bigint'),
        ('reliability_sum', 'sum(reliability_score::double precision)', 'sum(reliability_sum)'),
        ('reliability_square_sum',
            'sum(reliability_score::double precision * reliability_score::double precision)',
            'sum(reliability_square_sum)'),
        ('duration_sum', 'sum(execution_time_ms::double precision)', 'sum(duration_sum)'),
        ('cost_sum', 'sum(cost_usd::double precision)', 'sum(cost_sum)'),
        ('tokens_sum', 'sum(tokens_used)', 'sum(tokens_sum)::bigint'),
    ]) }}
{% endmacro %}


{% macro arc_eval_failure_measures() %}
    {#- The failure measures, over columns of int_failures_enriched, per hour, cluster and category (the
        versions and scenarios as sorted sets, which a union merges). The latest message of a group is the
        one at its latest time (the smallest of equals); first_messages are the first
        var('llm_sample_errors') distinct messages in sort order, which hold the first of any union of
        groups. -#}
    {%- set samples = var('llm_sample_errors', 5) -%}
    {{ return([
        ('failures', 'count(*)', 'sum(failures)::bigint'),
        ('confidence_sum', 'sum(cluster_confidence::double precision)', 'sum(confidence_sum)'),
        ('confidence_count', 'count(cluster_confidence)', 'sum(confidence_count)::bigint'),
        ('first_seen', 'min(execution_time)', 'min(first_seen)'),
        ('last_seen', 'max(execution_time)', 'max(last_seen)'),
        ('message_time', 'max(execution_time) filter (where error_message is not null)', 'max(message_time)'),
        ('latest_message',
            '(array_agg(error_message order by execution_time desc, error_message asc)'
            ~ ' filter (where error_message is not null))[1]',
            '(array_agg(latest_message order by message_time desc, latest_message asc)'
            ~ ' filter (where latest_message is not null))[1]'),
        ('first_messages',
            '(array_agg(distinct error_message) filter (where error_message is not null))[1:' ~ samples ~ ']',
            {'distinct': samples}),
        ('version_ids', 'array_agg(distinct version_id)', {'distinct': none}),
        ('scenario_ids', 'array_agg(distinct scenario_id)', {'distinct': none}),
    ]) }}
{% endmacro %}


{% macro arc_eval_version_failure_measures() %}
    {#- The failure count per hour and configuration version, over int_failures_enriched (what
        failure_stats_hourly keeps only as a set of versions). -#}
    {{ return([('failures', 'count(*)', 'sum(failures)::bigint')]) }}
{% endmacro %}


{% macro arc_eval_tool_use_measures() %}
    {#- The tool-use measures, over columns of int_tool_usage_enriched, per hour, version and scenario: the
        rows and the sorted set of tools used. -#}
    {{ return([
        ('uses', 'count(*)', 'sum(uses)::bigint'),
        ('tool_names', 'array_agg(distinct tool_name)', {'distinct': none}),
    ]) }}
{% endmacro %}


{% macro arc_eval_tool_measures() %}
    {#- The tool-call measures, over columns of int_tool_usage_enriched, per hour, version and tool. -#}
    {{ return([
        ('uses', 'count(*)', 'sum(uses)::bigint'),
        ('call_count_sum', 'sum(call_count)', 'sum(call_count_sum)::bigint'),
        ('success_rate_sum', 'sum(success_rate::double precision)', 'sum(success_rate_sum)'),
        ('success_rate_count', 'count(success_rate)', 'sum(success_rate_count)::bigint'),
        ('duration_sum', 'sum(avg_duration_ms::double precision)', 'sum(duration_sum)'),
        ('duration_count', 'count(avg_duration_ms)', 'sum(duration_count)::bigint'),
    ]) }}
{% endmacro %}


{% macro arc_eval_measure_merges(measures) %}
    {#- {name: merge} of `measures`: the `merge` config of the rollup that keeps them, which merges the late
        rows' statistics into its stored ones (macros/rollups/rollup.sql). -#}
    {%- set merges = {} -%}
    {%- for measure in measures -%}{%- do merges.update({measure[0]: measure[2]}) -%}{%- endfor -%}
    {{ return(merges) }}
{% endmacro %}


{% macro arc_eval_stats_select(relation, grain, measures, where='', width='1 hour', time_name='hour') -%}
    {#- The hourly (or `width`) aggregate of `relation` at `grain` (the rollups' SQL and the live rows' SQL). -#}
    select
        {{ bucket(width, 'execution_time') }} as {{ time_name }},
        {%- for column in grain %}
        {{ column }},
        {%- endfor %}
        {%- for measure in measures %}
        {{ measure[1] }} as {{ measure[0] }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ relation }}
    {{ where }}
    group by {{ bucket(width, 'execution_time') }}{% for column in grain %}, {{ column }}{% endfor %}
{%- endmacro %}


{% macro arc_eval_stats_merge_select(relation, grain, measures, where='', width='1 day', time_name='day', finer_time='hour') -%}
    {#- The `width` aggregate at `grain` of the finer statistics in `relation` (an hourly rollup, its time
        column `finer_time`), equal to arc_eval_stats_select at `width` over the rows the finer buckets
        hold: the measures' merges over its rows, the sets over the elements of their arrays. -#}
    {%- set sets = measures | selectattr(2, 'mapping') | map(attribute=0) | list -%}
    with finer as (
        select * from {{ relation }}
        {{ where }}
    )

    select
        {{ time_name }},
        {%- for column in grain %}
        {{ column }},
        {%- endfor %}
        {%- for measure in measures %}
        {%- if measure[2] is mapping %}
        (array_agg(distinct {{ measure[0] }}) filter (where {{ measure[0] }} is not null))
        {%- if measure[2]['distinct'] is not none %}[1:{{ measure[2]['distinct'] }}]{% endif %} as {{ measure[0] }}
        {%- else %}
        {{ measure[2] }} as {{ measure[0] }}
        {%- endif %}{{ ',' if not loop.last }}
        {%- endfor %}
    from (
        {%- for branch in [none] + sets %}
        -- {{ 'the finer rows' if branch is none else 'the elements of ' ~ branch }}
        select
            {{ bucket(width, 'f.' ~ finer_time) }} as {{ time_name }},
            {%- for column in grain %}
            f.{{ column }},
            {%- endfor %}
            {%- for measure in measures %}
            {%- if measure[0] in sets %}
            {#- f.x[0]: a null of the element type (a bare null would be text in the first union) #}
            {{ 'element' if branch == measure[0] else 'f.' ~ measure[0] ~ '[0]' }} as {{ measure[0] }}
            {%- else %}
            {{ 'f.' ~ measure[0] if branch is none else 'null' }} as {{ measure[0] }}
            {%- endif %}{{ ',' if not loop.last }}
            {%- endfor %}
        from finer as f
        {%- if branch is not none %}
        cross join lateral unnest(f.{{ branch }}) as u (element)
        {%- endif %}
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    ) as finer_rows
    group by {{ time_name }}{% for column in grain %}, {{ column }}{% endfor %}
{%- endmacro %}


{% macro arc_eval_live_stats(rollup_name, relation_name, grain, measures, window=none, start=none, end=none, daily_rollup=none) -%}
    {#- Rows (hour, grain..., measures...) equal to arc_eval_stats_select over the rows of the model
        `relation_name` with execution_time in (start, end], exact and live, from the rollup model
        `rollup_name`. `start` and `end` are SQL expressions (none: unbounded); `window` (an interval) sets
        start to arc_eval_now() minus it. Whole hours inside the bounds come from the rollup, except hours
        holding a row created since its watermark (a missing watermark: every hour); those, and the
        partial hours at the bounds, are computed from the raw rows.
        With `daily_rollup` (the same statistics per UTC day), whole days inside the bounds whose hours
        hold no row created since that rollup's watermark come from it instead, one row per day (its
        `hour` is the day's start): for models that group by day or coarser, it reads 24 times fewer rows. -#}
    {%- set rollup = ref(rollup_name) -%}
    {%- set relation = ref(relation_name) -%}
    {%- if window is not none -%}
        {%- set start = arc_eval_now() ~ " - interval '" ~ window ~ "'" -%}
    {%- endif -%}
    {#- A relation joined to its outcome also filters the outcome's time (equal to execution_time), so a
        time range excludes outcome chunks instead of scanning every outcome for the join. -#}
    {%- set paired = {'int_failures_enriched': 'outcome_time', 'int_tool_usage_enriched': 'outcome_time'}.get(relation_name) -%}
    {#- The fresh hours come from the staging rows of the same table, without the join to the outcome. -#}
    {%- set fresh_relation = ref({'int_failures_enriched': 'stg_failure_patterns', 'int_tool_usage_enriched': 'stg_tool_usage'}.get(relation_name, relation_name)) -%}
    {%- set names = measures | map(attribute=0) | list -%}
    {%- set columns = ['hour'] + grain + names -%}
    with live_bounds as (
        select
            {%- if start is not none %}
            {{ start }} as window_start,
            {{ bucket('1 hour', start) }} + interval '1 hour' as first_whole_hour,
            {%- else %}
            timestamptz '-infinity' as window_start,
            timestamptz '-infinity' as first_whole_hour,
            {%- endif %}
            {%- if end is not none %}
            {{ end }} as window_end,
            {{ bucket('1 hour', end) }} as end_hour,
            {%- else %}
            timestamptz 'infinity' as window_end,
            timestamptz 'infinity' as end_hour,
            {%- endif %}
            {%- if start is not none %}
            {{ bucket('1 day', start) }} + interval '1 day' as first_whole_day,
            {%- else %}
            timestamptz '-infinity' as first_whole_day,
            {%- endif %}
            {%- if end is not none %}
            {{ bucket('1 day', end) }} as end_day
            {%- else %}
            timestamptz 'infinity' as end_day
            {%- endif %}
    ),

    live_watermark as (
        -- The rollup's watermark and the daily rollup's (each -infinity when missing: every hour fresh).
        select
            coalesce(max(w.source_watermark) filter (where w.rollup_name = '{{ rollup_name }}'), '-infinity')
                as hourly_watermark,
            {%- if daily_rollup is not none %}
            coalesce(max(w.source_watermark) filter (where w.rollup_name = '{{ daily_rollup }}'), '-infinity')
                as daily_watermark
            {%- else %}
            timestamptz 'infinity' as daily_watermark
            {%- endif %}
        from {{ ref('int_rollup_watermarks') }} as w
    ),

    live_fresh as (
        -- The hours holding rows created since either watermark, with their newest creation time: one scan,
        -- through the BRIN index on created_at. Both bounds are parameters, so the range is estimated as
        -- narrow (with constants the planner reads the histogram, with none it assumes a third of the rows,
        -- and a plan costed for millions of fresh rows gets JIT-compiled for seconds).
        select
            {{ bucket('1 hour', 'fresh.execution_time') }} as fresh_hour,
            max(fresh.created_at) as newest_created_at
        from {{ fresh_relation }} as fresh
        where
            fresh.created_at >= (select least(lw.hourly_watermark, lw.daily_watermark) from live_watermark as lw)
            and fresh.created_at <= 'infinity'::timestamptz
        group by {{ bucket('1 hour', 'fresh.execution_time') }}
    ),

    live_fresh_hours as (
        select f.fresh_hour
        from live_fresh as f
        where f.newest_created_at >= (select lw.hourly_watermark from live_watermark as lw)
    ),

    {%- if daily_rollup is not none %}

    live_fresh_days as (
        select distinct {{ bucket('1 day', 'f.fresh_hour') }} as fresh_day
        from live_fresh as f
        where f.newest_created_at >= (select lw.daily_watermark from live_watermark as lw)
    ),
    {%- endif %}

    live_raw_hours as (
        -- The hours read from the raw rows: the window's partial first and last hours, and the fresh whole
        -- hours between them outside the days read whole.
        {%- if start is not none %}
        select {{ bucket('1 hour', 'lb.window_start') }} as raw_hour
        from live_bounds as lb
        union
        {%- endif %}
        {%- if end is not none %}
        select lb.end_hour as raw_hour
        from live_bounds as lb
        union
        {%- endif %}
        select f.fresh_hour as raw_hour
        from live_fresh_hours as f
        where
            f.fresh_hour >= (select lb.first_whole_hour from live_bounds as lb)
            and f.fresh_hour < (select lb.end_hour from live_bounds as lb)
            {%- if daily_rollup is not none %}
            and not {{ arc_eval_live_in_whole_day('f.fresh_hour') }}
            {%- endif %}
    ),

    live_raw_rows as (
        -- Hour by hour, each an index range in one chunk (chunks excluded at run time); the relation is
        -- planned once, whatever the number of hours.
        select raw.*
        from live_raw_hours as h
        cross join lateral (
            select *
            from {{ relation }} as r
            where
                {%- for column in ['execution_time', paired] if column %}
                {{ 'and ' if not loop.first }}r.{{ column }} >= h.raw_hour
                and r.{{ column }} < h.raw_hour + interval '1 hour'
                {%- if start is not none %}
                and r.{{ column }} > (select lb.window_start from live_bounds as lb)
                {%- endif %}
                {%- if end is not none %}
                and r.{{ column }} <= (select lb.window_end from live_bounds as lb)
                {%- endif %}
                {%- endfor %}
            offset 0  -- not pulled up: scanned per hour, not the window joined to the hours
        ) as raw
    )

    {%- if daily_rollup is none %}
    select {{ columns | join(', ') }}
    from {{ rollup }}
    where
        hour >= (select lb.first_whole_hour from live_bounds as lb)
        and hour < (select lb.end_hour from live_bounds as lb)
        and hour not in (select f.fresh_hour from live_fresh_hours as f)
    {%- else %}
    -- Whole hours before the first whole day and from the end day on (each an index range), then those
    -- of the fresh days, day by day.
    select {{ columns | join(', ') }}
    from {{ rollup }}
    where
        hour >= (select lb.first_whole_hour from live_bounds as lb)
        and hour < (select least(lb.end_hour, lb.first_whole_day) from live_bounds as lb)
        and hour not in (select f.fresh_hour from live_fresh_hours as f)
    union all
    select {{ columns | join(', ') }}
    from {{ rollup }}
    where
        hour >= (select greatest(lb.first_whole_hour, lb.first_whole_day, lb.end_day) from live_bounds as lb)
        and hour < (select lb.end_hour from live_bounds as lb)
        and hour not in (select f.fresh_hour from live_fresh_hours as f)
    union all
    select {% for column in columns %}r.{{ column }}{{ ', ' if not loop.last }}{% endfor %}
    from live_fresh_days as d
    inner join {{ rollup }} as r
        on
            r.hour >= d.fresh_day
            and r.hour < d.fresh_day + interval '1 day'
    where
        d.fresh_day >= (select lb.first_whole_day from live_bounds as lb)
        and d.fresh_day < (select lb.end_day from live_bounds as lb)
        and r.hour not in (select f.fresh_hour from live_fresh_hours as f)
    union all
    select day as hour, {{ (grain + names) | join(', ') }}
    from {{ ref(daily_rollup) }}
    where
        day >= (select lb.first_whole_day from live_bounds as lb)
        and day < (select lb.end_day from live_bounds as lb)
        and day not in (select d.fresh_day from live_fresh_days as d)
        {%- endif %}
    union all
    select {{ columns | join(', ') }}
    from ({{ arc_eval_stats_select('live_raw_rows', grain, measures) }}) as live_from_raw
{%- endmacro %}


{% macro arc_eval_live_in_whole_day(hour) -%}
    {#- Whether the hour `hour` lies in a day that arc_eval_live_stats reads whole from the daily rollup. -#}
    ({{ hour }} >= (select lb.first_whole_day from live_bounds as lb)
    and {{ hour }} < (select lb.end_day from live_bounds as lb)
    and {{ bucket('1 day', hour) }} not in (select d.fresh_day from live_fresh_days as d))
{%- endmacro %}
