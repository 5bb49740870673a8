with

source as (

    select * from {{ source('practices', 'practices') }}

),

renamed as (

    select
        cast(source as varchar) as source_name,
        cast(feed_id as varchar) as feed_id,
        cast(period as varchar) as ingest_period,
        cast(practice_id as varchar) as practice_id,
        cast(city_id as varchar) as city_id,
        cast(city_key as varchar) as city_key,
        cast(title as varchar) as practice_title,
        cast(domain as varchar) as domain,
        cast(category as varchar) as category,
        cast(indicator_codes as varchar) as indicator_codes,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(scope as varchar) as practice_scope,
        cast(description as varchar) as practice_description,
        cast(source_url as varchar) as source_url,
        cast(contact as varchar) as contact,
        cast(is_demo as boolean) as is_demo,
        cast(payload_sha256 as varchar) as payload_sha256,
        cast(source_row as bigint) as payload_row_number

    from source

),

latest_periods as (

    -- A registry is a snapshot: each period holds the whole registry as it stood at the period's
    -- end, so only a feed's latest period (the greatest label, as everywhere in the project) says
    -- which practices it lists now; a practice dropped from the registry drops out here.
    select
        *,
        max(ingest_period) over (partition by feed_id) as latest_ingest_period

    from renamed

)

select
    source_name,
    feed_id,
    ingest_period,
    practice_id,
    city_id,
    city_key,
    practice_title,
    domain,
    category,
    indicator_codes,
    start_date,
    end_date,
    practice_scope,
    practice_description,
    source_url,
    contact,
    is_demo,
    payload_sha256,
    payload_row_number

from latest_periods
where ingest_period = latest_ingest_period
