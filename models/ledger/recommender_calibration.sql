-- How well the recommender's predictions held, per provider, model and recommendation type, over the
-- measured rows of recommendation_impact_ledger whose metric is measured. absolute_error is in the units of
-- each row's metric (the metrics column lists them).
select
    coalesce(provider, 'unknown') as provider,  -- noqa: RF04
    coalesce(llm_model, 'unknown') as llm_model,
    recommendation_type,
    count(*) as applied,
    count(*) filter (where state = 'measured') as measured,
    count(*) filter (where state = 'awaiting data') as awaiting_data,
    count(sign_correct) as scored,
    count(*) filter (where sign_correct) as sign_right,
    avg(sign_correct::int::double precision) as sign_accuracy,
    avg(absolute_error) as mean_absolute_error,
    count(*) filter (where prediction = 'confirmed') as confirmed,
    count(*) filter (where prediction = 'contradicted') as contradicted,
    avg(confidence) filter (where sign_correct is not null) as mean_confidence,
    avg(confidence) filter (where sign_correct) as mean_confidence_when_right,
    avg(confidence) filter (where not sign_correct) as mean_confidence_when_wrong,
    avg(power(confidence - sign_correct::int, 2)) as brier_score,
    corr(confidence, sign_correct::int::double precision) as confidence_correlation,
    corr(confidence, sign_correct::int::double precision) > 0 as confidence_tracks_accuracy,
    array_agg(distinct metric order by metric) filter (where sign_correct is not null) as metrics
from {{ ref('recommendation_impact_ledger') }}
group by coalesce(provider, 'unknown'), coalesce(llm_model, 'unknown'), recommendation_type
