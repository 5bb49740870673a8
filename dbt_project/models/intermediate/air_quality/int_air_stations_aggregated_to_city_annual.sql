-- One row per city, pollutant and year. The city value is the mean of the station-year annual means
-- that meet the completeness rule. When no station meets it, the city-year is kept (never dropped):
-- its value is the mean over all its station-years, and it is flagged with the reason, taken from
-- the best-covered station, so that rankings and trends can leave it out.

with

station_years as (

    select * from {{ ref('int_air_days_aggregated_to_station_annual') }}

),

ranked_station_years as (

    select
        *,
        row_number() over (
            partition by city_id, pollutant, measurement_year
            order by valid_day_share desc, station_key asc
        ) as coverage_rank

    from station_years

),

best_covered_station_years as (

    select
        city_id,
        pollutant,
        measurement_year,
        station_id as best_covered_station_id,
        completeness_issue as best_covered_station_issue

    from ranked_station_years
    where coverage_rank = 1

),

aggregated as (

    select
        city_id,
        pollutant,
        measurement_year,
        count(*) as station_count,
        count(case when meets_completeness_rule then 1 end) as stations_meeting_rule,
        avg(case when meets_completeness_rule then annual_mean_concentration end)
            as mean_of_stations_meeting_rule,
        avg(annual_mean_concentration) as mean_of_all_stations,
        avg(valid_day_share) as valid_day_share

    from station_years
    group by
        city_id,
        pollutant,
        measurement_year

)

select
    aggregated.city_id,
    aggregated.pollutant,
    aggregated.measurement_year,
    aggregated.station_count,
    aggregated.stations_meeting_rule,
    aggregated.valid_day_share,
    aggregated.stations_meeting_rule > 0 as meets_completeness_rule,
    case
        when aggregated.stations_meeting_rule > 0 then aggregated.mean_of_stations_meeting_rule
        else aggregated.mean_of_all_stations
    end as annual_mean_concentration,
    case
        when aggregated.stations_meeting_rule = 0
            then
                'no station meets the completeness rule (0 of '
                || cast(aggregated.station_count as varchar)
                || '); best-covered station '
                || best.best_covered_station_id
                || ': '
                || best.best_covered_station_issue
    end as completeness_issue

from aggregated
inner join best_covered_station_years as best
    on
        aggregated.city_id = best.city_id
        and aggregated.pollutant = best.pollutant
        and aggregated.measurement_year = best.measurement_year
