-- One row per station, pollutant and local calendar day. A day counts for the annual mean only
-- with at least var('min_valid_hours_per_day') valid hours (DESIGN.md completeness rules).

with

readings as (

    select * from {{ ref('int_air_readings_unioned') }}

),

flagged as (

    select
        station_key,
        source_name,
        station_id,
        city_id,
        pollutant,
        local_date,
        case
            when is_valid and concentration is not null then concentration
        end as valid_concentration

    from readings

),

aggregated as (

    select
        station_key,
        source_name,
        station_id,
        city_id,
        pollutant,
        local_date,
        count(*) as reported_hour_count,
        count(valid_concentration) as valid_hour_count,
        avg(valid_concentration) as daily_mean_concentration

    from flagged
    group by
        station_key,
        source_name,
        station_id,
        city_id,
        pollutant,
        local_date

)

select
    station_key,
    source_name,
    station_id,
    city_id,
    pollutant,
    local_date,
    reported_hour_count,
    valid_hour_count,
    daily_mean_concentration,
    valid_hour_count >= {{ var('min_valid_hours_per_day') }} as is_valid_day

from aggregated
