{#
    The staging of every air source: the parsed Parquet schema is one contract
    (docs/architecture.md), so every source is renamed, cast and de-duplicated the same way.
    Each staging model stays the one place that calls source() for its source.
#}
{% macro stage_parsed_air_measurements(source_relation) %}
with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        cast(source as varchar) as source_name,
        cast(feed_id as varchar) as feed_id,
        cast(period as varchar) as ingest_period,
        cast(station_id as varchar) as station_id,
        cast(city_id as varchar) as city_id,
        cast(pollutant as varchar) as pollutant,
        cast(measured_at_utc as timestamp) as measured_at_utc,
        cast(local_date as date) as local_date,
        cast(value as {{ type_double() }}) as concentration,
        cast(unit as varchar) as concentration_unit,
        cast(source_value as {{ type_double() }}) as source_concentration,
        cast(source_unit as varchar) as source_unit,
        cast(is_valid as boolean) as is_valid,
        cast(payload_sha256 as varchar) as payload_sha256,
        cast(source_row as bigint) as payload_row_number

    from source

),

ranked as (

    -- The same station hour arrives twice when two ingested data intervals overlap (a yearly
    -- backfill and a monthly run, or re-cut intervals). Keep the row from the latest period: the
    -- greatest period label, which orders by interval start (ISO dates sort as text) and, for the
    -- same start, puts the narrower, more specific label last.
    -- local_date follows from the station and the hour; it is in the partition so that a filter
    -- on local_date (the incremental daily model's) reaches the Parquet scan.
    select
        *,
        row_number() over (
            partition by station_id, pollutant, measured_at_utc, local_date
            order by ingest_period desc, feed_id desc, payload_sha256 desc, payload_row_number desc
        ) as period_recency_rank

    from renamed

)

select
    source_name,
    feed_id,
    ingest_period,
    station_id,
    city_id,
    pollutant,
    measured_at_utc,
    local_date,
    concentration,
    concentration_unit,
    source_concentration,
    source_unit,
    is_valid,
    payload_sha256,
    payload_row_number

from ranked
where period_recency_rank = 1
{% endmacro %}
