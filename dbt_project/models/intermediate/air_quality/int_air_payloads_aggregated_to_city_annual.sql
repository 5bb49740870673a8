-- One row per city, pollutant, year (of the local date) and landed payload whose readings fall in
-- that city-year (after the overlap de-duplication of staging): how many stations and hours it
-- delivered. fct_value_sources joins it to the landing manifests to trace an air value to its
-- fetches. Read from the feed-day rows, not the hourly readings.

with

feed_days as (

    select * from {{ ref('int_air_readings_aggregated_to_feed_days') }}

)

select
    city_id,
    pollutant,
    cast(extract(year from local_date) as integer) as measurement_year,
    source_name,
    feed_id,
    ingest_period,
    payload_sha256,
    count(distinct station_key) as station_count,
    sum(reported_hour_count) as reported_hour_count,
    sum(valid_hour_count) as valid_hour_count

from feed_days
group by
    city_id,
    pollutant,
    cast(extract(year from local_date) as integer),
    source_name,
    feed_id,
    ingest_period,
    payload_sha256
