"""Demo data: deterministic, every registry city covered, and completeness failures where planted."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from citypeers import paths, registry
from citypeers.demo import generate
from citypeers.demo.generator import demo_city_month_means, read_air_levels
from citypeers.feeds import eea_air
from citypeers.feeds.payloads import LandedPayload
from citypeers.intervals import Interval
from citypeers.registry import Feed

SUBSET = ["madrid", "valencia", "seoul", "delhi"]
YEARS = (2023, 2024, 2025)


def _digests(home: Path) -> dict[str, str]:
    root = home / "feeds" / "demo"
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _stations(home: Path) -> dict[str, str]:
    stations = {}
    for source in ("eea_air", "openaq_air"):
        with (home / "feeds" / "demo" / source / "stations.csv").open(encoding="utf-8") as handle:
            stations.update({row["station_id"]: row["city_id"] for row in csv.DictReader(handle)})
    return stations


def _register_hours(con: duckdb.DuckDBPyConnection, home: Path) -> None:
    """Every reported hour of the demo feeds as (station_id, pollutant, local_date, is_valid), read
    straight from the generated files, the EEA duplicates collapsed as the parser does."""
    root = home / "feeds" / "demo"
    zones = ", ".join(
        f"({location['id']}, '{location['timezone']}')"
        for location in json.loads((root / "openaq_air" / "locations.json").read_text(encoding="utf-8"))
    )
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"""
    CREATE TABLE hours AS
    SELECT station_id, pollutant, CAST(left(begins, 10) AS DATE) AS local_date, is_valid
    FROM (
        SELECT AirQualityStationEoICode AS station_id, AirPollutant AS pollutant, DatetimeBegin AS begins,
            max(Validity) > 0 AS is_valid
        FROM read_csv('{root}/eea_air/*/*.csv', header = true)
        GROUP BY ALL
    )
    UNION ALL
    SELECT CAST(sensor_id // 10 AS VARCHAR), CAST(sensor_id % 10 AS VARCHAR),
        CAST(timezone(zones.zone, datetime_utc::TIMESTAMPTZ) AS DATE), NOT has_flags
    FROM read_parquet('{root}/openaq_air/measurements.parquet')
    JOIN (VALUES {zones}) AS zones(location_id, zone) ON sensor_id // 10 = zones.location_id
    """)


def _completeness(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, bool, bool]]:
    """(station_id, year, has 75% valid days, every quarter half covered) per station, pollutant and
    year: a day counts with >= 18 valid hours."""
    return con.sql("""
    WITH days AS (
        SELECT station_id, pollutant, local_date, count(*) FILTER (is_valid) AS valid_hours
        FROM hours GROUP BY ALL
    ),
    quarters AS (
        SELECT station_id, pollutant, year(local_date) AS year, quarter(local_date) AS quarter,
            count(*) FILTER (valid_hours >= 18) AS valid_days,
            datediff('day', date_trunc('quarter', min(local_date)),
                     date_trunc('quarter', min(local_date)) + INTERVAL 3 MONTH) AS days_in_quarter
        FROM days WHERE year(local_date) BETWEEN 2023 AND 2025 GROUP BY ALL
    )
    SELECT station_id, year,
        sum(valid_days) >= 0.75 * (CASE WHEN year % 4 = 0 THEN 366 ELSE 365 END) AS has_enough_days,
        count(*) = 4 AND bool_and(valid_days >= days_in_quarter / 2) AS covers_every_quarter
    FROM quarters GROUP BY station_id, pollutant, year
    """).fetchall()


@pytest.fixture(scope="module")
def subset_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("subset")
    summary = generate(home, years=YEARS, cities=SUBSET)
    return home, summary


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path):
    first, second, other = tmp_path / "first", tmp_path / "second", tmp_path / "other"
    generate(first, years=(2024,), cities=["valencia", "seoul"])
    generate(second, years=(2024,), cities=["valencia", "seoul"])
    generate(other, years=(2024,), cities=["valencia", "seoul"], seed=38)
    assert _digests(first) == _digests(second)
    # 2 EEA files + stations.csv, locations.json, Parquet, stations.csv; 2 GBFS snapshots of 4 files and the
    # GBFS systems file; 2 GTFS zips and their urls.csv; 2 SDMX-CSV; the indicator template's year file; the
    # wide waste table; the practices registry; the download service's files.json and 2 stations x 3
    # pollutants Parquet files (E2a: 2024 is the last year)
    assert len(_digests(first)) == 6 + 8 + 1 + 3 + 2 + 1 + 1 + 1 + 1 + 6
    changed = {name for name, digest in _digests(other).items() if _digests(first)[name] != digest}
    assert {"eea_air/2024/ES_ES9031A_2024.csv", "eea_air/download_service/E2a/ES/SPO-ES9031A_06001_100.parquet",
            "openaq_air/measurements.parquet",
            "gbfs/2024/seoul/station_status.json", "gtfs/2024/valencia.zip", "sdmx_csv/water.csv",
            "sdmx_csv/noise.csv", "indicator_template/2024.csv", "wide_table/waste_cities.csv"} <= changed


def test_every_city_in_the_registry_has_air_levels_and_the_source_of_its_region():
    levels = read_air_levels()
    seed = paths.dbt_project_dir() / "seeds" / "cities.csv"
    with seed.open(encoding="utf-8") as handle:
        for city in csv.DictReader(handle):
            level = levels[city["city_id"]]
            expected = "eea_air" if city["region"].endswith("Europe") else "openaq_air"
            assert level["feed_source"] == expected, city["city_id"]
            assert 0 < float(level["pm25_ug_m3"]) < float(level["pm10_ug_m3"]), city["city_id"]


def test_every_city_in_the_registry_gets_data(tmp_path):
    summary = generate(tmp_path, years=(2024,), stations_per_city=1)
    stations = _stations(tmp_path)
    assert set(stations.values()) == registry.city_ids()
    con = duckdb.connect()
    _register_hours(con, tmp_path)
    rows_per_station = dict(con.sql("SELECT station_id, count(*) FROM hours GROUP BY ALL").fetchall())
    assert set(rows_per_station) == set(stations)
    assert min(rows_per_station.values()) > 0.6 * 3 * 8784  # three pollutants, most hours of a leap year
    assert summary["cities"] == len(registry.city_ids())


def test_planted_station_years_fail_completeness_and_the_others_pass(subset_home):
    home, _ = subset_home
    stations = _stations(home)
    con = duckdb.connect()
    _register_hours(con, home)
    results = _completeness(con)
    failing = {(station, year) for station, year, days, quarters in results if not (days and quarters)}
    by_city = {(stations[station], station[-2:], year) for station, year in failing}
    assert by_city == {
        ("madrid", "1A", 2024),  # station 1 loses 1 Jan - 10 Mar of the middle year
        ("valencia", "2A", 2025),  # station 2 flagged invalid June - early September of the last year
        ("seoul", "92", 2023),  # station 2 misses 30% of the days of the first year
        ("delhi", "21", 2025),  # every Delhi station starts in May of the last year
        ("delhi", "22", 2025),
    }
    assert len(results) == len(stations) * 3 * 3 and len(failing) / (len(stations) * 3) < 0.25


def test_station_losing_most_of_q1_fails_on_the_quarter_rule_alone(subset_home):
    home, _ = subset_home
    con = duckdb.connect()
    _register_hours(con, home)
    madrid_2024 = {
        (days, quarters)
        for station, year, days, quarters in _completeness(con)
        if station == "ES9011A" and year == 2024
    }
    assert madrid_2024 == {(True, False)}


def test_demo_eea_files_parse_cleanly_with_duplicate_processes_collapsed(subset_home):
    home, _ = subset_home
    files = sorted((home / "feeds" / "demo" / "eea_air" / "2024").glob("ES_ES9011A_2024.csv"))
    payloads = [
        LandedPayload(path=f, sha256=hashlib.sha256(f.read_bytes()).hexdigest(), request=str(f))
        for f in files
    ]
    feed = Feed(
        feed_id="demo_europe",
        source="eea_air",
        location="unused",
        schedule="@yearly",
        stations=_stations(home),
    )
    con = duckdb.connect()
    rows = eea_air.parse(con, payloads, feed, Interval.of("2024-01-01", "2025-01-01"))
    file_rows = con.sql(f"SELECT count(*) FROM read_csv('{files[0]}')").fetchone()[0]
    parsed, distinct, errors, cities = rows.aggregate(
        "count(*), count(DISTINCT (pollutant, measured_at_utc)), count(parse_error), list(DISTINCT city_id)"
    ).fetchone()
    assert parsed == distinct < file_rows and errors == 0 and cities == ["madrid"]


def test_generation_of_the_test_subset_writes_every_file_it_reports(subset_home):
    # (its time is reported in the summary, never asserted: speed belongs to the benchmarks)
    _, summary = subset_home
    assert summary["seconds"] > 0 and summary["eea_files"] == 2 * 2 * 3 and summary["openaq_sensors"] == 12


def test_each_hour_is_reported_once_per_sampling_process_and_sensor_across_year_boundaries(subset_home):
    home, _ = subset_home
    root = home / "feeds" / "demo"
    eea_repeats, openaq_repeats = duckdb.sql(f"""
        SELECT
            (SELECT count(*) - count(DISTINCT (
                AirQualityStationEoICode, AirPollutant, SamplingProcess, DatetimeBegin))
             FROM read_csv('{root}/eea_air/*/*.csv', header = true)),
            (SELECT count(*) - count(DISTINCT (sensor_id, datetime_utc))
             FROM read_parquet('{root}/openaq_air/measurements.parquet'))
    """).fetchone()
    assert (eea_repeats, openaq_repeats) == (0, 0)


def test_demo_city_month_means_have_only_the_pollutants_asked_and_the_planted_gaps():
    means = demo_city_month_means(years=(2025,), cities=["athens", "seville"], pollutants=("no2",))
    assert set(means["pollutant"]) == {"no2"}
    seville = means[means["city_id"] == "seville"]
    assert len(seville) == 12 and seville["is_valid"].all()
    athens = means[means["city_id"] == "athens"]  # city_starts_in_may: nothing before 1 May of the last year
    assert [d.month for d in athens["period_start"]] == list(range(5, 13)) and athens["is_valid"].all()


def test_demo_city_month_means_show_the_planted_practice_step():
    means = demo_city_month_means(years=(2024, 2025), cities=["barcelona"], pollutants=("no2",))
    by_year = means.groupby(means["period_start"].map(lambda d: d.year))["value"].mean()
    assert 0.78 < by_year[2025] / by_year[2024] < 0.92  # planted -15% from 2025-01-01, plus weather
