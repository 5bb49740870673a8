-- One row per city, scored-domain indicator and year from the indicator sources: the value in the
-- indicator's canonical unit.
--   basis rate:  already in the canonical unit; passed through.
--   basis total: a city total, divided by the city's population in residents (normalised_by
--                population) or area in km² (normalised_by area) of the same year
--                (int_city_context_annual). When that year has no figure, the nearest year's is
--                used and the row is flagged context_from_other_year, the note naming the year.
--                When the city has no figure at all, the value is NULL, flagged no_context: kept
--                here, visible, never silently dropped (the mart only holds rows with a value).
-- A figure whose feed validation left rows out (left_out_share > 0, a flagged notice) is flagged
-- feed_rows_left_out with the share in the note: shown, left out of ranks and trends.
-- A city annual mean of an air pollutant reported by an indicator feed is a rate whose stations
-- are unknown; the derivation note says so (station readings win over it in the mart).
-- Context indicators (domain context) are not scored: they feed int_city_context_annual instead.

with

observations as (

    select * from {{ ref('int_indicator_observations_deduplicated_to_city_annual') }}

),

context as (

    select * from {{ ref('int_city_context_annual') }}

),

indicators as (

    select * from {{ ref('indicators') }}

),

scored_observations as (

    select
        observations.*,
        indicators.normalised_by,
        indicators.domain

    from observations
    inner join indicators
        on observations.indicator_code = indicators.indicator_code
    where indicators.domain != 'context'

),

with_denominators as (

    select
        scored_observations.*,
        case
            when scored_observations.normalised_by = 'population' then context.population
            when scored_observations.normalised_by = 'area' then context.area_km2
        end as denominator_value,
        case
            when scored_observations.normalised_by = 'population' then context.population_year
            when scored_observations.normalised_by = 'area' then context.area_year
        end as denominator_year,
        case
            when scored_observations.normalised_by = 'population' then context.population_source
            when scored_observations.normalised_by = 'area' then context.area_source
        end as denominator_source,
        case
            when scored_observations.normalised_by = 'population' then 'population'
            when scored_observations.normalised_by = 'area' then 'area (km²)'
            else 'population or area'
        end as denominator_name

    from scored_observations
    left join context
        on
            scored_observations.city_id = context.city_id
            and scored_observations.observation_year = context.context_year

),

normalised as (

    select
        *,
        case
            when basis = 'rate' then observed_value
            when basis = 'total' then observed_value / nullif(denominator_value, 0)
        end as indicator_value,
        case
            when basis = 'total' and (denominator_value is null or denominator_value = 0) then 'no_context'
            when left_out_share > 0 then 'feed_rows_left_out'
            when basis = 'rate' then 'ok'
            when denominator_year is not null and denominator_year != observation_year
                then 'context_from_other_year'
            else 'ok'
        end as quality_flag

    from with_denominators

)

select
    city_id,
    indicator_code,
    observation_year,
    indicator_value,
    canonical_unit,
    basis,
    normalised_by,
    denominator_value,
    denominator_year,
    denominator_source,
    quality_flag,
    left_out_share,
    source_value,
    source_unit,
    source_ref,
    source_note,
    source_name,
    feed_id,
    ingest_period,
    candidate_count,
    candidate_feed_ids,
    case
        when quality_flag = 'no_context'
            then
                'city total without a ' || denominator_name || ' figure for ' || city_id
                || ' in any year (add it to the cities seed or send it as a context observation)'
        when quality_flag = 'feed_rows_left_out'
            then
                'the feed''s validation left out '
                -- a share that rounds to 0.0% still left rows out: say so, never "0.0%"
                || case
                    when left_out_share < 0.001 then 'less than 0.1'
                    else cast(round(100 * left_out_share, 1) as varchar)
                end
                || '% of the rows this figure is computed from (flagged notices of feed ' || feed_id
                || ', period ' || ingest_period || ' in fct_feed_notices; docs/feed_validation.md)'
        when quality_flag = 'context_from_other_year'
            then
                'divided by the ' || denominator_name || ' of '
                || cast(denominator_year as varchar) || ' (no '
                || cast(observation_year as varchar) || ' figure)'
    end as quality_note,
    case
        when domain = 'air_quality'
            then
                'city annual mean as reported by feed ' || feed_id
                || ' (station count unknown: not computed from station readings)'
        when basis = 'rate'
            then 'rate as reported by feed ' || feed_id
        when quality_flag = 'no_context'
            then 'city total ' || cast(observed_value as varchar) || ' from feed ' || feed_id || ', not divided'
        else
            'city total ' || cast(observed_value as varchar) || ' from feed ' || feed_id
            || ' divided by ' || denominator_name || ' ' || cast(denominator_value as varchar)
            || coalesce(
                ' (' || cast(denominator_year as varchar) || ', ' || denominator_source || ')',
                ' (' || denominator_source || ')'
            )
    end as derivation_note

from normalised
