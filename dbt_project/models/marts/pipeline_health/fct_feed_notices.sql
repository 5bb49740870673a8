-- Every notice of the feeds' checks against their standards (GTFS, GBFS), worst first: what was
-- wrong, where (file, row, field) and what it did to the figures (severity, docs/feed_validation.md).

with

notices as (

    select * from {{ ref('stg_ops__feed_notices') }}

)

select
    source_name,
    feed_id,
    ingest_period,
    file_name,
    file_row,
    field_name,
    notice_code,
    severity,
    notice_message,
    case severity
        when 'error' then 1
        when 'flagged' then 2
        when 'notice' then 3
        else 4
    end as severity_rank

from notices
