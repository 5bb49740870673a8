-- Every payload of every feed period's latest fetch (the landing manifests): where it came from,
-- when, the HTTP response, its size and hash, and whether the fetch brought anything new.

with

fetches as (

    select * from {{ ref('stg_landing__fetches') }}

),

feeds as (

    select * from {{ ref('stg_registry__feeds') }}

)

select
    fetches.source_name,
    fetches.feed_id,
    fetches.ingest_period,
    fetches.interval_start,
    fetches.interval_end,
    fetches.fetched_at,
    fetches.is_changed,
    {{ fetch_change('fetches.is_changed', 'fetches.fetched_at') }} as fetch_change,
    fetches.payload_file,
    fetches.payload_sha256,
    fetches.payload_bytes,
    fetches.source_location,
    fetches.is_http,
    fetches.payload_fetched_at,
    fetches.http_status,
    fetches.http_etag,
    fetches.http_last_modified,
    fetches.http_content_type,
    fetches.http_elapsed_ms,
    coalesce(feeds.is_demo, false) as is_demo

from fetches
left join feeds
    on fetches.feed_id = feeds.feed_id
