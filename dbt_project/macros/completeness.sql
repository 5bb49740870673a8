{#
  Text helpers for the completeness notes shown to users, e.g. "62% valid days (rule: 75%)".
  Percentages are floored, never rounded, so a share that fails a rule can never print as the
  rule's own figure (74.6% prints "74%", not "75%").
#}

{% macro percent_text(share_expression) -%}
    cast(cast(floor(({{ share_expression }}) * 100) as integer) as varchar)
{%- endmacro %}

{% macro rule_percent(var_name) -%}
    {{- ((var(var_name) | float) * 100) | round | int -}}
{%- endmacro %}
