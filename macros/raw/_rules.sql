{#- The raw rules (dbt var `raw_rules` in dbt_project.yml): enums and retention windows, defined once. -#}

{#- The values of one enum; `failure_categories` is the error categories and the failure-only ones. -#}
{% macro arc_eval_rule(name) %}
    {%- set rules = var("raw_rules") -%}
    {%- if name == "failure_categories" -%}
        {{ return(rules["error_categories"] + rules["failure_extra_categories"]) }}
    {%- endif -%}
    {%- if name not in rules -%}
        {{ exceptions.raise_compiler_error("raw_rules in dbt_project.yml has no '" ~ name ~ "'") }}
    {%- endif -%}
    {{ return(rules[name]) }}
{% endmacro %}

{#- The values of enum `name` as SQL literals: 'a', 'b' (for IN lists in constraints and functions). -#}
{% macro arc_eval_rule_literals(name) %}
    {%- set quoted = [] -%}
    {%- for value in arc_eval_rule(name) -%}
        {%- do quoted.append("'" ~ (value | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {{ return(quoted | join(", ")) }}
{% endmacro %}

{#- A CHECK constraint allowing `column` to hold only the values of enum `name`. -#}
{% macro arc_eval_check_in(column, name) %}
    {{ return("CHECK (" ~ column ~ " IN (" ~ arc_eval_rule_literals(name) ~ "))") }}
{% endmacro %}
