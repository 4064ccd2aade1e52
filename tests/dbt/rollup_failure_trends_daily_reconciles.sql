-- failure_trends_daily holds exactly the raw failure_patterns' counts per category.
with rollup_totals as (
    select
        failure_category,
        sum(failure_count) as failures
    from {{ ref('failure_trends_daily') }}
    group by failure_category
),

raw_totals as (
    select
        failure_category,
        count(*) as failures
    from {{ source('arc_eval_raw', 'failure_patterns') }}
    group by failure_category
)

select
    coalesce(r.failure_category, w.failure_category) as failure_category,
    r.failures as rollup_failures,
    w.failures as raw_failures
from rollup_totals as r
full outer join raw_totals as w on r.failure_category = w.failure_category
where r.failures is distinct from w.failures
