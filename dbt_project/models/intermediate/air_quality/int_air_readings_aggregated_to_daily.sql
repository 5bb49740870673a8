-- One row per station, pollutant and local calendar day: the feed-day rows of a station-day
-- added up (a day can come from more than one feed). A day counts for the annual mean only with
-- at least var('min_valid_hours_per_day') valid hours (DESIGN.md completeness rules). A table over
-- the incremental feed-day model: it never reads hourly readings itself.

with

feed_days as (

    select * from {{ ref('int_air_readings_aggregated_to_feed_days') }}

),

aggregated as (

    select
        station_key,
        source_name,
        station_id,
        city_id,
        pollutant,
        local_date,
        sum(reported_hour_count) as reported_hour_count,
        sum(valid_hour_count) as valid_hour_count,
        sum(valid_concentration_sum) as valid_concentration_sum,
        max(rebuilt_at) as rebuilt_at

    from feed_days
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
    cast(reported_hour_count as bigint) as reported_hour_count,
    cast(valid_hour_count as bigint) as valid_hour_count,
    valid_concentration_sum / nullif(valid_hour_count, 0) as daily_mean_concentration,
    valid_hour_count >= {{ var('min_valid_hours_per_day') }} as is_valid_day,
    rebuilt_at

from aggregated
