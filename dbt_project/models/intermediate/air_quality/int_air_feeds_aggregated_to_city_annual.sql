-- One row per city, pollutant and calendar year (of the local date): which sources and feeds
-- delivered the readings behind the city value, for the mart's source_names and feed_ids.
-- Read from the feed-day rows, not the hourly readings.

with

feed_days as (

    select * from {{ ref('int_air_readings_aggregated_to_feed_days') }}

)

select
    city_id,
    pollutant,
    cast(extract(year from local_date) as integer) as measurement_year,
    {{ list_distinct('source_name') }} as source_names,
    {{ list_distinct('feed_id') }} as feed_ids

from feed_days
group by
    city_id,
    pollutant,
    cast(extract(year from local_date) as integer)
