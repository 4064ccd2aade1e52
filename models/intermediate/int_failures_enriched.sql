-- Each failure pattern with its outcome's scenario and configuration version (the join failure_patterns ->
-- outcomes -> simulations shared by the failure models). Every failure has its outcome (foreign key).
-- Joined with same_outcome(): with a plain equality on (outcome_id, execution_time) PostgreSQL estimated one
-- row for this join and planned a rollup's incremental insert as a nested loop over every simulation
-- (50 s at 1M outcomes, against 1 s).
select
    fp.pattern_id,
    fp.outcome_id,
    fp.execution_time,
    fp.failure_type,
    fp.failure_category,
    fp.error_message,
    fp.pattern_cluster_id,
    fp.cluster_confidence,
    fp.created_at,
    o.scenario_id,
    o.version_id,
    -- equal to execution_time (the foreign key); filtering it as well lets a time range exclude outcome chunks
    o.execution_time as outcome_time
from {{ ref('stg_failure_patterns') }} as fp
inner join {{ ref('int_outcomes_enriched') }} as o
    on {{ same_outcome('fp', 'o') }}
