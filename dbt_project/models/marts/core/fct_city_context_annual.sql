-- One row per city and year: the context figures used to divide city totals and to compare
-- peers in that year (int_city_context_annual), with the year each figure describes.

with

context as (

    select * from {{ ref('int_city_context_annual') }}

),

cities as (

    select * from {{ ref('dim_city') }}

)

select
    cast(context.city_id as varchar) as city_id,
    cast(cities.city_name as varchar) as city_name,
    cast(context.context_year as integer) as year,
    cast({{ year_start_date('context.context_year') }} as date) as year_start,
    cast(round(context.population) as bigint) as population,
    cast(context.population_year as integer) as population_year,
    cast(context.population_source as varchar) as population_source,
    cast(context.area_km2 as {{ type_double() }}) as area_km2,
    cast(context.area_year as integer) as area_year,
    cast(context.area_source as varchar) as area_source,
    cast(context.population_density as {{ type_double() }}) as population_density,
    cast(context.population_density_note as varchar) as population_density_note,
    cast(context.gdp_per_capita_ppp as {{ type_double() }}) as gdp_per_capita_ppp,
    cast(context.gdp_year as integer) as gdp_year,
    cast(context.gdp_source as varchar) as gdp_source,
    cast(
        (context.population_year is not null and context.population_year != context.context_year)
        or (context.area_year is not null and context.area_year != context.context_year)
        or (context.gdp_year is not null and context.gdp_year != context.context_year)
        as boolean
    ) as has_figure_from_other_year

from context
left join cities
    on context.city_id = cities.city_id
