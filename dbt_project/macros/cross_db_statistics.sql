{#
  Cross-database helpers for the benchmarking marts (same rule as cross_db.sql: models stay
  portable; what only DuckDB spells its own way lives here, behind adapter.dispatch, with an
  ANSI / Postgres / Snowflake default). Kept in their own file so the benchmarking layer can be
  reviewed and merged on its own.
#}

{# Continuous (linearly interpolated) quantile, as an aggregate: numpy.percentile's default. #}
{% macro quantile_cont(expression, fraction) -%}
    {{ return(adapter.dispatch('quantile_cont', 'citypeers')(expression, fraction)) }}
{%- endmacro %}

{% macro default__quantile_cont(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__quantile_cont(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}


{% macro natural_log(expression) -%}
    {{ return(adapter.dispatch('natural_log', 'citypeers')(expression)) }}
{%- endmacro %}

{% macro default__natural_log(expression) -%}
    ln({{ expression }})
{%- endmacro %}

{% macro duckdb__natural_log(expression) -%}
    ln({{ expression }})
{%- endmacro %}


{# A delimited list of the group's values, in a stated order (string_agg / listagg). #}
{% macro ordered_string_agg(expression, order_by, separator=', ') -%}
    {{ return(adapter.dispatch('ordered_string_agg', 'citypeers')(expression, order_by, separator)) }}
{%- endmacro %}

{% macro default__ordered_string_agg(expression, order_by, separator) -%}
    listagg({{ expression }}, '{{ separator }}') within group (order by {{ order_by }})
{%- endmacro %}

{% macro duckdb__ordered_string_agg(expression, order_by, separator) -%}
    string_agg({{ expression }}, '{{ separator }}' order by {{ order_by }})
{%- endmacro %}
