-- One row per city, scored indicator and year: the city's annual value, how it was obtained
-- (stations and completeness for air; a reported rate, or a city total divided by population or
-- area, for the other domains) and where it stands on the indicator's target ladder.

with

air_city_years as (

    select * from {{ ref('int_air_stations_aggregated_to_city_annual') }}

),

air_feeds as (

    select * from {{ ref('int_air_feeds_aggregated_to_city_annual') }}

),

indicator_observations as (

    select * from {{ ref('int_indicator_observations_normalised_to_rates') }}

),

cities as (

    select * from {{ ref('dim_city') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

targets as (

    select * from {{ ref('dim_indicator_target') }}

),

air_indicator_years as (

    select
        air_city_years.city_id,
        indicators.indicator_code,
        air_city_years.measurement_year,
        air_city_years.annual_mean_concentration as indicator_value,
        air_city_years.station_count,
        air_city_years.stations_meeting_rule,
        air_city_years.valid_day_share,
        air_city_years.meets_completeness_rule,
        case when air_city_years.meets_completeness_rule then 'ok' else 'below_completeness_rule' end
            as quality_flag,
        case when not air_city_years.meets_completeness_rule then air_city_years.completeness_issue end
            as quality_note,
        'station_annual_means' as basis,
        cast(null as integer) as context_year,
        case
            when air_city_years.meets_completeness_rule
                then
                    'mean of the annual means of '
                    || cast(air_city_years.stations_meeting_rule as varchar) || ' of '
                    || cast(air_city_years.station_count as varchar)
                    || ' station(s), those meeting the completeness rule'
            else
                'mean of the annual means of all ' || cast(air_city_years.station_count as varchar)
                || ' station(s), none meeting the completeness rule'
        end as derivation_note,
        air_feeds.source_names,
        air_feeds.feed_ids,
        cast(null as varchar) as source_ref,
        cast(null as varchar) as source_note,
        -- Station measurements beat a reported figure of an indicator source for the same city-year.
        1 as origin_priority

    from air_city_years
    -- Each pollutant's annual mean concentration is the indicator <pollutant>_annual_mean.
    inner join indicators
        on air_city_years.pollutant || '_annual_mean' = indicators.indicator_code
    left join air_feeds
        on
            air_city_years.city_id = air_feeds.city_id
            and air_city_years.pollutant = air_feeds.pollutant
            and air_city_years.measurement_year = air_feeds.measurement_year
    -- A city-year without a single valid station-day has no value to show: typically the few
    -- hours of 1 January (local time) that a UTC-bounded interval delivers before the next year
    -- is ingested. It stays visible in int_air_stations_aggregated_to_city_annual.
    where air_city_years.annual_mean_concentration is not null

),

reported_indicator_years as (

    select
        city_id,
        indicator_code,
        observation_year as measurement_year,
        indicator_value,
        cast(null as integer) as station_count,
        cast(null as integer) as stations_meeting_rule,
        cast(null as {{ type_double() }}) as valid_day_share,
        quality_flag = 'ok' as meets_completeness_rule,
        quality_flag,
        quality_note,
        basis,
        denominator_year as context_year,
        derivation_note,
        source_name as source_names,
        feed_id as feed_ids,
        source_ref,
        source_note,
        2 as origin_priority

    from indicator_observations
    -- A total without any population or area figure (quality_flag no_context) has no value and
    -- no row here; it stays visible in int_indicator_observations_normalised_to_rates.
    where indicator_value is not null

),

all_indicator_years as (

    select * from air_indicator_years
    union all
    select * from reported_indicator_years

),

city_indicator_years as (

    select
        all_indicator_years.*,
        indicators.direction,
        indicators.plausible_min,
        indicators.plausible_max,
        -- A value outside the catalogue's plausible range is a data error, never a figure to rank:
        -- the ingest gate keeps such reported rates out, so here it is a derived value (an air
        -- annual mean, a total divided by a population or area) and is kept, flagged.
        coalesce(
            all_indicator_years.indicator_value < indicators.plausible_min
            or all_indicator_years.indicator_value > indicators.plausible_max,
            false
        ) as is_implausible,
        row_number() over (
            partition by
                all_indicator_years.city_id,
                all_indicator_years.indicator_code,
                all_indicator_years.measurement_year
            order by all_indicator_years.origin_priority
        ) as origin_rank

    from all_indicator_years
    -- Scored indicators only: context (population, area, GDP) is in fct_city_context_annual.
    inner join indicators
        on
            all_indicator_years.indicator_code = indicators.indicator_code
            and indicators.is_scored

),

-- A target is met when the value is at or below its threshold for lower_is_better indicators,
-- at or above it for higher_is_better ones; the highest target met is the strictest one met.
highest_target_ranks as (

    select
        city_indicator_years.city_id,
        city_indicator_years.indicator_code,
        city_indicator_years.measurement_year,
        max(targets.strictness_rank) as highest_target_met_rank

    from city_indicator_years
    inner join targets
        on
            city_indicator_years.indicator_code = targets.indicator_code
            and (
                (
                    city_indicator_years.direction = 'lower_is_better'
                    and city_indicator_years.indicator_value <= targets.threshold
                )
                or (
                    city_indicator_years.direction = 'higher_is_better'
                    and city_indicator_years.indicator_value >= targets.threshold
                )
            )
    where city_indicator_years.origin_rank = 1
    group by
        city_indicator_years.city_id,
        city_indicator_years.indicator_code,
        city_indicator_years.measurement_year

),

ladder_positions as (

    select
        city_indicator_years.*,
        highest_target_ranks.highest_target_met_rank,
        coalesce(highest_target_ranks.highest_target_met_rank, 0) + 1 as next_target_rank

    from city_indicator_years
    left join highest_target_ranks
        on
            city_indicator_years.city_id = highest_target_ranks.city_id
            and city_indicator_years.indicator_code = highest_target_ranks.indicator_code
            and city_indicator_years.measurement_year = highest_target_ranks.measurement_year
    where city_indicator_years.origin_rank = 1

)

select
    cast(ladder_positions.city_id as varchar) as city_id,
    cast(cities.city_name as varchar) as city_name,
    cast(cities.country_name as varchar) as country_name,
    cast(cities.region as varchar) as region,
    cast(ladder_positions.indicator_code as varchar) as indicator_code,
    cast(indicators.indicator_name as varchar) as indicator_name,
    cast(ladder_positions.measurement_year as integer) as year,
    cast({{ year_start_date('ladder_positions.measurement_year') }} as date) as year_start,
    cast(ladder_positions.indicator_value as {{ type_double() }}) as value,
    cast(indicators.canonical_unit as varchar) as unit,
    cast(ladder_positions.station_count as integer) as station_count,
    cast(ladder_positions.stations_meeting_rule as integer) as stations_meeting_rule,
    cast(ladder_positions.valid_day_share as {{ type_double() }}) as valid_day_share,
    cast(ladder_positions.meets_completeness_rule as boolean) as meets_completeness_rule,
    cast(
        case when ladder_positions.is_implausible then 'implausible_value' else ladder_positions.quality_flag end
        as varchar
    ) as quality_flag,
    cast(
        case
            when ladder_positions.is_implausible
                then
                    'value ' || cast(ladder_positions.indicator_value as varchar) || ' ' || indicators.canonical_unit
                    || ' is outside the plausible range ' || cast(ladder_positions.plausible_min as varchar)
                    || ' to ' || cast(ladder_positions.plausible_max as varchar)
                    || ' of the indicator catalogue (a data error: check the feed'
                    || case when ladder_positions.basis = 'total' then ' and the population or area' else '' end
                    || ')' || coalesce('; ' || ladder_positions.quality_note, '')
            else ladder_positions.quality_note
        end
        as varchar
    ) as quality_note,
    cast(highest_target.target_code as varchar) as highest_target_met,
    cast(highest_target.target_name as varchar) as highest_target_met_name,
    cast(next_target.target_code as varchar) as next_target,
    cast(next_target.threshold as {{ type_double() }}) as next_target_threshold,
    -- How far the value still is from the next target, in the indicator's unit (positive = to go).
    cast(
        case
            when indicators.direction = 'higher_is_better'
                then next_target.threshold - ladder_positions.indicator_value
            else ladder_positions.indicator_value - next_target.threshold
        end
        as {{ type_double() }}
    ) as gap_to_next_target,
    cast(indicators.who_2021_guideline as {{ type_double() }}) as who_2021_guideline,
    cast(indicators.domain as varchar) as domain,
    cast(indicators.direction as varchar) as direction,
    cast(ladder_positions.basis as varchar) as basis,
    cast(case when ladder_positions.basis = 'total' then indicators.normalised_by end as varchar) as normalised_by,
    cast(ladder_positions.context_year as integer) as context_year,
    cast(ladder_positions.derivation_note as varchar) as derivation_note,
    cast(ladder_positions.source_names as varchar) as source_names,
    cast(ladder_positions.feed_ids as varchar) as feed_ids,
    cast(ladder_positions.source_ref as varchar) as source_ref,
    cast(ladder_positions.source_note as varchar) as source_note

from ladder_positions
left join cities
    on ladder_positions.city_id = cities.city_id
inner join indicators
    on ladder_positions.indicator_code = indicators.indicator_code
left join targets as highest_target
    on
        ladder_positions.indicator_code = highest_target.indicator_code
        and ladder_positions.highest_target_met_rank = highest_target.strictness_rank
left join targets as next_target
    on
        ladder_positions.indicator_code = next_target.indicator_code
        and ladder_positions.next_target_rank = next_target.strictness_rank
