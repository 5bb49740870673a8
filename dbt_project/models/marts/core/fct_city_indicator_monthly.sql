-- One row per city, air-quality indicator and month: the city's monthly mean of the indicator's
-- pollutant, with the monthly completeness rule applied and shown. Flagged months are kept (as
-- flagged years are in fct_city_indicator_annual) and left out of the impact estimates.
-- indicator_code names the annual indicator whose pollutant this is (no2_annual_mean's monthly
-- series is the city's monthly NO2 mean): practices target catalogue indicators, and their
-- effect is estimated on the monthly series behind them.

with

city_months as (

    select * from {{ ref('int_air_stations_aggregated_to_city_monthly') }}

),

cities as (

    select * from {{ ref('dim_city') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

)

select
    cast(city_months.city_id as varchar) as city_id,
    cast(cities.city_name as varchar) as city_name,
    cast(indicators.indicator_code as varchar) as indicator_code,
    cast(city_months.pollutant as varchar) as pollutant,
    cast(city_months.month_start as date) as month_start,
    cast(city_months.measurement_year as integer) as year,
    cast(city_months.measurement_month as integer) as month,
    cast(city_months.monthly_mean_concentration as {{ type_double() }}) as value,
    cast(indicators.canonical_unit as varchar) as unit,
    cast(city_months.station_count as integer) as station_count,
    cast(city_months.stations_meeting_rule as integer) as stations_meeting_rule,
    cast(city_months.best_station_valid_day_count as integer) as valid_day_count,
    cast(city_months.days_in_month as integer) as days_in_month,
    cast(city_months.valid_day_share as {{ type_double() }}) as valid_day_share,
    cast(city_months.meets_completeness_rule as boolean) as meets_completeness_rule,
    cast(
        case
            when
                city_months.monthly_mean_concentration < indicators.plausible_min
                or city_months.monthly_mean_concentration > indicators.plausible_max
                then 'implausible_value'
            when city_months.meets_completeness_rule then 'ok'
            else 'below_completeness_rule'
        end
        as varchar
    ) as quality_flag,
    cast(
        case
            when
                city_months.monthly_mean_concentration < indicators.plausible_min
                or city_months.monthly_mean_concentration > indicators.plausible_max
                then
                    'value ' || cast(city_months.monthly_mean_concentration as varchar) || ' '
                    || indicators.canonical_unit || ' is outside the plausible range '
                    || cast(indicators.plausible_min as varchar) || ' to '
                    || cast(indicators.plausible_max as varchar)
                    || ' of the indicator catalogue (a data error: check the feed)'
                    || coalesce('; ' || city_months.completeness_issue, '')
            else city_months.completeness_issue
        end
        as varchar
    ) as quality_note

from city_months
inner join indicators
    on city_months.pollutant || '_annual_mean' = indicators.indicator_code
left join cities
    on city_months.city_id = cities.city_id
-- A city-month without a single valid station-day has no value to show (typically the few hours
-- of a new month, local time, that a UTC-bounded interval delivers before the next one).
where city_months.monthly_mean_concentration is not null
