select
    source_name,
    feed_id,
    ingest_period,
    quarantine_reason,
    count(*) as quarantined_row_count,
    min(measured_at_utc) as first_measured_at_utc,
    max(measured_at_utc) as last_measured_at_utc

from {{ ref('stg_ops__quarantined_rows') }}
group by
    source_name,
    feed_id,
    ingest_period,
    quarantine_reason
