with

source as (

    select * from {{ source('registry', 'feeds') }}

)

select
    cast(feed_id as varchar) as feed_id,
    cast(source as varchar) as source_name,
    cast(location as varchar) as feed_location,
    cast(schedule as varchar) as feed_schedule,
    cast(start_date as date) as start_date,
    cast(is_demo as boolean) as is_demo,
    cast(next_run_at as timestamp) as next_run_at,
    cast(registry_read_at as timestamp) as registry_read_at

from source
