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
