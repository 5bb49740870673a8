-- One observation per city, indicator and year, across every indicator source, feed and period.
-- When several deliver one (a yearly run and a backfill of the same feed, or two feeds), the kept
-- observation is the one from the latest period: the greatest period label, which orders by
-- interval start (ISO dates sort as text) and, for the same start, puts the narrower label last;
-- then the greatest feed_id (and source, payload, row, so the choice is deterministic).
-- The other candidates are counted and their feeds listed, so the choice stays traceable.

with

observations as (

    select * from {{ ref('int_indicator_observations_unioned') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by city_id, indicator_code, observation_year
            order by
                ingest_period desc,
                feed_id desc,
                source_name desc,
                payload_sha256 desc,
                payload_row_number desc
        ) as recency_rank

    from observations

),

candidates as (

    select
        city_id,
        indicator_code,
        observation_year,
        count(*) as candidate_count,
        {{ list_distinct('feed_id') }} as candidate_feed_ids

    from observations
    group by
        city_id,
        indicator_code,
        observation_year

)

select
    ranked.city_id,
    ranked.indicator_code,
    ranked.observation_year,
    ranked.observed_value,
    ranked.canonical_unit,
    ranked.basis,
    ranked.source_value,
    ranked.source_unit,
    ranked.source_ref,
    ranked.source_note,
    ranked.source_name,
    ranked.feed_id,
    ranked.ingest_period,
    ranked.payload_sha256,
    ranked.payload_row_number,
    ranked.left_out_share,
    candidates.candidate_count,
    candidates.candidate_feed_ids

from ranked
inner join candidates
    on
        ranked.city_id = candidates.city_id
        and ranked.indicator_code = candidates.indicator_code
        and ranked.observation_year = candidates.observation_year
where ranked.recency_rank = 1
