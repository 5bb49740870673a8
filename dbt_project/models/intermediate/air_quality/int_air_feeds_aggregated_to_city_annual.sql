-- One row per city, pollutant and calendar year (of the local date): which sources and feeds
-- delivered the readings behind the city value, for the mart's source_names and feed_ids.

with

readings as (

    select * from {{ ref('int_air_readings_unioned') }}

)

select
    city_id,
    pollutant,
    cast(extract(year from local_date) as integer) as measurement_year,
    {{ list_distinct('source_name') }} as source_names,
    {{ list_distinct('feed_id') }} as feed_ids

from readings
group by
    city_id,
    pollutant,
    cast(extract(year from local_date) as integer)
