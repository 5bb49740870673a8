-- The floor: city annual means of PM2.5, PM10 and NO2 straight from raw EEA e-Reporting files, in
-- one DuckDB query, with the same rules as the pipeline (DESIGN.md completeness rules). No landing,
-- no parse step, no GX, no dbt: the fastest this stack can compute the air-quality marts.
--
-- Set before running (benchmarks/baselines.py does):
--   view eea_raw   the raw EEA files, every column as text (read_csv(..., all_varchar = true))
--   stations_file  CSV station_id,city_id
--   utc_start, utc_end   the ingested data intervals, [start, end) in UTC
-- Result: table floor_city_annual(city_id, pollutant, year, annual_mean, meets_completeness_rule).

create or replace temp table floor_readings as
with

raw as (
    select
        trim("AirQualityStationEoICode") as station_id,
        case trim("AirPollutant") when 'PM10' then 'pm10' when 'PM2.5' then 'pm25' when 'NO2' then 'no2' end
            as pollutant,
        try_strptime(trim("DatetimeBegin"), '%Y-%m-%d %H:%M:%S %z') as begins_at,
        try_cast(left(trim("DatetimeBegin"), 10) as date) as local_date,
        try_cast(trim("Concentration") as double)
        * case trim("UnitOfMeasurement") when 'mg/m3' then 1000.0 else 1.0 end as concentration,
        coalesce(try_cast(trim("Validity") as integer) > 0, false) as is_valid,
        try_cast(trim("Verification") as integer) as verification,
        "SamplingProcess" as sampling_process
    from eea_raw
    where trim("AveragingTime") = 'hour'
)

select
    stations.city_id,
    raw.station_id,
    raw.pollutant,
    raw.local_date,
    case when raw.is_valid then raw.concentration end as valid_concentration
from raw
inner join read_csv(getvariable('stations_file'), header = true, all_varchar = true) as stations
    on raw.station_id = stations.station_id
where
    raw.pollutant is not null
    and timezone('UTC', raw.begins_at) >= getvariable('utc_start')
    and timezone('UTC', raw.begins_at) < getvariable('utc_end')
-- one row per station, pollutant and hour: valid first, then verified first (the pipeline's order)
qualify row_number() over (
    partition by raw.station_id, raw.pollutant, raw.begins_at
    order by raw.is_valid desc, raw.verification asc nulls last, raw.sampling_process
) = 1;

create or replace temp table floor_city_annual as
with

days as (
    select
        city_id,
        station_id,
        pollutant,
        local_date,
        avg(valid_concentration) as daily_mean,
        count(valid_concentration) >= 18 as is_valid_day
    from floor_readings
    group by all
),

station_years as (
    select
        city_id,
        station_id,
        pollutant,
        year(local_date) as year,
        avg(daily_mean) filter (where is_valid_day) as annual_mean,
        count(*) filter (where is_valid_day) / (365 + (year(local_date) % 4 = 0
            and (year(local_date) % 100 <> 0 or year(local_date) % 400 = 0))::int) >= 0.75
        and count(*) filter (where is_valid_day and quarter(local_date) = 1)
        / (90 + (year(local_date) % 4 = 0 and (year(local_date) % 100 <> 0 or year(local_date) % 400 = 0))::int) >= 0.5
        and count(*) filter (where is_valid_day and quarter(local_date) = 2) / 91 >= 0.5
        and count(*) filter (where is_valid_day and quarter(local_date) = 3) / 92 >= 0.5
        and count(*) filter (where is_valid_day and quarter(local_date) = 4) / 92 >= 0.5
            as meets_rule
    from days
    group by city_id, station_id, pollutant, year(local_date)
)

select
    city_id,
    pollutant,
    year,
    coalesce(avg(annual_mean) filter (where meets_rule), avg(annual_mean)) as annual_mean,
    bool_or(meets_rule) as meets_completeness_rule
from station_years
group by city_id, pollutant, year
-- a city-year without one valid station-day (the first hours of 1 January that a UTC-bounded
-- interval delivers) has no value, as in the marts
having count(annual_mean) > 0;
