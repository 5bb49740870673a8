-- One row per city, pollutant and calendar year (of the local date): which sources and feeds
-- delivered the readings behind the city value, for the mart's source_names and feed_ids.
-- Read from the payload rows of each city-year, not the hourly readings.

with

payloads as (

    select * from {{ ref('int_air_payloads_aggregated_to_city_annual') }}

)

select
    city_id,
    pollutant,
    measurement_year,
    {{ list_distinct('source_name') }} as source_names,
    {{ list_distinct('feed_id') }} as feed_ids

from payloads
group by
    city_id,
    pollutant,
    measurement_year
