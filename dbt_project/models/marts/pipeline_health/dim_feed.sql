-- One row per feed of the registry (and per feed that left manifests in the landing zone but is
-- no longer in feeds.yml): what feeds.yml says, its next scheduled run, and its latest fetch:
-- when, which period, HTTP status, changed or unchanged, payloads and bytes.

with

feeds as (

    select * from {{ ref('stg_registry__feeds') }}

),

fetches as (

    select * from {{ ref('fct_feed_fetches') }}

),

value_sources as (

    select * from {{ ref('fct_value_sources') }}

),

practices as (

    select * from {{ ref('dim_practice') }}

),

period_fetches as (

    select
        source_name,
        feed_id,
        ingest_period,
        fetched_at,
        is_changed,
        count(*) as payload_count,
        sum(payload_bytes) as payload_bytes,
        {{ list_distinct('cast(http_status as varchar)') }} as http_statuses,
        max(http_status) as max_http_status

    from fetches
    group by source_name, feed_id, ingest_period, fetched_at, is_changed

),

ranked_period_fetches as (

    select
        *,
        count(*) over (partition by source_name, feed_id) as fetched_period_count,
        row_number() over (
            partition by source_name, feed_id
            order by fetched_at desc, ingest_period desc
        ) as recency_rank

    from period_fetches

),

published_values as (

    select
        feed_id,
        count(*) as published_value_count

    from (
        select distinct
            feed_id,
            city_id,
            indicator_code,
            year
        from value_sources
    ) as feed_values
    group by feed_id

),

published_practices as (

    select
        feed_id,
        count(*) as published_practice_count

    from practices
    group by feed_id

),

last_fetches as (

    select * from ranked_period_fetches
    where recency_rank = 1

)

select
    cast(coalesce(feeds.feed_id, last_fetches.feed_id) as varchar) as feed_id,
    cast(coalesce(feeds.source_name, last_fetches.source_name) as varchar) as source_name,
    cast(feeds.feed_location as varchar) as feed_location,
    cast(feeds.feed_schedule as varchar) as feed_schedule,
    cast(coalesce(feeds.is_demo, false) as boolean) as is_demo,
    cast(feeds.feed_id is not null as boolean) as is_in_registry,
    cast(feeds.next_run_at as timestamp) as next_run_at,
    cast(feeds.registry_read_at as timestamp) as registry_read_at,
    cast(last_fetches.fetched_at as timestamp) as last_fetched_at,
    cast(last_fetches.ingest_period as varchar) as last_fetch_period,
    cast(last_fetches.http_statuses as varchar) as last_fetch_http_statuses,
    cast(last_fetches.max_http_status as integer) as last_fetch_max_http_status,
    cast(last_fetches.is_changed as boolean) as last_fetch_is_changed,
    cast({{ fetch_change('last_fetches.is_changed', 'last_fetches.fetched_at') }} as varchar) as last_fetch_change,
    cast(last_fetches.payload_count as integer) as last_fetch_payload_count,
    cast(last_fetches.payload_bytes as bigint) as last_fetch_bytes,
    cast(coalesce(last_fetches.fetched_period_count, 0) as integer) as fetched_period_count,
    cast(coalesce(published_values.published_value_count, 0) as bigint) as published_value_count,
    cast(coalesce(published_practices.published_practice_count, 0) as bigint) as published_practice_count

from feeds
full outer join last_fetches
    on feeds.feed_id = last_fetches.feed_id
left join published_values
    on coalesce(feeds.feed_id, last_fetches.feed_id) = published_values.feed_id
left join published_practices
    on coalesce(feeds.feed_id, last_fetches.feed_id) = published_practices.feed_id
