{#
  Small cross-database helpers. The design rule: SQL in models stays portable; anything that only
  DuckDB understands lives here, behind adapter.dispatch, with a portable default.
#}

{% macro year_start_date(year_expression) -%}
    {{ return(adapter.dispatch('year_start_date', 'citypeers')(year_expression)) }}
{%- endmacro %}

{% macro default__year_start_date(year_expression) -%}
    cast(cast({{ year_expression }} as varchar(4)) || '-01-01' as date)
{%- endmacro %}

{% macro duckdb__year_start_date(year_expression) -%}
    make_date(cast({{ year_expression }} as integer), 1, 1)
{%- endmacro %}


{# dbt.type_float() is single precision on DuckDB (FLOAT = REAL); concentrations need double. #}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'citypeers')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}


{# The distinct values of a text column, sorted and joined by ', ' (string_agg / listagg). #}
{% macro list_distinct(column_name) -%}
    {{ return(dbt.listagg('distinct ' ~ column_name, "', '", 'order by ' ~ column_name)) }}
{%- endmacro %}


{# The first day of a date's calendar month, as a date (month series: fct_city_indicator_monthly). #}
{% macro month_start_date(date_expression) -%}
    {{ return(adapter.dispatch('month_start_date', 'citypeers')(date_expression)) }}
{%- endmacro %}

{% macro default__month_start_date(date_expression) -%}
    cast({{ dbt.date_trunc('month', date_expression) }} as date)
{%- endmacro %}


{# The number of days (28-31) of the month that starts on a date. #}
{% macro days_in_month(month_start_expression) -%}
    {{ return(adapter.dispatch('days_in_month', 'citypeers')(month_start_expression)) }}
{%- endmacro %}

{% macro default__days_in_month(month_start_expression) -%}
    cast(extract(day from {{ dbt.last_day(month_start_expression, 'month') }}) as integer)
{%- endmacro %}


{#
  One row per element of a delimited text column, as a select-list expression (a set-returning
  function). The default is Postgres's form; warehouses that unnest in FROM (BigQuery's UNNEST,
  Snowflake's LATERAL FLATTEN) need a variant of their own.
#}
{% macro split_to_rows(expression, delimiter) -%}
    {{ return(adapter.dispatch('split_to_rows', 'citypeers')(expression, delimiter)) }}
{%- endmacro %}

{% macro default__split_to_rows(expression, delimiter) -%}
    unnest(string_to_array({{ expression }}, '{{ delimiter }}'))
{%- endmacro %}

{% macro duckdb__split_to_rows(expression, delimiter) -%}
    unnest(string_split({{ expression }}, '{{ delimiter }}'))
{%- endmacro %}


{#
  One row per element of a list (array) column, as a select-list expression: DuckDB's and
  Postgres's unnest. Landing manifests list their payloads (stg_landing__fetches).
#}
{% macro list_to_rows(expression) -%}
    {{ return(adapter.dispatch('list_to_rows', 'citypeers')(expression)) }}
{%- endmacro %}

{% macro default__list_to_rows(expression) -%}
    unnest({{ expression }})
{%- endmacro %}


{# The n-th '/'-separated part of a path counted from its end (1 = the file name). #}
{% macro path_segment_from_end(expression, position) -%}
    {{ return(adapter.dispatch('path_segment_from_end', 'citypeers')(expression, position)) }}
{%- endmacro %}

{% macro default__path_segment_from_end(expression, position) -%}
    split_part({{ expression }}, '/', -{{ position }})
{%- endmacro %}


{#
  An ISO 8601 text with a UTC offset ('2026-12-06T02:00:00+00:00') as a naive UTC timestamp, the
  warehouse's convention. A plain cast to timestamp would drop the offset instead of applying it.
#}
{% macro utc_timestamp(expression) -%}
    {{ return(adapter.dispatch('utc_timestamp', 'citypeers')(expression)) }}
{%- endmacro %}

{% macro default__utc_timestamp(expression) -%}
    cast(cast({{ expression }} as timestamp with time zone) at time zone 'UTC' as timestamp)
{%- endmacro %}
