with

source as (

    select * from {{ source('ops', 'feed_notices') }}

)

select
    cast(source as varchar) as source_name,
    cast(feed_id as varchar) as feed_id,
    cast(period as varchar) as ingest_period,
    cast(file as varchar) as file_name,
    cast(row as bigint) as file_row,
    cast(field as varchar) as field_name,
    cast(code as varchar) as notice_code,
    cast(severity as varchar) as severity,
    cast(message as varchar) as notice_message

from source
