"""Deterministic demo air quality data for every city in the registry, in the feeds' real formats.

Levels come from `air_levels.csv`: the project's own approximate annual means (µg/m³), rounded
and of the magnitude the WHO ambient air quality database shows for each city. They are demo
figures, not measurements. The same file says which source format serves each city (European
cities: the EEA, as e-Reporting CSV files and, the same readings, as the Parquet files the demo
feed server serves as the EEA Air Quality Download Service; Asian cities: the OpenAQ API) and which completeness failure
the demo plants in that city (`demo_gap`), so the dashboards show flagged values on purpose:

- `station_loses_q1`: station 1 has nothing from 1 January to 10 March of the middle year; it
  still has > 75% of its days, but Q1 is not half covered, so the year is not an annual mean;
- `station_loses_30pct_days`: station 2 misses 30% of the days of the first year;
- `station_invalid_stretch`: station 2 reports 1 June – 8 September of the last year flagged
  invalid (EEA Validity -1, OpenAQ `flagInfo.hasFlags`), so the rows exist but do not count;
- `city_starts_in_may`: every station of the city starts on 1 May of the last year.

The demo practices of `planted_practices.py` change the data on purpose too: from a practice's
start day on, its city's readings of its pollutant are multiplied by `1 + planted_effect` (for
example NO₂ -15% in Barcelona from 2025), so the impact estimates have a known truth to recover;
the demo practices feed (`practices/practices.yml`) lists them, marked as demo entries.

Everywhere else ~2% of station-days and ~2% of hours are missing and 0.5% of EEA hours are
flagged invalid, so almost every station-year passes. Values follow a seasonal cycle (winter
peak, `winter_peak` amplitude, mirrored south of the equator), a diurnal cycle (NO₂ rush hours,
evening PM) and log-normal day and hour noise. Noise comes from DuckDB `hash()` of the seed and
the row's keys, so the whole build is a few SQL statements and the same seed gives the same bytes
(with the same DuckDB version).
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from citypeers import paths
from citypeers.demo import gbfs as demo_gbfs
from citypeers.demo import gtfs as demo_gtfs
from citypeers.demo import indicator_template as demo_indicator_template
from citypeers.demo import practices as demo_practices
from citypeers.demo import sdmx_csv as demo_sdmx_csv
from citypeers.demo import wide_table as demo_wide_table
from citypeers.demo.planted_practices import planted_air_effects
from citypeers.errors import ConfigError
from citypeers.feeds import sql_literal
from citypeers.feeds.eea_air import DOWNLOAD_SERVICE_UTC_OFFSET
from citypeers.units import conversion_factor

if TYPE_CHECKING:
    import pandas as pd

AIR_LEVELS = Path(__file__).with_name("air_levels.csv")
GAP_SCENARIOS = (
    "none",
    "station_loses_q1",
    "station_loses_30pct_days",
    "station_invalid_stretch",
    "city_starts_in_may",
)
EEA_HEADER = (
    "Countrycode,Namespace,AirQualityNetwork,AirQualityStation,AirQualityStationEoICode,SamplingPoint,"
    "SamplingProcess,Sample,AirPollutant,AirPollutantCode,AveragingTime,Concentration,UnitOfMeasurement,"
    "DatetimeBegin,DatetimeEnd,Validity,Verification"
)
# The demo EEA download service's files (served under /eea/ by citypeers.demo.serve_eea), below
# feeds/demo/eea_air/: one Parquet file per dataset and sampling point, and their index.
DOWNLOAD_SERVICE_DIR = "download_service"
DOWNLOAD_SERVICE_INDEX = "files.json"
EEA_OFFSET = "+01:00"  # the offset the real BETR740 export reports; the demo uses it for every EEA city
# pollutant, EEA notation, EEA vocabulary code, OpenAQ parameter id, display name
POLLUTANTS = (
    ("pm25", "PM2.5", 6001, 2, "PM2.5"),
    ("pm10", "PM10", 5, 1, "PM10"),
    ("no2", "NO2", 8, 7, "NO₂"),
)


def demo_dir(home: Path) -> Path:
    return Path(home) / "feeds" / "demo"


def read_air_levels() -> dict[str, dict[str, str]]:
    with AIR_LEVELS.open(newline="", encoding="utf-8") as handle:
        return {row["city_id"]: row for row in csv.DictReader(handle)}


def _registry_cities() -> list[dict[str, str]]:
    seed = paths.dbt_project_dir() / "seeds" / "cities.csv"
    with seed.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _stations(cities: list[str] | None, stations_per_city: int) -> list[dict[str, Any]]:
    """One record per demo station, with the city's levels and where its ids come from."""
    levels = read_air_levels()
    registry = _registry_cities()
    missing = [c["city_id"] for c in registry if c["city_id"] not in levels]
    if missing:
        raise ConfigError(f"cities without demo air levels: {missing}; add them to {AIR_LEVELS}")
    known = {c["city_id"] for c in registry}
    unknown = sorted(set(cities or []) - known)
    if unknown:
        raise ConfigError(f"unknown cities {unknown}; known: {sorted(known)}")
    order = list(levels)  # ids derive from the row in air_levels.csv, so a city keeps its ids in any subset
    stations = []
    for city in registry:
        if cities is not None and city["city_id"] not in cities:
            continue
        level = levels[city["city_id"]]
        if level["demo_gap"] not in GAP_SCENARIOS:
            raise ConfigError(f"{AIR_LEVELS}: unknown demo_gap {level['demo_gap']!r} for {city['city_id']}")
        city_number = order.index(city["city_id"]) + 1
        for station_number in range(1, stations_per_city + 1):
            eea = level["feed_source"] == "eea_air"
            location_id = 900_000 + city_number * 10 + station_number
            stations.append(
                {
                    "city_id": city["city_id"],
                    "city_number": city_number,
                    "city_name": city["city_name"],
                    "source": level["feed_source"],
                    "station_number": station_number,
                    "station_id": f"{level['country_iso2']}{9000 + city_number * 10 + station_number}A"
                    if eea
                    else str(location_id),
                    "location_id": location_id,
                    "iso2": level["country_iso2"],
                    "timezone": level["timezone"],
                    "latitude": round(float(city["latitude"]) + 0.013 * station_number, 4),
                    "longitude": round(float(city["longitude"]) - 0.017 * station_number, 4),
                    "pm25": float(level["pm25_ug_m3"]),
                    "pm10": float(level["pm10_ug_m3"]),
                    "no2": float(level["no2_ug_m3"]),
                    "no2_unit": level["no2_source_unit"],
                    "winter_peak": float(level["winter_peak"]),
                    "gap": level["demo_gap"],
                }
            )
    return stations


def _values(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def literal(value: Any) -> str:
        return repr(value) if isinstance(value, int | float) else sql_literal(value)

    return ", ".join("(" + ", ".join(literal(row[c]) for c in columns) + ")" for row in rows)


_STATION_COLUMNS = [
    "city_id",
    "city_number",
    "source",
    "station_number",
    "station_id",
    "location_id",
    "iso2",
    "timezone",
    "latitude",
    "pm25",
    "pm10",
    "no2",
    "no2_unit",
    "winter_peak",
    "gap",
]


def _planted_effects_sql() -> str:
    """The demo practices' planted steps (city, pollutant, start day, relative effect) as a table."""
    rows = [
        f"({sql_literal(city)}, {sql_literal(pollutant)}, DATE {sql_literal(start)}, {effect!r})"
        for city, pollutant, start, effect in planted_air_effects()
    ]
    values = ", ".join(rows) or "(NULL, NULL, NULL::DATE, 0.0)"
    return f"SELECT * FROM (VALUES {values}) AS t(city_id, pollutant, start_date, planted_effect)"


def _build_readings(
    con: duckdb.DuckDBPyConnection,
    stations: list[dict],
    years: tuple[int, ...],
    seed: int,
    pollutants: tuple[str, ...] | None = None,
) -> None:
    """Every station-pollutant-hour that exists, with its value in µg/m³ and its validity
    (only `pollutants` when given: the values of one pollutant do not depend on the others).

    Local time, day-level draws and the diurnal shape are computed once per time zone-hour,
    station-day and pollutant-hour and joined in: converting 6 million timestamps with ICU, or
    hashing per row what is constant over a day, would make this step ten times slower.
    """
    first, middle, last = years[0], years[len(years) // 2], years[-1]
    con.execute(
        f"CREATE TABLE demo_stations AS SELECT *, CASE WHEN source = 'eea_air' THEN 'EEA' ELSE timezone END "
        f"AS clock FROM (VALUES {_values(stations, _STATION_COLUMNS)}) AS t({', '.join(_STATION_COLUMNS)})"
    )
    hours = " UNION ALL ".join(
        f"SELECT {year} AS year, unnest(generate_series(TIMESTAMP '{year}-01-01', "
        f"TIMESTAMP '{year + 1}-01-01' - INTERVAL 1 HOUR, INTERVAL 1 HOUR)) AS measured_at_utc"
        for year in years
    )
    con.execute(f"""
    CREATE TABLE demo_clock_hours AS
    SELECT clocks.clock, hours.year, hours.measured_at_utc,
        CASE WHEN clocks.clock = 'EEA' THEN hours.measured_at_utc + INTERVAL 1 HOUR
             ELSE timezone(clocks.clock, hours.measured_at_utc::TIMESTAMPTZ) END AS local_time
    FROM (SELECT DISTINCT clock FROM demo_stations) AS clocks CROSS JOIN ({hours}) AS hours
    """)
    # u(...) is a uniform in (0, 1) from the keys; a standard normal is sqrt(-2 ln u1) cos(2 pi u2).
    con.execute(f"""
    CREATE TABLE demo_station_days AS
    WITH days AS (
        SELECT DISTINCT s.station_id, s.city_id, s.station_number, s.latitude, s.winter_peak, s.gap,
            h.local_time::DATE AS local_date, year(h.local_time) AS year
        FROM demo_stations AS s JOIN demo_clock_hours AS h USING (clock)
    )
    SELECT
        station_id, local_date,
        1 + winter_peak * sign(latitude) * cos(2 * pi() * (dayofyear(local_date) - 15) / 365.25) AS season,
        exp(0.45 * sqrt(-2 * ln(((hash({seed}, city_id, local_date, 'day_u1') % 1000000) + 0.5) / 1e6))
            * cos(2 * pi() * ((hash({seed}, city_id, local_date, 'day_u2') % 1000000) + 0.5) / 1e6)
            - 0.10125) AS weather,
        hash({seed}, station_id, local_date, 'outage') % 1000 < 20
            OR CASE gap
                WHEN 'station_loses_q1' THEN station_number = 1 AND year = {middle}
                    AND local_date < make_date(year, 3, 11)
                WHEN 'station_loses_30pct_days' THEN station_number = 2 AND year = {first}
                    AND hash({seed}, station_id, local_date, 'gap') % 100 < 30
                WHEN 'city_starts_in_may' THEN year = {last} AND local_date < make_date(year, 5, 1)
                ELSE false END AS is_missing,
        gap = 'station_invalid_stretch' AND station_number = 2 AND year = {last}
            AND local_date BETWEEN make_date(year, 6, 1) AND make_date(year, 9, 8) AS is_flagged_invalid
    FROM days
    """)
    pollutant_filter = (
        f" AND p.pollutant IN ({', '.join(sql_literal(p) for p in pollutants)})" if pollutants else ""
    )
    con.execute(f"""
    CREATE TABLE demo_readings AS
    WITH pollutants AS (
        SELECT * FROM (VALUES ('pm25', 0.15, 21, 24, 1.0, 1.05, 0.95),
                              ('pm10', 0.15, 21, 24, 1.0, 1.05, 0.95),
                              ('no2', 0.30, 8, 12, 0.5, 1.20, 0.80))
            AS t(pollutant, diurnal_amplitude, diurnal_peak_hour, diurnal_period, season_weight,
                 traffic_factor, background_factor)
    ),
    diurnal AS (
        SELECT pollutant, local_hour,
            1 + diurnal_amplitude * cos(2 * pi() * (local_hour - diurnal_peak_hour) / diurnal_period) AS shape
        FROM pollutants CROSS JOIN range(24) AS hours(local_hour)
    ),
    located AS (
        SELECT s.*, p.*, h.year, h.measured_at_utc, h.local_time, d.season, d.weather, d.is_flagged_invalid
        FROM demo_stations AS s
        JOIN demo_clock_hours AS h USING (clock)
        JOIN demo_station_days AS d ON d.station_id = s.station_id AND d.local_date = h.local_time::DATE
        CROSS JOIN pollutants AS p
        WHERE NOT d.is_missing{pollutant_filter}
    )
    SELECT
        located.city_id, city_number, source, station_number, station_id, location_id, iso2, located.pollutant, year,
        measured_at_utc, local_time, no2_unit,
        round(
            CASE located.pollutant WHEN 'pm25' THEN pm25 WHEN 'pm10' THEN pm10 ELSE no2 END
            * CASE WHEN local_time::DATE >= planted.start_date THEN 1 + planted.planted_effect ELSE 1 END
            * CASE WHEN station_number = 1 THEN traffic_factor ELSE background_factor END
            * (1 + (season - 1) * season_weight)
            * diurnal.shape
            * weather
            * exp(0.30 * sqrt(-2 * ln(((hash({seed}, station_id, located.pollutant, measured_at_utc, 'u1')
                % 1000000)
                + 0.5) / 1e6))
                * cos(2 * pi() * ((hash({seed}, station_id, located.pollutant, measured_at_utc, 'u2')
                % 1000000)
                + 0.5) / 1e6)
                - 0.045),
            1) AS value_ug_m3,
        is_flagged_invalid OR hash({seed}, station_id, located.pollutant, measured_at_utc, 'flag') % 1000 < 5
            AS is_flagged_invalid
    FROM located
    JOIN diurnal ON diurnal.pollutant = located.pollutant AND diurnal.local_hour = hour(located.local_time)
    LEFT JOIN ({_planted_effects_sql()}) AS planted
        ON planted.city_id = located.city_id AND planted.pollutant = located.pollutant
    WHERE hash({seed}, station_id, located.pollutant, measured_at_utc, 'drop') % 1000 >= 20
    """)


def _write_eea(
    con: duckdb.DuckDBPyConnection, root: Path, stations: list[dict], seed: int, last_year: int
) -> dict:
    """One e-Reporting CSV per station and year, rows shuffled, PM10 of every first station twice
    (two SamplingProcess ids, as in the real export; the copy is sometimes flagged invalid)."""
    codes = ", ".join(
        f"({sql_literal(p)}, {sql_literal(name)}, {code})" for p, name, code, _, _ in POLLUTANTS
    )
    con.execute(f"""
    CREATE TABLE demo_eea_rows AS
    SELECT
        r.station_id, r.year,
        hash({seed}, r.station_id, r.pollutant, r.measured_at_utc, copies.copy_number) AS shuffle_key,
        r.iso2 AS "Countrycode",
        r.iso2 || '.DEMO.AQ' AS "Namespace",
        'NET-' || r.iso2 || '-DEMO' AS "AirQualityNetwork",
        'STA-' || r.station_id AS "AirQualityStation",
        r.station_id AS "AirQualityStationEoICode",
        'SPO-' || r.station_id || '_' || lpad(codes.code::VARCHAR, 5, '0') || '_100' AS "SamplingPoint",
        'SPP-' || r.station_id || '_' || lpad(codes.code::VARCHAR, 5, '0')
            || CASE WHEN copies.copy_number = 1 THEN '_1' ELSE '' END AS "SamplingProcess",
        'SAM-' || r.station_id || '_' || lpad(codes.code::VARCHAR, 5, '0') AS "Sample",
        codes.eea_name AS "AirPollutant",
        'http://dd.eionet.europa.eu/vocabulary/aq/pollutant/' || codes.code AS "AirPollutantCode",
        'hour' AS "AveragingTime",
        r.value_ug_m3 AS "Concentration",
        'µg/m3' AS "UnitOfMeasurement",
        strftime(r.local_time, '%Y-%m-%d %H:%M:%S') || ' {EEA_OFFSET}' AS "DatetimeBegin",
        strftime(r.local_time + INTERVAL 1 HOUR, '%Y-%m-%d %H:%M:%S') || ' {EEA_OFFSET}' AS "DatetimeEnd",
        CASE WHEN r.is_flagged_invalid THEN -1
             WHEN copies.copy_number = 1
                AND hash({seed}, r.station_id, r.measured_at_utc, 'copy') % 100 = 0 THEN -1
             WHEN r.value_ug_m3 < 1 THEN 2
             ELSE 1 END AS "Validity",
        CASE WHEN r.year = {last_year} THEN 2 ELSE 1 END AS "Verification"
    FROM demo_readings AS r
    JOIN (VALUES {codes}) AS codes(pollutant, eea_name, code) USING (pollutant)
    CROSS JOIN (VALUES (0), (1)) AS copies(copy_number)
    WHERE r.source = 'eea_air'
        AND (copies.copy_number = 0
             OR (r.station_number = 1 AND r.pollutant = 'pm10' AND r.city_number % 2 = 1))
    ORDER BY r.station_id, r.year
    """)
    eea_root = root / "eea_air"
    files = con.sql(
        'SELECT DISTINCT station_id, year, "Countrycode" FROM demo_eea_rows ORDER BY ALL'
    ).fetchall()
    for station_id, year, iso2 in files:
        target = eea_root / str(year) / f"{iso2}_{station_id}_{year}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"""
        COPY (
            SELECT * EXCLUDE (station_id, year, shuffle_key) FROM demo_eea_rows
            WHERE station_id = {sql_literal(station_id)} AND year = {year}
            ORDER BY shuffle_key
        ) TO {sql_literal(str(target))} (FORMAT csv, HEADER true, DELIMITER ',')
        """)
    service_files = _write_eea_download_service(con, eea_root / DOWNLOAD_SERVICE_DIR, stations)
    # one row per sampling point: the download service's files name the sampling point, not the station
    con.execute(f"""
    COPY (
        SELECT DISTINCT "Countrycode" || '/' || "SamplingPoint" AS sampling_point, station_id, stations.city_id
        FROM demo_eea_rows JOIN ({_station_cities_sql(stations)}) AS stations USING (station_id)
        ORDER BY ALL
    ) TO {sql_literal(str(eea_root / "stations.csv"))} (FORMAT csv, HEADER true)
    """)
    rows = con.sql("SELECT count(*) FROM demo_eea_rows").fetchone()[0]
    return {"eea_files": len(files), "eea_rows": rows, "eea_download_service_files": service_files}


def _station_cities_sql(stations: list[dict]) -> str:
    eea = [s for s in stations if s["source"] == "eea_air"]
    columns = ["station_id", "city_id", "city_name"]
    if not eea:  # a demo of Asian cities only
        return "SELECT " + ", ".join(f"NULL::VARCHAR AS {column}" for column in columns) + " WHERE false"
    return f"SELECT * FROM (VALUES {_values(eea, columns)}) AS t({', '.join(columns)})"


def _write_eea_download_service(con: duckdb.DuckDBPyConnection, root: Path, stations: list[dict]) -> int:
    """The same readings as the e-Reporting CSVs, as the EEA Air Quality Download Service serves
    them (the demo feed server's `/eea/`): one Parquet file per dataset and sampling point, in the
    layout `citypeers.feeds.eea_air` reads (Start/End naive on the UTC+1 clock, Pollutant as the
    vocabulary id, Value DECIMAL(38,18)). Verified rows (Verification 1) are dataset E1a, the last
    year's preliminary rows E2a, as the service splits them. `files.json` indexes the files by
    dataset, country, city, pollutant and the UTC hours they cover, which the server's urls
    endpoint filters on. Rows are in time order, so each file's bytes depend only on the seed."""
    con.execute(f"""
    CREATE TABLE demo_eea_service_rows AS
    SELECT
        CASE WHEN "Verification" = 1 THEN 'E1a' ELSE 'E2a' END AS dataset,
        "Countrycode" AS country,
        stations.city_name,
        "AirPollutant" AS notation,
        "Countrycode" || '/' || "SamplingPoint" AS "Samplingpoint",
        CAST(regexp_extract("AirPollutantCode", '(\\d+)$', 1) AS INTEGER) AS "Pollutant",
        CAST(left("DatetimeBegin", 19) AS TIMESTAMP) AS "Start",
        CAST(left("DatetimeEnd", 19) AS TIMESTAMP) AS "End",
        CAST("Concentration" AS DECIMAL(38, 18)) AS "Value",
        'ug.m-3' AS "Unit",
        "AveragingTime" AS "AggType",
        CAST("Validity" AS INTEGER) AS "Validity",
        CAST("Verification" AS INTEGER) AS "Verification",
        CASE WHEN "Verification" = 1 THEN make_timestamp(year + 1, 9, 30, 0, 0, 0)
             ELSE CAST(left("DatetimeEnd", 19) AS TIMESTAMP) + INTERVAL 1 HOUR END AS "ResultTime",
        NULL::DECIMAL(38, 18) AS "DataCapture",
        "SamplingProcess" AS "FkObservationLog"
    FROM demo_eea_rows
    JOIN ({_station_cities_sql(stations)}) AS stations USING (station_id)
    ORDER BY dataset, "Samplingpoint", "Start", "FkObservationLog"
    """)
    files = con.sql(f"""
        SELECT dataset, country, city_name, notation, "Pollutant", "Samplingpoint",
            strftime(min("Start") - {DOWNLOAD_SERVICE_UTC_OFFSET}, '%Y-%m-%dT%H:%M:%SZ'),
            strftime(max("Start") - {DOWNLOAD_SERVICE_UTC_OFFSET}, '%Y-%m-%dT%H:%M:%SZ')
        FROM demo_eea_service_rows GROUP BY ALL ORDER BY ALL
    """).fetchall()
    index = []
    for dataset, country, city_name, notation, pollutant_id, sampling_point, first_hour, last_hour in files:
        relative = f"{dataset}/{sampling_point}.parquet"  # the sampling point starts with its country
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"""
        COPY (
            SELECT * EXCLUDE (dataset, country, city_name, notation) FROM demo_eea_service_rows
            WHERE dataset = {sql_literal(dataset)} AND "Samplingpoint" = {sql_literal(sampling_point)}
            ORDER BY "Start", "FkObservationLog"
        ) TO {sql_literal(str(target))} (FORMAT parquet)
        """)
        index.append({
            "dataset": dataset, "country": country, "city": city_name, "pollutant": notation,
            "pollutant_id": pollutant_id, "sampling_point": sampling_point, "file": relative,
            "first_hour_utc": first_hour, "last_hour_utc": last_hour,
        })
    root.mkdir(parents=True, exist_ok=True)
    (root / DOWNLOAD_SERVICE_INDEX).write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(index)


def _write_stations_csv(path: Path, stations: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["station_id", "city_id"])
        writer.writerows((s["station_id"], s["city_id"]) for s in stations)


def _source_unit(pollutant: str, no2_unit: str) -> str:
    return no2_unit if pollutant == "no2" else "µg/m³"


def _write_openaq(con: duckdb.DuckDBPyConnection, root: Path, stations: list[dict]) -> dict:
    """The dataset the demo OpenAQ server serves: locations.json (API-shaped) and a measurements
    Parquet in each sensor's own unit (NO₂ in ppb or ppm for some cities)."""
    openaq_stations = [s for s in stations if s["source"] == "openaq_air"]
    openaq_root = root / "openaq_air"
    openaq_root.mkdir(parents=True, exist_ok=True)
    sensors = [
        {
            "sensor_id": s["location_id"] * 10 + index,
            "location_id": s["location_id"],
            "pollutant": pollutant,
            "unit": _source_unit(pollutant, s["no2_unit"]),
            "from_ug_m3": 1 / conversion_factor(_source_unit(pollutant, s["no2_unit"]), pollutant),
            "decimals": 3 if _source_unit(pollutant, s["no2_unit"]) == "ppm" else 1,
        }
        for s in openaq_stations
        for index, (pollutant, *_rest) in enumerate(POLLUTANTS, start=1)
    ]
    target = openaq_root / "measurements.parquet"
    if sensors:
        columns = ["sensor_id", "location_id", "pollutant", "from_ug_m3", "decimals"]
        con.execute(f"""
        COPY (
            SELECT s.sensor_id, r.measured_at_utc AS datetime_utc,
                round(r.value_ug_m3 * s.from_ug_m3, s.decimals) AS value,
                r.is_flagged_invalid AS has_flags
            FROM demo_readings AS r
            JOIN (VALUES {_values(sensors, columns)}) AS s({", ".join(columns)})
                ON r.location_id = s.location_id AND r.pollutant = s.pollutant
            WHERE r.source = 'openaq_air'
            ORDER BY s.sensor_id, datetime_utc
        ) TO {sql_literal(str(target))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)
        """)
    units_by_sensor = {sensor["sensor_id"]: sensor["unit"] for sensor in sensors}
    locations = [_location(s, units_by_sensor) for s in openaq_stations]
    (openaq_root / "locations.json").write_text(
        json.dumps(locations, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    _write_stations_csv(openaq_root / "stations.csv", openaq_stations)
    rows = (
        con.sql(f"SELECT count(*) FROM read_parquet({sql_literal(str(target))})").fetchone()[0]
        if sensors
        else 0
    )
    return {"openaq_locations": len(locations), "openaq_sensors": len(sensors), "openaq_measurements": rows}


def _location(station: dict, units_by_sensor: dict[int, str]) -> dict:
    """A location object shaped like OpenAQ v3 `/locations` results."""
    kind = "Traffic" if station["station_number"] == 1 else "Urban Background"
    sensors = []
    for index, (pollutant, _, _, parameter_id, display) in enumerate(POLLUTANTS, start=1):
        sensor_id = station["location_id"] * 10 + index
        unit = units_by_sensor[sensor_id]
        sensors.append(
            {
                "id": sensor_id,
                "name": f"{pollutant} {unit}",
                "parameter": {"id": parameter_id, "name": pollutant, "units": unit, "displayName": display},
            }
        )
    return {
        "id": station["location_id"],
        "name": f"{station['city_name']} {kind} (demo)",
        "locality": station["city_name"],
        "timezone": station["timezone"],
        "country": {"id": None, "code": station["iso2"], "name": None},
        "owner": {"id": 0, "name": "citypeers demo"},
        "provider": {"id": 0, "name": "citypeers demo"},
        "isMobile": False,
        "isMonitor": True,
        "instruments": [{"id": 2, "name": "Government Monitor"}],
        "sensors": sensors,
        "coordinates": {"latitude": station["latitude"], "longitude": station["longitude"]},
        "bounds": [station["longitude"], station["latitude"], station["longitude"], station["latitude"]],
        "distance": None,
        "licenses": None,
    }


def _size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def generate(
    home: Path,
    *,
    years: tuple[int, ...] = (2023, 2024, 2025),
    cities: list[str] | None = None,
    stations_per_city: int = 2,
    seed: int = 37,
) -> dict[str, Any]:
    """Write the demo feeds below `{home}/feeds/demo/` (replacing earlier ones); returns what was made."""
    started = time.perf_counter()
    years = tuple(sorted(set(years)))
    if not years or stations_per_city < 1:
        raise ValueError("need at least one year and one station per city")
    stations = _stations(cities, stations_per_city)
    root = demo_dir(home)
    for source in ("eea_air", "openaq_air"):
        shutil.rmtree(root / source, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        _build_readings(con, stations, years, seed)
        summary = {
            "home": str(home),
            "years": list(years),
            "seed": seed,
            "cities": len({s["city_id"] for s in stations}),
            "stations": len(stations),
            **_write_eea(con, root, stations, seed, years[-1]),
            **_write_openaq(con, root, stations),
        }
        city_rows = [c for c in _registry_cities() if cities is None or c["city_id"] in cities]
        summary.update(demo_gbfs.write(root, city_rows, years, seed))
        summary.update(demo_gtfs.write(root, city_rows, years, seed))
        summary.update(demo_sdmx_csv.write(root, city_rows, years, seed))
        summary.update(demo_indicator_template.write(root, city_rows, years, seed))
        summary.update(demo_wide_table.write(root, city_rows, years, seed))
        summary.update(demo_practices.write(root, city_rows))
    finally:
        con.close()
    summary["bytes"] = _size(root)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


def demo_city_month_means(
    *,
    years: tuple[int, ...] = (2023, 2024, 2025),
    seed: int = 37,
    cities: list[str] | None = None,
    pollutants: tuple[str, ...] | None = None,
    stations_per_city: int = 2,
) -> pd.DataFrame:
    """City-month means of the demo readings, computed in memory (no files written): the series
    the impact estimator sees, for seeded tests without running the pipeline.

    A simplified twin of `fct_city_indicator_monthly`: a station-day counts with >= 18 valid hours;
    a station-month meets the rule with >= 75% of the month's days counting; the city-month is the
    mean of the station-month means that meet it (`is_valid`), else the mean of all station-months
    (`is_valid` false). Returns city_id, pollutant, period_start (first day of the month), value
    (µg/m³), is_valid.
    """
    years = tuple(sorted(set(years)))
    stations = _stations(cities, stations_per_city)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        _build_readings(con, stations, years, seed, pollutants)
        return con.sql(f"""
        WITH station_days AS (
            SELECT city_id, station_id, pollutant, date_trunc('month', local_time)::DATE AS period_start,
                local_time::DATE AS local_date,
                avg(value_ug_m3) FILTER (WHERE NOT is_flagged_invalid) AS day_mean,
                count(*) FILTER (WHERE NOT is_flagged_invalid) >= 18 AS is_valid_day
            FROM demo_readings
            GROUP BY ALL
        ),
        station_months AS (
            SELECT city_id, station_id, pollutant, period_start,
                avg(day_mean) FILTER (WHERE is_valid_day) AS month_mean,
                count(*) FILTER (WHERE is_valid_day) >= 0.75 * day(last_day(period_start)) AS meets_rule
            FROM station_days
            GROUP BY city_id, station_id, pollutant, period_start
        )
        SELECT city_id, pollutant, period_start,
            coalesce(avg(month_mean) FILTER (WHERE meets_rule), avg(month_mean)) AS value,
            coalesce(bool_or(meets_rule), false) AS is_valid
        FROM station_months
        WHERE year(period_start) BETWEEN {years[0]} AND {years[-1]}
        GROUP BY ALL
        ORDER BY ALL
        """).df()
    finally:
        con.close()
