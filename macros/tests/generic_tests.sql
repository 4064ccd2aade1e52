{#- Generic data tests of this project (no dbt packages). Each returns the offending rows. -#}

{% test unique_combination(model, columns) %}
    {#- No two rows share the same values of `columns`. -#}
    select {{ columns | join(', ') }}, count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}


{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
    {#- Every non-null value lies within [min_value, max_value] (exclusive bounds when inclusive=false). -#}
    select {{ column_name }}
    from {{ model }}
    where
        false
        {%- if min_value is not none %}
        or {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}
        {%- endif %}
        {%- if max_value is not none %}
        or {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}
        {%- endif %}
{% endtest %}


{% test expression_is_true(model, expression) %}
    {#- `expression` holds on every row. -#}
    select *
    from {{ model }}
    where not coalesce(({{ expression }}), false)
{% endtest %}


{% test relationships_where(model, column_name, to, field, condition='true') %}
    {#- Like `relationships`, restricted to the rows of `model` where `condition` holds. -#}
    select child.{{ column_name }}
    from {{ model }} as child
    left join {{ to }} as parent on child.{{ column_name }} = parent.{{ field }}
    where child.{{ column_name }} is not null and parent.{{ field }} is null and ({{ condition }})
{% endtest %}


{% macro arc_eval_stats_mismatches(rollup, relation, grain, measures, width='1 hour', time_name='hour', since=none, created_before=none) %}
    {#- The groups where the statistics rollup `rollup` differs from arc_eval_stats_select over `relation`
        (the intermediate it summarizes) at `width`: rows missing on either side, or a measure that differs
        (doubles by more than 1e-9 relative; the rest exactly). `since` (SQL, bucket-aligned) limits both
        to the buckets from then on; `created_before` (SQL) counts only the rows created before it (the
        rollup's watermark: rows written during a run may wait for the next). For a singular test. -#}
    {%- set doubles = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(rollup) if column.dtype == 'double precision' -%}
            {%- do doubles.append(column.name) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set conditions = [] -%}
    {%- if since is not none %}{% do conditions.append('execution_time >= ' ~ since) %}{% endif -%}
    {%- if created_before is not none %}{% do conditions.append('created_at < ' ~ created_before) %}{% endif -%}
    select
        '{{ rollup.identifier }}' as rollup_name,
        coalesce(r.{{ time_name }}, w.{{ time_name }}) as bucket
    from (
        select * from {{ rollup }}
        {%- if since is not none %}
        where {{ time_name }} >= {{ since }}
        {%- endif %}
    ) as r
    full outer join (
        {{ arc_eval_stats_select(relation, grain, measures,
                                 'where ' ~ conditions | join(' and ') if conditions else '',
                                 width=width, time_name=time_name) }}
    ) as w
        on
            r.{{ time_name }} = w.{{ time_name }}
            {%- for column in grain %}
            and r.{{ column }} is not distinct from w.{{ column }}
            {%- endfor %}
    where
        r.{{ time_name }} is null
        or w.{{ time_name }} is null
        {%- for measure in measures %}
        {%- if measure[0] in doubles %}
        or abs(r.{{ measure[0] }} - w.{{ measure[0] }}) > 1e-9 * greatest(1, abs(w.{{ measure[0] }}))
        or (r.{{ measure[0] }} is null) <> (w.{{ measure[0] }} is null)
        {%- else %}
        or r.{{ measure[0] }} is distinct from w.{{ measure[0] }}
        {%- endif %}
        {%- endfor %}
{% endmacro %}
