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
    cast(population_year as integer) as population_year

from cities
