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
