{% macro recommender_window_start() -%}
    {#- Start of the recommender's data window: arc_eval_now() minus the interval the recommender sets for its
        transaction (set_config('arc_eval.recommender_window', ..., true)), else var('recommender_window'). -#}
    ({{ arc_eval_now() }} - coalesce(
        nullif(current_setting('arc_eval.recommender_window', true), '')::interval,
        interval '{{ var("recommender_window") }}'
    ))
{%- endmacro %}
