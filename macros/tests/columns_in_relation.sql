{#- Overrides dbt-postgres' get_columns_in_relation so that array and extension columns report a usable
    type ('text[]', 'vector') instead of information_schema's 'ARRAY' / 'USER-DEFINED'. dbt's unit tests
    cast fixture values to these types; with 'ARRAY' they fail on any model whose inputs hold an array. -#}
{% macro postgres__get_columns_in_relation(relation) -%}
  {% call statement('get_columns_in_relation', fetch_result=True) %}
      select
          column_name,
          case data_type
              when 'ARRAY' then ltrim(udt_name, '_') || '[]'
              when 'USER-DEFINED' then udt_name
              else data_type
          end as data_type,
          character_maximum_length,
          numeric_precision,
          numeric_scale
      from {{ relation.information_schema('columns') }}
      where table_name = '{{ relation.identifier }}'
        {% if relation.schema %}
        and table_schema = '{{ relation.schema }}'
        {% endif %}
      order by ordinal_position
  {% endcall %}
  {% set table = load_result('get_columns_in_relation').table %}
  {{ return(sql_convert_columns_in_relation(table)) }}
{% endmacro %}
