-- Provenance: one row per published value and landed payload behind it, so that every figure can
-- be traced to where it was fetched, when, and the hash of the bytes it came from. Keyed like the
-- values: city, indicator and year (fct_city_indicator_annual, and the context figures of
-- fct_city_context_annual). An air annual mean lists every payload whose readings fall in that
-- city-year; a reported figure has one payload (the observation kept, with its row in it).

with

city_indicator_years as (

    select * from {{ ref('fct_city_indicator_annual') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

air_payloads as (

    select * from {{ ref('int_air_payloads_aggregated_to_city_annual') }}

),

observations as (

    select * from {{ ref('int_indicator_observations_deduplicated_to_city_annual') }}

),

fetches as (

    select * from {{ ref('stg_landing__fetches') }}

),

-- A manifest can list the same bytes for two requests: trace a payload to one of them.
payload_fetches as (

    select
        *,
        row_number() over (
            partition by source_name, feed_id, ingest_period, payload_sha256
            order by source_location
        ) as request_rank

    from fetches

),

feeds as (

    select * from {{ ref('stg_registry__feeds') }}

),

air_value_payloads as (

    select
        city_indicator_years.city_id,
        city_indicator_years.indicator_code,
        city_indicator_years.year,
        city_indicator_years.basis as value_basis,
        air_payloads.source_name,
        air_payloads.feed_id,
        air_payloads.ingest_period,
        air_payloads.payload_sha256,
        cast(null as bigint) as payload_row_number,
        air_payloads.station_count,
        air_payloads.reported_hour_count

    from city_indicator_years
    inner join indicators
        on city_indicator_years.indicator_code = indicators.indicator_code
    inner join air_payloads
        on
            city_indicator_years.city_id = air_payloads.city_id
            and indicators.pollutant = air_payloads.pollutant
            and city_indicator_years.year = air_payloads.measurement_year
    where city_indicator_years.basis = 'station_annual_means'

),

reported_value_payloads as (

    select
        observations.city_id,
        observations.indicator_code,
        observations.observation_year as year,
        observations.basis as value_basis,
        observations.source_name,
        observations.feed_id,
        observations.ingest_period,
        observations.payload_sha256,
        observations.payload_row_number,
        cast(null as integer) as station_count,
        cast(null as bigint) as reported_hour_count

    from observations
    inner join indicators
        on observations.indicator_code = indicators.indicator_code
    left join city_indicator_years
        on
            observations.city_id = city_indicator_years.city_id
            and observations.indicator_code = city_indicator_years.indicator_code
            and observations.observation_year = city_indicator_years.year
    -- the published figure: the mart's reported value (not beaten by station means), or a context
    -- figure (population, area, GDP per capita: fct_city_context_annual, dim_city)
    where
        city_indicator_years.basis in ('rate', 'total')
        or (indicators.domain = 'context' and observations.observed_value is not null)

),

value_payloads as (

    select * from air_value_payloads
    union all
    select * from reported_value_payloads

)

select
    cast(value_payloads.city_id as varchar) as city_id,
    cast(value_payloads.indicator_code as varchar) as indicator_code,
    cast(value_payloads.year as integer) as year,
    cast(value_payloads.value_basis as varchar) as value_basis,
    cast(value_payloads.source_name as varchar) as source_name,
    cast(value_payloads.feed_id as varchar) as feed_id,
    cast(value_payloads.ingest_period as varchar) as ingest_period,
    cast(value_payloads.payload_sha256 as varchar) as payload_sha256,
    cast(value_payloads.payload_row_number as bigint) as payload_row_number,
    cast(value_payloads.station_count as integer) as station_count,
    cast(value_payloads.reported_hour_count as bigint) as reported_hour_count,
    cast(fetches.source_location as varchar) as source_location,
    cast(fetches.is_http as boolean) as is_http,
    cast(fetches.payload_fetched_at as timestamp) as fetched_at,
    cast(fetches.http_status as integer) as http_status,
    cast(fetches.http_etag as varchar) as http_etag,
    cast(fetches.http_last_modified as varchar) as http_last_modified,
    cast(fetches.payload_bytes as bigint) as payload_bytes,
    cast(fetches.payload_file as varchar) as payload_file,
    cast(fetches.payload_sha256 is not null as boolean) as is_in_latest_fetch,
    cast(coalesce(feeds.is_demo, false) as boolean) as is_demo

from value_payloads
left join payload_fetches as fetches
    on
        value_payloads.source_name = fetches.source_name
        and value_payloads.feed_id = fetches.feed_id
        and value_payloads.ingest_period = fetches.ingest_period
        and value_payloads.payload_sha256 = fetches.payload_sha256
        and fetches.request_rank = 1
left join feeds
    on value_payloads.feed_id = feeds.feed_id
