{#- Statistics shared by the models that compare two configuration versions paired by scenario. -#}

{% macro arc_eval_sign_test_p_value(untied, rarer) -%}
    {#- Two-sided exact sign test: 2 * P(X <= rarer) for X ~ Binomial(untied, 1/2), capped at 1, where
        `untied` counts the pairs that changed and `rarer` the pairs of the less frequent sign. 1 when no
        pair changed. A scalar subquery: both arguments are SQL expressions of the outer row. -#}
    (
        select
            least(
                1.0,
                2 * sum(factorial(({{ untied }})::bigint) / (factorial(k.k) * factorial(({{ untied }})::bigint - k.k)))
                / power(2::numeric, ({{ untied }})::bigint)
            )::double precision
        from generate_series(0::bigint, ({{ rarer }})::bigint) as k (k)
    )
{%- endmacro %}


{% macro arc_eval_sign_test_ci_rank(pairs, alpha) -%}
    {#- The largest rank j with P(X <= j - 1) <= alpha / 2 for X ~ Binomial(pairs, 1/2): the j-th smallest
        and the j-th largest of `pairs` paired differences bound a distribution-free confidence interval
        of level at least 1 - alpha for their median (the interval that inverts the sign test). Null
        when there are too few pairs for any such interval (fewer than 6 at alpha = 0.05). -#}
    (
        select max(j.j)
        from generate_series(1::bigint, ({{ pairs }})::bigint) as j (j)
        where
            (
                select sum(factorial(({{ pairs }})::bigint) / (factorial(i.i) * factorial(({{ pairs }})::bigint - i.i)))
                from generate_series(0::bigint, j.j - 1) as i (i)
            ) / power(2::numeric, ({{ pairs }})::bigint)
            <= ({{ alpha }})::numeric / 2
    )
{%- endmacro %}
