-- Each failure pattern with its outcome's scenario and configuration version (the join failure_patterns ->
-- outcomes -> simulations shared by the failure models). Every failure has its outcome (foreign key).
-- An equality on execution_time (not same_outcome()): the models read this view for a few hours at a time,
-- and TimescaleDB carries a time range through an equality to the outcomes' chunks; the aggregates above
-- it do not mind the join's low row estimate that same_outcome() works around.
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
    o.version_id
from {{ ref('stg_failure_patterns') }} as fp
inner join {{ ref('int_outcomes_enriched') }} as o
    on
        fp.outcome_id = o.outcome_id
        and fp.execution_time = o.execution_time
