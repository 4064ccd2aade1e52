{#- Post-hook of the `scenarios` seed: upserts the seed rows into the raw scenarios table.

    Inserts new scenario_ids and updates changed ones; never deletes (outcomes keep their foreign key).
    A row whose values are unchanged is not touched; when name or task_prompt change, the stored
    scenario_embedding is cleared because it no longer describes the scenario. -#}
{% macro arc_eval_upsert_scenarios(seed_relation=none) %}
{%- set source = seed_relation if seed_relation is not none else this -%}
{%- set s = arc_eval_raw_schema_name() -%}
{%- set updated = ["name", "task_prompt", "ground_truth", "difficulty_level", "tags", "expected_tools",
                   "modal_function_name", "is_active", "estimated_duration_ms"] -%}
insert into {{ s }}.scenarios as t (scenario_id, {{ updated | join(", ") }})
select
    scenario_id,
    name,
    task_prompt,
    ground_truth::jsonb,
    difficulty_level,
    tags::text[],
    expected_tools::jsonb,
    modal_function_name,
    coalesce(is_active::boolean, true),
    estimated_duration_ms::integer
from {{ source }}
on conflict (scenario_id) do update set
    {% for column in updated -%}
    {{ column }} = excluded.{{ column }},
    {% endfor -%}
    scenario_embedding = case
        when (t.name, t.task_prompt) is distinct from (excluded.name, excluded.task_prompt) then null
        else t.scenario_embedding
    end
where ({% for column in updated %}t.{{ column }}{{ ", " if not loop.last }}{% endfor %})
    is distinct from ({% for column in updated %}excluded.{{ column }}{{ ", " if not loop.last }}{% endfor %})
{% endmacro %}


{#- `dbt run-operation arc_eval_upsert_scenarios_from --args '{schema: s, identifier: t}'`: the same upsert
    from another relation with the seed's columns (e.g. a curated copy of the scenarios), committed. -#}
{% macro arc_eval_upsert_scenarios_from(schema, identifier) %}
    {%- set relation = adapter.get_relation(database=target.database, schema=schema, identifier=identifier) -%}
    {%- if relation is none -%}
        {{ exceptions.raise_compiler_error("arc_eval_upsert_scenarios_from: relation " ~ schema ~ "." ~ identifier ~ " not found") }}
    {%- endif -%}
    {% do adapter.execute(arc_eval_upsert_scenarios(relation), auto_begin=true) %}
    {% do adapter.commit() %}
    {% do log("arc-eval: upserted scenarios from " ~ relation, info=True) %}
{% endmacro %}
