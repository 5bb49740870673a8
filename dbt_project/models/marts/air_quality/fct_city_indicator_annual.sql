-- One row per city, indicator and year: the city's annual value, how it was measured (stations,
-- completeness) and where it stands on the indicator's target ladder.

with

city_years as (

    select * from {{ ref('int_air_stations_aggregated_to_city_annual') }}

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

city_indicator_years as (

    select
        city_years.city_id,
        indicators.indicator_code,
        city_years.measurement_year,
        city_years.annual_mean_concentration as indicator_value,
        city_years.station_count,
        city_years.stations_meeting_rule,
        city_years.valid_day_share,
        city_years.meets_completeness_rule,
        city_years.completeness_issue

    from city_years
    -- Each pollutant's annual mean concentration is the indicator <pollutant>_annual_mean.
    inner join indicators
        on city_years.pollutant || '_annual_mean' = indicators.indicator_code
    -- A city-year without a single valid station-day has no value to show: typically the few
    -- hours of 1 January (local time) that a UTC-bounded interval delivers before the next year
    -- is ingested. It stays visible in int_air_stations_aggregated_to_city_annual.
    where city_years.annual_mean_concentration is not null

),

-- A target is met when the value is at or below its threshold (all air indicators are
-- lower_is_better); the highest target met is the strictest one met.
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
            and city_indicator_years.indicator_value <= targets.threshold
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
        case when ladder_positions.meets_completeness_rule then 'ok' else 'below_completeness_rule' end
        as varchar
    ) as quality_flag,
    cast(
        case when not ladder_positions.meets_completeness_rule then ladder_positions.completeness_issue end
        as varchar
    ) as quality_note,
    cast(highest_target.target_code as varchar) as highest_target_met,
    cast(highest_target.target_name as varchar) as highest_target_met_name,
    cast(next_target.target_code as varchar) as next_target,
    cast(next_target.threshold as {{ type_double() }}) as next_target_threshold,
    cast(ladder_positions.indicator_value - next_target.threshold as {{ type_double() }}) as gap_to_next_target,
    cast(indicators.who_2021_guideline as {{ type_double() }}) as who_2021_guideline

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
