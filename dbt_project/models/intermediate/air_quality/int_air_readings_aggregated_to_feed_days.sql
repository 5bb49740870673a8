-- One row per station, pollutant, local calendar day and landed payload (feed, period, content
-- hash) that delivered hours of that day: hour counts and the sum of the valid concentrations.
-- The only air model that reads hourly readings; the daily, feeds and payloads models are small
-- tables over it. The payload makes every air value traceable to its fetch (fct_value_sources).
--
-- Incremental over daily partitions: a build rebuilds only the local dates of parsed air files
-- written since the last build (macro air_dates_to_rebuild) and leaves every other day as it was.
-- A full refresh (`citypeers build --full-refresh`) rebuilds every day, e.g. after a parsed file
-- was deleted, or once for a warehouse built before the payload columns were added.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='local_date',
    on_schema_change='fail',
) }}

{%- set rebuild = air_dates_to_rebuild(['eea_air', 'openaq_air']) %}
{%- if not is_incremental() %}
    {%- set dates_to_build = "true" %}
{%- elif rebuild.first is none %}
    {%- set dates_to_build = "false" %}
{%- else %}
    {%- set dates_to_build = "local_date between date '" ~ rebuild.first ~ "' and date '" ~ rebuild.last ~ "'" %}
{%- endif %}

with

readings as (

    select * from {{ ref('int_air_readings_unioned') }}
    where {{ dates_to_build }}

),

flagged as (

    select
        station_key,
        source_name,
        station_id,
        city_id,
        pollutant,
        local_date,
        feed_id,
        ingest_period,
        payload_sha256,
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
        feed_id,
        ingest_period,
        payload_sha256,
        count(*) as reported_hour_count,
        count(valid_concentration) as valid_hour_count,
        sum(valid_concentration) as valid_concentration_sum

    from flagged
    group by
        station_key,
        source_name,
        station_id,
        city_id,
        pollutant,
        local_date,
        feed_id,
        ingest_period,
        payload_sha256

)

select
    station_key,
    source_name,
    station_id,
    city_id,
    pollutant,
    local_date,
    feed_id,
    ingest_period,
    payload_sha256,
    reported_hour_count,
    valid_hour_count,
    valid_concentration_sum,
    cast({{ "'" ~ rebuild.rebuilt_at ~ "'" if rebuild.rebuilt_at else 'null' }} as timestamp) as rebuilt_at

from aggregated
