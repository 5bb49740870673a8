with

cities as (

    select * from {{ ref('cities') }}

)

select
    cast(city_id as varchar) as city_id,
    cast(city_name as varchar) as city_name,
    cast(country_name as varchar) as country_name,
    cast(country_iso3 as varchar) as country_iso3,
    cast(region as varchar) as region,
    cast(latitude as {{ type_double() }}) as latitude,
    cast(longitude as {{ type_double() }}) as longitude,
    cast(population as bigint) as population,
    cast(population_year as integer) as population_year,
    cast(area_km2 as {{ type_double() }}) as area_km2,
    cast(population / nullif(area_km2, 0) as {{ type_double() }}) as population_density,
    cast(gdp_per_capita_ppp as {{ type_double() }}) as gdp_per_capita_ppp,
    cast(gdp_year as integer) as gdp_year,
    cast(income_group as varchar) as income_group,
    cast(climate_zone as varchar) as climate_zone

from cities
