-- One row per city, pollutant and month: the mean of the station-month means that meet the
-- monthly completeness rule. When no station meets it, the city-month is kept (never dropped):
-- its value is the mean over all its station-months, flagged with the reason taken from the
-- best-covered station, so that the impact estimates can leave it out. The same shape as
-- int_air_stations_aggregated_to_city_annual, one grain finer.

with

station_months as (

    select * from {{ ref('int_air_days_aggregated_to_station_monthly') }}

),

ranked_station_months as (

    select
        *,
        row_number() over (
            partition by city_id, pollutant, month_start
            order by valid_day_share desc, station_key asc
        ) as coverage_rank

    from station_months

),

best_covered_station_months as (

    select
        city_id,
        pollutant,
        month_start,
        station_id as best_covered_station_id,
        completeness_issue as best_covered_station_issue

    from ranked_station_months
    where coverage_rank = 1

),

aggregated as (

    select
        city_id,
        pollutant,
        month_start,
        max(measurement_year) as measurement_year,
        max(measurement_month) as measurement_month,
        max(days_in_month) as days_in_month,
        count(*) as station_count,
        count(case when meets_completeness_rule then 1 end) as stations_meeting_rule,
        avg(case when meets_completeness_rule then monthly_mean_concentration end)
            as mean_of_stations_meeting_rule,
        avg(monthly_mean_concentration) as mean_of_all_stations,
        max(valid_day_count) as best_station_valid_day_count,
        avg(valid_day_share) as valid_day_share

    from station_months
    group by
        city_id,
        pollutant,
        month_start

)

select
    aggregated.city_id,
    aggregated.pollutant,
    aggregated.month_start,
    aggregated.measurement_year,
    aggregated.measurement_month,
    aggregated.days_in_month,
    aggregated.station_count,
    aggregated.stations_meeting_rule,
    aggregated.best_station_valid_day_count,
    aggregated.valid_day_share,
    aggregated.stations_meeting_rule > 0 as meets_completeness_rule,
    case
        when aggregated.stations_meeting_rule > 0 then aggregated.mean_of_stations_meeting_rule
        else aggregated.mean_of_all_stations
    end as monthly_mean_concentration,
    case
        when aggregated.stations_meeting_rule = 0
            then
                'no station meets the monthly completeness rule (0 of '
                || cast(aggregated.station_count as varchar)
                || '); best-covered station '
                || best.best_covered_station_id
                || ': '
                || best.best_covered_station_issue
    end as completeness_issue

from aggregated
inner join best_covered_station_months as best
    on
        aggregated.city_id = best.city_id
        and aggregated.pollutant = best.pollutant
        and aggregated.month_start = best.month_start
