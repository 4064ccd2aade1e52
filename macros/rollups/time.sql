{#- Time helpers shared by the rollup, LLM-input and dashboard models. -#}

{% macro arc_eval_now() -%}
    {#- The reference time of the windowed views. A macro (not a bare now()) so unit tests can pin it. -#}
    now()
{%- endmacro %}


{% macro bucket(width, column) -%}
    {#- Start of the fixed-width bucket holding `column`, in UTC, aligned like TimescaleDB's time_bucket
        (origin Monday 2000-01-03). Renders time_bucket where TimescaleDB is installed (required inside a
        continuous aggregate), else date_bin: both give the same boundaries. -#}
    {%- if arc_eval_rollup_capabilities()['timescaledb'] -%}
        time_bucket(interval '{{ width }}', {{ column }})
    {%- else -%}
        date_bin(interval '{{ width }}', {{ column }}, timestamptz '2000-01-03 00:00:00+00')
    {%- endif -%}
{%- endmacro %}


{% macro same_outcome(row, outcome) -%}
    {#- Join condition of a time-linked row (failure pattern, tool usage) to its outcome: same outcome_id
        and same execution_time. The time equality is written as two inequalities on purpose: PostgreSQL
        multiplies the selectivities of `outcome_id = ` and `execution_time = ` as if independent and
        estimates about one row for the join, which sends the joins above it into nested loops that
        rescan their inner side once per row (quadratic); the inequalities are estimated far less
        selective, so the plan stays on hash joins. Chunk exclusion and the (outcome_id, execution_time)
        indexes still apply. -#}
    {{ row }}.outcome_id = {{ outcome }}.outcome_id
    and {{ row }}.execution_time >= {{ outcome }}.execution_time
    and {{ row }}.execution_time <= {{ outcome }}.execution_time
{%- endmacro %}
