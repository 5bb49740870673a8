-- The floor: city annual means of PM2.5, PM10 and NO2 straight from the raw EEA files (e-Reporting
-- CSV, download-service Parquet, or both), in one DuckDB query, with the same rules as the pipeline
-- (DESIGN.md completeness rules). No landing, no parse step, no GX, no dbt: the fastest this stack
-- can compute the air-quality marts.
--
-- Set before running (benchmarks/baselines.py does):
--   view eea_raw_csv      the raw e-Reporting CSV files, every column as text (read_csv(..., all_varchar = true))
--   view eea_raw_parquet  the raw Air Quality Download Service Parquet files, as typed (read_parquet)
--                         (either view may have no rows)
--   view eea_stations     station_id, city_id, sampling_point (NULL when the station list has none)
--   utc_start, utc_end   the ingested data intervals, [start, end) in UTC
-- Result: table floor_city_annual(city_id, pollutant, year, annual_mean, meets_completeness_rule).

create or replace temp table floor_readings as
with

raw as (
    select
        trim("AirQualityStationEoICode") as station_id,
        case trim("AirPollutant") when 'PM10' then 'pm10' when 'PM2.5' then 'pm25' when 'NO2' then 'no2' end
            as pollutant,
        timezone('UTC', try_strptime(trim("DatetimeBegin"), '%Y-%m-%d %H:%M:%S %z')) as measured_at_utc,
        try_cast(left(trim("DatetimeBegin"), 10) as date) as local_date,
        try_cast(trim("Concentration") as double)
        * case trim("UnitOfMeasurement") when 'mg/m3' then 1000.0 else 1.0 end as concentration,
        coalesce(try_cast(trim("Validity") as integer) > 0, false) as is_valid,
        try_cast(trim("Verification") as integer) as verification,
        "SamplingProcess" as sampling_process
    from eea_raw_csv
    where trim("AveragingTime") = 'hour'

    union all

    -- Parquet: the station through the station list's sampling points; Start is on the UTC+1 clock
    select
        sampling_points.station_id,
        case eea_raw_parquet."Pollutant" when 5 then 'pm10' when 6001 then 'pm25' when 8 then 'no2' end
            as pollutant,
        eea_raw_parquet."Start" - interval 1 hour as measured_at_utc,
        cast(eea_raw_parquet."Start" as date) as local_date,
        cast(eea_raw_parquet."Value" as double)
        * case eea_raw_parquet."Unit" when 'mg.m-3' then 1000.0 else 1.0 end as concentration,
        coalesce(eea_raw_parquet."Validity" > 0, false) as is_valid,
        eea_raw_parquet."Verification" as verification,
        eea_raw_parquet."Samplingpoint" as sampling_process
    from eea_raw_parquet
    inner join eea_stations as sampling_points
        on eea_raw_parquet."Samplingpoint" = sampling_points.sampling_point
    where eea_raw_parquet."AggType" = 'hour'
)

select
    stations.city_id,
    raw.station_id,
    raw.pollutant,
    raw.local_date,
    case when raw.is_valid then raw.concentration end as valid_concentration
from raw
inner join (select distinct station_id, city_id from eea_stations) as stations
    on raw.station_id = stations.station_id
where
    raw.pollutant is not null
    and raw.measured_at_utc >= getvariable('utc_start')
    and raw.measured_at_utc < getvariable('utc_end')
-- one row per station, pollutant and hour: valid first, then verified first (the pipeline's order)
qualify row_number() over (
    partition by raw.station_id, raw.pollutant, raw.measured_at_utc
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
