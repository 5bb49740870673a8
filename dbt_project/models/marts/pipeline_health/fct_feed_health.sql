-- One row per feed that reached the ingest gate: its latest period, when it last ran, whether that
-- run passed, and how many rows it has quarantined so far. Hours since the last run are computed
-- by the reader (the Superset dataset adds them), since the build time would make them stale.

with

ingest_runs as (

    select
        validated_at,
        validated_row_count,
        is_success,
        failure_summary,
        replace(suite_name, 'parsed__', '') as source_name,
        -- run labels are <feed_id>__<period>; periods never hold a double underscore
        regexp_extract(run_label, '^(.+)__(.+)$', 1) as feed_id,
        regexp_extract(run_label, '^(.+)__(.+)$', 2) as ingest_period

    from {{ ref('fct_validation_runs') }}
    where gate = 'ingest'

),

runs_by_feed as (

    select
        source_name,
        feed_id,
        count(distinct ingest_period) as ingested_period_count,
        max(ingest_period) as latest_period,
        min(validated_at) as first_run_at,
        max(validated_at) as last_run_at,
        count(*) as run_count,
        count(*) filter (where not is_success) as unsuccessful_run_count,
        arg_max_null(is_success, validated_at) as last_run_is_success,
        arg_max_null(validated_row_count, validated_at) as last_run_row_count,
        arg_max_null(ingest_period, validated_at) as last_run_period,
        arg_max_null(failure_summary, validated_at) as last_run_failure_summary

    from ingest_runs
    group by source_name, feed_id

),

quarantine_by_period as (

    select
        source_name,
        feed_id,
        ingest_period,
        sum(quarantined_row_count) as quarantined_row_count

    from {{ ref('fct_quarantine_reasons') }}
    group by source_name, feed_id, ingest_period

),

quarantine_by_feed as (

    select
        runs_by_feed.source_name,
        runs_by_feed.feed_id,
        sum(quarantine_by_period.quarantined_row_count) as quarantined_row_count,
        sum(quarantine_by_period.quarantined_row_count) filter (
            where quarantine_by_period.ingest_period = runs_by_feed.last_run_period
        ) as last_run_quarantined_row_count

    from runs_by_feed
    inner join quarantine_by_period
        on
            runs_by_feed.source_name = quarantine_by_period.source_name
            and runs_by_feed.feed_id = quarantine_by_period.feed_id
    group by runs_by_feed.source_name, runs_by_feed.feed_id

)

select
    cast(runs_by_feed.source_name as varchar) as source_name,
    cast(runs_by_feed.feed_id as varchar) as feed_id,
    cast(runs_by_feed.ingested_period_count as integer) as ingested_period_count,
    cast(runs_by_feed.latest_period as varchar) as latest_period,
    cast(runs_by_feed.first_run_at as timestamp) as first_run_at,
    cast(runs_by_feed.last_run_at as timestamp) as last_run_at,
    cast(runs_by_feed.last_run_period as varchar) as last_run_period,
    cast(runs_by_feed.last_run_row_count as bigint) as last_run_row_count,
    cast(runs_by_feed.last_run_is_success as boolean) as last_run_is_success,
    cast(runs_by_feed.last_run_failure_summary as varchar) as last_run_failure_summary,
    cast(runs_by_feed.run_count as integer) as run_count,
    cast(runs_by_feed.unsuccessful_run_count as integer) as unsuccessful_run_count,
    cast(coalesce(quarantine_by_feed.quarantined_row_count, 0) as bigint) as quarantined_row_count,
    cast(coalesce(quarantine_by_feed.last_run_quarantined_row_count, 0) as bigint) as last_run_quarantined_row_count,
    cast(
        case
            when runs_by_feed.last_run_is_success then 'passing'
            when coalesce(quarantine_by_feed.last_run_quarantined_row_count, 0) > 0 then 'quarantining rows'
            else 'failing'
        end as varchar
    ) as health_status

from runs_by_feed
left join quarantine_by_feed
    on
        runs_by_feed.source_name = quarantine_by_feed.source_name
        and runs_by_feed.feed_id = quarantine_by_feed.feed_id
