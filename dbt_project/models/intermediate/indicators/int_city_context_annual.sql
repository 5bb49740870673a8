-- One row per city and year: the city's population, area and GDP per capita (PPP) for that year,
-- for every city of the registry in every year any indicator (air or other) or context
-- observation exists, plus the city's own seed baseline years, so that totals of any year can be
-- divided and peers compared in any year.
--
-- Figures come from context observations of the indicator sources (indicator codes population,
-- area_km2, gdp_per_capita_ppp) and from the cities seed baseline (population of population_year,
-- GDP of gdp_year, and area_km2, which has no year: the registry's boundary, valid every year).
-- For each year the figure is, in order: an observation of that very year (an observation beats
-- the seed for the same year); the seed's area (timeless); the figure of the nearest year
-- available (on a tie, the earlier year). *_year says which year's figure is used (NULL for the
-- seed's timeless area), so a caller can flag figures borrowed from another year.
-- population_density is population / area when it is within the catalogue's plausible range for
-- population_density; else NULL, with population_density_note naming both figures (one of them is
-- a data error that passed each figure's own bounds), so no mart shows or compares it.

with

observations as (

    select * from {{ ref('int_indicator_observations_deduplicated_to_city_annual') }}

),

air_city_years as (

    select * from {{ ref('int_air_stations_aggregated_to_city_annual') }}

),

cities as (

    select * from {{ ref('cities') }}

),

indicators as (

    select * from {{ ref('indicators') }}

),

observed_figures as (

    select
        city_id,
        indicator_code as context_code,
        observation_year as figure_year,
        observed_value as figure_value,
        feed_id as figure_source,
        1 as origin_priority

    from observations
    where
        indicator_code in ('population', 'area_km2', 'gdp_per_capita_ppp')
        and observed_value > 0

),

seed_figures as (

    select
        city_id,
        'population' as context_code,
        cast(population_year as integer) as figure_year,
        cast(population as {{ type_double() }}) as figure_value,
        'cities_seed' as figure_source,
        2 as origin_priority
    from cities
    where population > 0

    union all

    select
        city_id,
        'area_km2' as context_code,
        cast(null as integer) as figure_year,
        cast(area_km2 as {{ type_double() }}) as figure_value,
        'cities_seed' as figure_source,
        2 as origin_priority
    from cities
    where area_km2 > 0

    union all

    select
        city_id,
        'gdp_per_capita_ppp' as context_code,
        cast(gdp_year as integer) as figure_year,
        cast(gdp_per_capita_ppp as {{ type_double() }}) as figure_value,
        'cities_seed' as figure_source,
        2 as origin_priority
    from cities
    where gdp_per_capita_ppp > 0

),

figures as (

    select * from observed_figures
    union all
    select * from seed_figures

),

data_years as (

    select observation_year as context_year from observations
    union
    select measurement_year as context_year from air_city_years

),

-- Every city in every year that has data, plus each city's own baseline years (so a city has
-- context even before the first delivery, without giving every city a row for another's 2011).
city_years as (

    select
        cities.city_id,
        data_years.context_year

    from cities
    cross join data_years

    union

    select
        city_id,
        figure_year as context_year

    from seed_figures
    where figure_year is not null

),

ranked_figures as (

    select
        city_years.city_id,
        city_years.context_year,
        figures.context_code,
        figures.figure_value,
        figures.figure_year,
        figures.figure_source,
        row_number() over (
            partition by city_years.city_id, city_years.context_year, figures.context_code
            order by
                case
                    when figures.figure_year = city_years.context_year then 0
                    when figures.figure_year is null then 1
                    else 2
                end,
                abs(figures.figure_year - city_years.context_year),
                figures.figure_year,
                figures.origin_priority,
                figures.figure_source
        ) as figure_rank

    from city_years
    inner join figures
        on city_years.city_id = figures.city_id

),

chosen_figures as (

    select * from ranked_figures
    where figure_rank = 1

),

context_figures as (

    select
        city_years.city_id,
        city_years.context_year,
        max(case when chosen_figures.context_code = 'population' then chosen_figures.figure_value end)
            as population,
        max(case when chosen_figures.context_code = 'population' then chosen_figures.figure_year end)
            as population_year,
        max(case when chosen_figures.context_code = 'population' then chosen_figures.figure_source end)
            as population_source,
        max(case when chosen_figures.context_code = 'area_km2' then chosen_figures.figure_value end)
            as area_km2,
        max(case when chosen_figures.context_code = 'area_km2' then chosen_figures.figure_year end)
            as area_year,
        max(case when chosen_figures.context_code = 'area_km2' then chosen_figures.figure_source end)
            as area_source,
        max(case when chosen_figures.context_code = 'gdp_per_capita_ppp' then chosen_figures.figure_value end)
            as gdp_per_capita_ppp,
        max(case when chosen_figures.context_code = 'gdp_per_capita_ppp' then chosen_figures.figure_year end)
            as gdp_year,
        max(case when chosen_figures.context_code = 'gdp_per_capita_ppp' then chosen_figures.figure_source end)
            as gdp_source

    from city_years
    left join chosen_figures
        on
            city_years.city_id = chosen_figures.city_id
            and city_years.context_year = chosen_figures.context_year
    group by
        city_years.city_id,
        city_years.context_year

),

-- One row, whatever the catalogue holds (an aggregate without GROUP BY), so the cross join keeps
-- every city-year; no catalogue row means no bounds and every density is kept.
density_bounds as (

    select
        max(plausible_min) as density_min,
        max(plausible_max) as density_max

    from indicators
    where indicator_code = 'population_density'

),

with_density as (

    select
        context_figures.*,
        density_bounds.density_min,
        density_bounds.density_max,
        context_figures.population / nullif(context_figures.area_km2, 0) as derived_density,
        coalesce(
            context_figures.population / nullif(context_figures.area_km2, 0) < density_bounds.density_min
            or context_figures.population / nullif(context_figures.area_km2, 0) > density_bounds.density_max,
            false
        ) as is_density_implausible

    from context_figures
    cross join density_bounds

)

select
    city_id,
    context_year,
    population,
    population_year,
    population_source,
    area_km2,
    area_year,
    area_source,
    gdp_per_capita_ppp,
    gdp_year,
    gdp_source,
    case when not is_density_implausible then derived_density end as population_density,
    case
        when is_density_implausible
            then
                'population density ' || cast(round(derived_density, 2) as varchar)
                || ' per km² (population ' || cast(population as varchar) || ' from ' || population_source
                || ', area ' || cast(area_km2 as varchar) || ' km² from ' || area_source
                || ') is outside the plausible range ' || cast(density_min as varchar) || ' to '
                || cast(density_max as varchar) || ' of the indicator catalogue: left out'
    end as population_density_note

from with_density
