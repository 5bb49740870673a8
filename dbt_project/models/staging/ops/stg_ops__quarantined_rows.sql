with

source as (

    select * from {{ source('ops', 'quarantined_rows') }}

)

select
    cast(source as varchar) as source_name,
    cast(feed_id as varchar) as feed_id,
    cast(period as varchar) as ingest_period,
    cast(station_id as varchar) as station_id,
    cast(pollutant as varchar) as pollutant,
    cast(measured_at_utc as timestamp) as measured_at_utc,
    cast(quarantine_reason as varchar) as quarantine_reason

from source
