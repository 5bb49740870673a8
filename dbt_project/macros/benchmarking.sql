{#
  Rules and display text of the benchmarking marts (models/marts/benchmarking/), in one place so
  that the SQL, the unit tests and the docs name the same bands.
#}

{#
  Population size class (OECD functional-urban-area bands). Lower bounds are inclusive: 200 000
  residents is 200k_500k, 1 500 000 is over_1500k. No population (NULL, or not positive): unknown.
#}
{% macro population_size_class(population) -%}
    case
        when {{ population }} is null or {{ population }} <= 0 then 'unknown'
        when {{ population }} < 50000 then 'under_50k'
        when {{ population }} < 200000 then '50k_200k'
        when {{ population }} < 500000 then '200k_500k'
        when {{ population }} < 1500000 then '500k_1500k'
        else 'over_1500k'
    end
{%- endmacro %}

{% macro population_size_class_label(size_class) -%}
    case {{ size_class }}
        when 'under_50k' then 'under 50k'
        when '50k_200k' then '50-200k'
        when '200k_500k' then '200-500k'
        when '500k_1500k' then '0.5-1.5M'
        when 'over_1500k' then 'over 1.5M'
        else 'unknown size'
    end
{%- endmacro %}

{# 3332035 -> '3.3M', 807693 -> '808k', 950 -> '950': for the reasons shown beside a peer. #}
{% macro compact_number(expression) -%}
    case
        when {{ expression }} >= 1000000 then cast(round({{ expression }} / 1000000.0, 1) as varchar) || 'M'
        when {{ expression }} >= 1000 then cast(cast(round({{ expression }} / 1000.0, 0) as bigint) as varchar) || 'k'
        else cast(cast(round({{ expression }}, 0) as bigint) as varchar)
    end
{%- endmacro %}

{# A value for a sentence: one decimal, e.g. 9.8 or 14.0. #}
{% macro value_text(expression) -%}
    cast(round({{ expression }}, 1) as varchar)
{%- endmacro %}

{#
  Sort key of a value in its indicator's direction: smaller is better. NULL for direction 'none'
  (not rankable).
#}
{% macro better_first_key(value, direction) -%}
    case {{ direction }}
        when 'lower_is_better' then {{ value }}
        when 'higher_is_better' then -({{ value }})
    end
{%- endmacro %}

{# A short label of an indicator for a sentence: the pollutant's formula for air quality
   (NO2, PM2.5, PM10), the indicator's name otherwise. #}
{% macro indicator_short_label(pollutant, indicator_name) -%}
    case {{ pollutant }}
        when 'pm25' then 'PM2.5'
        when 'pm10' then 'PM10'
        when 'no2' then 'NO2'
        else {{ indicator_name }}
    end
{%- endmacro %}

{# A signed whole percentage for a sentence: -15%, +3%. #}
{% macro signed_percent_text(expression) -%}
    case when {{ expression }} > 0 then '+' else '' end
    || cast(cast(round({{ expression }}, 0) as integer) as varchar) || '%'
{%- endmacro %}
