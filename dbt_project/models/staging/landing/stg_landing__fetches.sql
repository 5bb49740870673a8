-- One row per feed, period and payload of the period's latest fetch (landing/<source>/<feed_id>/
-- <period>/fetch.json): where the payload came from, when, its hash and size, and the HTTP
-- response when it was fetched over HTTP. The manifest's list of payloads becomes rows here.

with

source as (

    select * from {{ source('landing', 'fetches') }}

),

payloads as (

    select
        filename as manifest_file,
        source as source_name,
        feed_id,
        interval_start,
        interval_end,
        fetched_at,
        changed,
        {{ list_to_rows('payloads') }} as payload

    from source

),

-- payload.file, payload.http.url ... are fields of the manifest's payload structs, not tables.
renamed as (

    select  -- noqa: disable=RF03
        cast(source_name as varchar) as source_name,
        cast(feed_id as varchar) as feed_id,
        -- the period label is the manifest's folder: landing/<source>/<feed_id>/<period>/fetch.json
        cast({{ path_segment_from_end('manifest_file', 2) }} as varchar) as ingest_period,
        {{ utc_timestamp('interval_start') }} as interval_start,
        {{ utc_timestamp('interval_end') }} as interval_end,
        {{ utc_timestamp('fetched_at') }} as fetched_at,
        cast(changed as boolean) as is_changed,
        cast(payload.file as varchar) as payload_file,
        cast(payload.sha256 as varchar) as payload_sha256,
        cast(payload.request as varchar) as payload_request,
        cast(payload.bytes as bigint) as payload_bytes,
        payload.http is not null as is_http,
        cast(payload.http.url as varchar) as http_url,
        cast(payload.http.status as integer) as http_status,
        cast(payload.http.etag as varchar) as http_etag,
        cast(payload.http.last_modified as varchar) as http_last_modified,
        cast(payload.http.content_type as varchar) as http_content_type,
        cast(payload.http.bytes as bigint) as http_bytes,
        {{ utc_timestamp('payload.http.fetched_at') }} as http_fetched_at,
        cast(payload.http.elapsed_ms as {{ type_double() }}) as http_elapsed_ms,
        cast(manifest_file as varchar) as manifest_file  -- noqa: enable=RF03

    from payloads

)

select
    source_name,
    feed_id,
    ingest_period,
    interval_start,
    interval_end,
    fetched_at,
    is_changed,
    payload_file,
    payload_sha256,
    payload_request,
    payload_bytes,
    is_http,
    http_status,
    http_etag,
    http_last_modified,
    http_content_type,
    http_bytes,
    http_elapsed_ms,
    manifest_file,
    -- where the payload came from: the URL fetched (after redirects), else the request as landed
    -- (a URL, or the file path of a file feed)
    coalesce(http_url, payload_request) as source_location,
    coalesce(http_fetched_at, fetched_at) as payload_fetched_at

from renamed
