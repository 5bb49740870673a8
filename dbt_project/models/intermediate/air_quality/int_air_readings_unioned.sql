{{ config(materialized='view') }}

with

eea_air as (

    select * from {{ ref('stg_eea_air__measurements') }}

),

openaq_air as (

    select * from {{ ref('stg_openaq_air__measurements') }}

),

unioned as (

    select * from eea_air
    union all
    select * from openaq_air

)

select
    source_name,
    station_id,
    city_id,
    pollutant,
    measured_at_utc,
    local_date,
    concentration,
    concentration_unit,
    is_valid,
    feed_id,
    ingest_period,
    payload_sha256,
    -- Station ids are only unique within a source: the key carries both.
    source_name || ':' || station_id as station_key

from unioned
