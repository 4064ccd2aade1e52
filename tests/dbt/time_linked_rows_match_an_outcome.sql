-- Every failure pattern and tool usage row names an outcome with the same (outcome_id, execution_time),
-- which the models' time-aware joins rely on.
select
    'failure_patterns' as source_table,
    fp.outcome_id,
    fp.execution_time
from {{ ref('stg_failure_patterns') }} as fp
left join {{ ref('stg_outcomes') }} as o
    on
        fp.outcome_id = o.outcome_id
        and fp.execution_time = o.execution_time
where o.outcome_id is null

union all

select
    'tool_usage' as source_table,
    tu.outcome_id,
    tu.execution_time
from {{ ref('stg_tool_usage') }} as tu
left join {{ ref('stg_outcomes') }} as o
    on
        tu.outcome_id = o.outcome_id
        and tu.execution_time = o.execution_time
where o.outcome_id is null
