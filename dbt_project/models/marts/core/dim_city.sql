-- One row per city: the registry (cities seed) with its context. Population, area and GDP per
-- capita are the latest figures of int_city_context_annual (context observations of the feeds,
-- else the seed's baseline), each with the year it describes.

with

cities as (

    select * from {{ ref('cities') }}

),

context as (

    select * from {{ ref('int_city_context_annual') }}

),

latest_context_years as (

    select
        city_id,
        max(context_year) as context_year

    from context
    group by city_id

),

latest_context as (

    select context.*

    from context
    inner join latest_context_years
        on
            context.city_id = latest_context_years.city_id
            and context.context_year = latest_context_years.context_year

)

select
    cast(cities.city_id as varchar) as city_id,
    cast(cities.city_name as varchar) as city_name,
    cast(cities.country_name as varchar) as country_name,
    cast(cities.country_iso3 as varchar) as country_iso3,
    cast(cities.region as varchar) as region,
    cast(cities.latitude as {{ type_double() }}) as latitude,
    cast(cities.longitude as {{ type_double() }}) as longitude,
    cast(round(latest_context.population) as bigint) as population,
    cast(latest_context.population_year as integer) as population_year,
    cast(latest_context.area_km2 as {{ type_double() }}) as area_km2,
    cast(latest_context.population_density as {{ type_double() }}) as population_density,
    cast(latest_context.gdp_per_capita_ppp as {{ type_double() }}) as gdp_per_capita_ppp,
    cast(latest_context.gdp_year as integer) as gdp_year,
    cast(cities.income_group as varchar) as income_group,
    cast(cities.climate_zone as varchar) as climate_zone,
    cast(latest_context.area_year as integer) as area_year,
    cast(latest_context.population_source as varchar) as population_source,
    cast(latest_context.area_source as varchar) as area_source,
    cast(latest_context.gdp_source as varchar) as gdp_source

from cities
left join latest_context
    on cities.city_id = latest_context.city_id
