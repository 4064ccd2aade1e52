-- Daily execution totals over the last var('dashboard_window').
-- Whole hours come from the rollup simulation_performance_hourly; the raw outcomes give the partial first
-- hour of the window and every hour holding an outcome written since the rollup's watermark (found
-- through the BRIN index on created_at), so the view is exact and shows new rows at once. Where the
-- rollup is a real-time continuous aggregate it has no watermark row and is read as it is.
with bounds as (
    select
        {{ arc_eval_now() }} - interval '{{ var("dashboard_window") }}' as window_start,
        {{ bucket('1 hour', arc_eval_now() ~ " - interval '" ~ var("dashboard_window") ~ "'") }}
        + interval '1 hour' as first_whole_hour
),

watermark as (
    select source_watermark
    from {{ ref('int_rollup_watermarks') }}
    where rollup_name = 'simulation_performance_hourly'
),

fresh_hours as (
    select distinct {{ bucket('1 hour', 'o.execution_time') }} as fresh_hour
    from {{ ref('stg_outcomes') }} as o
    -- No condition on execution_time: the BRIN index on created_at alone reads a few block ranges per
    -- chunk, where adding the time index would AND in a bitmap of the whole window.
    where
        o.created_at >= (select w.source_watermark from watermark as w)
        -- A bounded range: PostgreSQL then estimates it as narrow (a half-open one with an unknown bound
        -- is estimated at a third of the rows, which made the plan look costly enough to be JIT-compiled).
        and o.created_at <= 'infinity'::timestamptz
),

from_rollup as (
    select
        date_trunc('day', r.hour, 'UTC') as day,
        sum(r.total_outcomes) as executions,
        sum(r.avg_reliability * r.total_outcomes) as reliability_sum,
        sum(r.avg_execution_time * r.total_outcomes) as duration_sum,
        sum(r.total_cost) as cost_usd,
        sum(r.error_count) as errors
    from {{ ref('simulation_performance_hourly') }} as r
    where
        r.hour >= (select b.first_whole_hour from bounds as b)
        and r.hour not in (select f.fresh_hour from fresh_hours as f)
    group by date_trunc('day', r.hour, 'UTC')
),

raw_rows as (
    -- The window's partial first hour, then the fresh whole hours.
    select
        o.execution_time,
        o.reliability_score,
        o.execution_time_ms,
        o.cost_usd,
        o.status
    from {{ ref('stg_outcomes') }} as o
    where
        o.execution_time > (select b.window_start from bounds as b)
        and o.execution_time < (select b.first_whole_hour from bounds as b)
    union all
    select
        o.execution_time,
        o.reliability_score,
        o.execution_time_ms,
        o.cost_usd,
        o.status
    from {{ ref('stg_outcomes') }} as o
    where
        o.execution_time >= (select b.first_whole_hour from bounds as b)
        -- From the earliest fresh hour on (usually the last hour or so), as a bounded range for the
        -- same estimation reason as above.
        and o.execution_time >= (select min(f.fresh_hour) from fresh_hours as f)
        and o.execution_time <= 'infinity'::timestamptz
        and {{ bucket('1 hour', 'o.execution_time') }} in (select f.fresh_hour from fresh_hours as f)
),

from_raw as (
    select
        date_trunc('day', execution_time, 'UTC') as day,
        count(*) as executions,
        sum(reliability_score::double precision) as reliability_sum,
        sum(execution_time_ms::double precision) as duration_sum,
        sum(cost_usd::double precision) as cost_usd,
        count(*) filter (where status = 'error') as errors
    from raw_rows
    group by date_trunc('day', execution_time, 'UTC')
),

days as (
    select
        day,
        sum(executions) as executions,
        sum(reliability_sum) as reliability_sum,
        sum(duration_sum) as duration_sum,
        sum(cost_usd) as cost_usd,
        sum(errors) as errors
    from (
        select * from from_rollup
        union all
        select * from from_raw
    ) as parts
    group by day
)

select
    day,
    executions::bigint as total_executions,
    reliability_sum / executions as avg_reliability,
    duration_sum / executions as avg_duration_ms,
    cost_usd as daily_cost,
    errors::bigint as error_count,
    round(errors::numeric / executions * 100, 2) as error_rate_pct
from days
where executions > 0
order by day desc
