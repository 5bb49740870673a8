"""End-to-end dbt build on small synthetic parsed Parquet files.

Writes parsed files for both air sources and for two indicator sources (indicator_template, gtfs)
into a temporary CITYPEERS_HOME exactly where the pipeline would
(parsed/<source>/<feed_id>/<period>.parquet, plus the zero-row _schema.parquet), runs `dbt seed`
and `dbt build` (data tests and unit tests included) into a temporary build warehouse, and checks
the contracted marts. dbt's own unit tests cover the rules row by row; this test protects the
wiring: sources found by glob, overlap dedup, station -> city -> mart, indicator observations ->
dedup across feeds -> context per year -> rates -> mart, and dim_city's latest context.

The synthetic air deliveries (hourly, local_date = UTC date) are listed in SYNTHETIC_DELIVERIES,
the indicator observations in SYNTHETIC_OBSERVATIONS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from tests.citypeers_home import temporary_home

from citypeers.feeds.notices import Notices
from citypeers.warehouse import prepare_build, validate_marts

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"

# One parsed file each: every hour in [first_hour, end_hour) valid, at a constant pm25 value.
SYNTHETIC_DELIVERIES = [
    # madrid: a full year, then an overlapping monthly run re-delivering December at 22.0.
    {"source": "eea_air", "feed_id": "test_europe", "period": "2023", "station_id": "ES0001A",
     "city_id": "madrid", "first_hour": "2023-01-01", "end_hour": "2024-01-01", "value": 10.0},
    {"source": "eea_air", "feed_id": "test_europe", "period": "2023-12", "station_id": "ES0001A",
     "city_id": "madrid", "first_hour": "2023-12-01", "end_hour": "2024-01-01", "value": 22.0},
    # madrid: a second station measuring only January and February -> below the rule.
    {"source": "eea_air", "feed_id": "test_europe", "period": "2023-01-01_2023-03-01",
     "station_id": "ES0002A", "city_id": "madrid", "first_hour": "2023-01-01",
     "end_hour": "2023-03-01", "value": 50.0},
    # tokyo: 2023 only from March (Q1 missing -> flagged), 2024 complete (a leap year).
    {"source": "openaq_air", "feed_id": "test_asia", "period": "2023", "station_id": "1001",
     "city_id": "tokyo", "first_hour": "2023-03-01", "end_hour": "2024-01-01", "value": 8.0},
    {"source": "openaq_air", "feed_id": "test_asia", "period": "2024", "station_id": "1001",
     "city_id": "tokyo", "first_hour": "2024-01-01", "end_hour": "2025-01-01", "value": 8.0},
    # tokyo: six hours of 2025 (as a UTC interval spills into the next local year): no valid day.
    {"source": "openaq_air", "feed_id": "test_asia", "period": "2025-01-01", "station_id": "1001",
     "city_id": "tokyo", "first_hour": "2025-01-01 00:00", "end_hour": "2025-01-01 06:00", "value": 8.0},
]  # fmt: skip

# Parsed indicator observations: (source, feed_id, period) -> rows of
# (city_id, indicator_code, year, value, unit, basis). Hand-computed expectations in the tests.
SYNTHETIC_OBSERVATIONS = {
    # A backfill of the template feed over five years.
    ("indicator_template", "test_template", "2020-01-01_2025-01-01"): [
        ("madrid", "msw_recycled_share", 2023, 58.0, "percent", "rate"),
        # Loses to the gtfs feed's yearly run (period '2024' > '2020-01-01_2025-01-01').
        ("madrid", "pt_stops_per_km2", 2024, 9.0, "transit_stop / km ** 2", "rate"),
        # Context: madrid's 2024 population (the seed has 3332035 of 2023).
        ("madrid", "population", 2024, 3400000.0, "resident", "rate"),
    ],
    ("gtfs", "test_gtfs", "2024"): [
        # 6040 stops / 604 km² (the seed's area) = 10 stops per km².
        ("madrid", "pt_stops_per_km2", 2024, 6040.0, "transit_stop / km ** 2", "total"),
        # 340000 departures a week (x 1000: per thousand residents) / 3400000 residents (2024) = 100.
        ("madrid", "pt_departures_per_1000", 2024, 340000000.0, "departure / week / thousand_residents", "total"),
    ],
    ("gtfs", "test_gtfs", "2023"): [
        # tokyo has no 2023 population: the seed's 2020 figure 14047594 is used, flagged.
        ("tokyo", "pt_departures_per_1000", 2023, 1404759400.0, "departure / week / thousand_residents", "total"),
    ],
}  # fmt: skip

PARSED_COLUMNS = """
    cast(source as varchar) as source,
    cast(feed_id as varchar) as feed_id,
    cast(period as varchar) as period,
    cast(station_id as varchar) as station_id,
    cast(city_id as varchar) as city_id,
    cast(pollutant as varchar) as pollutant,
    cast(measured_at_utc as timestamp) as measured_at_utc,
    cast(measured_at_utc as date) as local_date,
    cast(value as double) as value,
    'µg/m³' as unit,
    cast(value as double) as source_value,
    'µg/m³' as source_unit,
    true as is_valid,
    'sha256-' || period as payload_sha256,
    cast(row_number() over (order by measured_at_utc) as bigint) as source_row,
    cast(null as varchar) as parse_error
"""


def _write_parsed(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    *,
    source: str,
    feed_id: str,
    period: str,
    station_id: str,
    city_id: str,
    first_hour: str,
    end_hour: str,
    value: float,
) -> None:
    """One parsed file: every hour in [first_hour, end_hour) valid at a constant value."""
    path = home / "parsed" / source / feed_id / f"{period}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"""
        copy (
            select {PARSED_COLUMNS}
            from (
                select
                    '{source}' as source, '{feed_id}' as feed_id, '{period}' as period,
                    '{station_id}' as station_id, '{city_id}' as city_id, 'pm25' as pollutant,
                    range as measured_at_utc, {value} as value
                from range(timestamp '{first_hour}', timestamp '{end_hour}', interval 1 hour)
            )
        ) to '{path}' (format parquet)
        """
    )


def _write_observations(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    source: str,
    feed_id: str,
    period: str,
    rows: list[tuple[str, str, int, float, str, str]],
) -> None:
    """One parsed indicator file with the contract's columns and types."""
    path = home / "parsed" / source / feed_id / f"{period}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    values = ", ".join(
        f"('{city}', '{code}', {year}, {value}, '{unit}', '{basis}', {number})"
        for number, (city, code, year, value, unit, basis) in enumerate(rows, start=1)
    )
    con.execute(
        f"""
        copy (
            select
                '{source}'::varchar as source, '{feed_id}'::varchar as feed_id, '{period}'::varchar as period,
                city_id::varchar as city_id, indicator_code::varchar as indicator_code,
                year::integer as year, value::double as value, unit::varchar as unit,
                basis::varchar as basis, value::double as source_value, unit::varchar as source_unit,
                'synthetic row ' || source_row as source_ref, null::varchar as note,
                'sha256-{feed_id}-{period}' as payload_sha256, source_row::bigint as source_row,
                null::varchar as parse_error
            from (values {values}) as rows(city_id, indicator_code, year, value, unit, basis, source_row)
        ) to '{path}' (format parquet)
        """
    )


# The landing manifests of two synthetic periods, one in each shape: the EEA year fetched over HTTP
# (with the response and the `changed` flag), the template backfill from a file drop as manifests
# were written before HTTP fetches (no `http`, no `changed`). Other periods have no manifest.
AIR_URL = "https://eea.example.org/files/ES0001A_2023.csv"
TEMPLATE_FILE = "/drops/template/2020-2024.csv"
MANIFESTS = {
    ("eea_air", "test_europe", "2023"): {
        "interval_start": "2023-01-01T00:00:00+00:00", "interval_end": "2024-01-01T00:00:00+00:00",
        "fetched_at": "2026-12-01T02:00:05+00:00", "changed": True,
        "payloads": [{"file": "sha256-2023.csv", "sha256": "sha256-2023", "request": AIR_URL, "bytes": 4096,
                      "http": {"url": AIR_URL, "status": 200, "etag": '"v1"', "last_modified": None,
                               "content_type": "text/csv", "bytes": 4096,
                               "fetched_at": "2026-12-01T03:00:01+01:00", "elapsed_ms": 35.0}}],
    },
    ("indicator_template", "test_template", "2020-01-01_2025-01-01"): {
        "interval_start": "2020-01-01T00:00:00+00:00", "interval_end": "2025-01-01T00:00:00+00:00",
        "fetched_at": "2026-11-30T10:00:00+00:00",
        "payloads": [{"file": "t.csv", "sha256": "sha256-test_template-2020-01-01_2025-01-01",
                      "request": TEMPLATE_FILE, "bytes": 512}],
    },
}  # fmt: skip
TEST_REGISTRY = """
feeds:
  - {feed_id: test_europe, source: eea_air, location: "https://eea.example.org/files/", schedule: "@yearly",
     city_id: madrid, demo: true}
  - {feed_id: test_template, source: indicator_template, location: /drops/template/*.csv, schedule: "0 6 * * 1"}
"""


def _write_manifests(home: Path) -> None:
    for (source, feed_id, period), manifest in MANIFESTS.items():
        folder = home / "landing" / source / feed_id / period
        folder.mkdir(parents=True, exist_ok=True)
        body = {"feed_id": feed_id, "source": source, **manifest}
        (folder / "fetch.json").write_text(json.dumps(body, indent=2), encoding="utf-8")


def _dbt(*args: str, env: dict[str, str], target_path: Path) -> str:
    command = [
        str(DBT),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        # Keep artifacts out of dbt_project/target (the Airflow DAG reads the manifest there).
        "--target-path",
        str(target_path),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    output = f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"dbt {args[0]} failed:\n{output}"
    return result.stdout


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("citypeers_home")
    build_db = home / "warehouse" / "build.duckdb"
    build_db.parent.mkdir(parents=True)

    registry = home / "feeds.yml"
    registry.write_text(TEST_REGISTRY, encoding="utf-8")
    previous_registry = os.environ.get("CITYPEERS_FEEDS")
    os.environ["CITYPEERS_FEEDS"] = str(registry)
    try:
        with temporary_home(home):
            prepare_build()  # what the pipeline does before every build: schema files, feeds table
    finally:
        if previous_registry is None:
            os.environ.pop("CITYPEERS_FEEDS")
        else:
            os.environ["CITYPEERS_FEEDS"] = previous_registry
    _write_manifests(home)
    with temporary_home(home):
        notices = Notices("test_gtfs", "2024")
        notices.add("madrid.zip/stop_times.txt", "foreign_key_violation", "flagged",
                    "'S9' is not in stops.txt; row left out", row=4, field="stop_id")
        notices.add("madrid.zip/routes.txt", "missing_required_column", "notice", "no route_type", row=1,
                    field="route_type")
        notices.write("gtfs")
    con = duckdb.connect()
    for delivery in SYNTHETIC_DELIVERIES:
        _write_parsed(con, home, **delivery)
    for (source, feed_id, period), rows in SYNTHETIC_OBSERVATIONS.items():
        _write_observations(con, home, source, feed_id, period, rows)
    con.close()

    env = {
        **os.environ,
        "CITYPEERS_HOME": str(home),
        "CITYPEERS_BUILD_DB": str(build_db),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_PATH": str(home / "dbt_logs"),
        "DBT_EXCLUDE_RESOURCE_TYPES": "",  # the pipeline skips the unit tests; these builds run them
        "PATH": f"{DBT.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    target_path = home / "dbt_target"
    _dbt("seed", env=env, target_path=target_path)
    _dbt("build", env=env, target_path=target_path)
    return build_db


@pytest.fixture(scope="module")
def mart_rows(built_warehouse: Path) -> dict[tuple[str, int], dict]:
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        cursor = con.execute(
            "select * from fct_city_indicator_annual where indicator_code = 'pm25_annual_mean'"
        )
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {(row["city_id"], row["year"]): row for row in rows}


def test_the_test_build_runs_every_dbt_unit_test(built_warehouse):
    """Pipeline builds leave dbt's unit tests out (DBT_EXCLUDE_RESOURCE_TYPES): this build is where they run."""
    run_results = built_warehouse.parent.parent / "dbt_target" / "run_results.json"
    results = json.loads(run_results.read_text(encoding="utf-8"))["results"]
    unit_tests = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert len(unit_tests) >= 20
    assert set(unit_tests.values()) == {"pass"}


def test_feed_notices_reach_their_mart_worst_first(built_warehouse):
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        rows = con.execute(
            "select feed_id, ingest_period, file_name, file_row, field_name, notice_code, severity, severity_rank "
            "from fct_feed_notices order by severity_rank").fetchall()
    assert rows == [
        ("test_gtfs", "2024", "madrid.zip/stop_times.txt", 4, "stop_id", "foreign_key_violation", "flagged", 2),
        ("test_gtfs", "2024", "madrid.zip/routes.txt", 1, "route_type", "missing_required_column", "notice", 3),
    ]


def test_mart_has_one_row_per_city_year_with_a_valid_day(mart_rows):
    # tokyo 2025 (six hours, no valid day) has no value and no row.
    assert sorted(mart_rows) == [("madrid", 2023), ("tokyo", 2023), ("tokyo", 2024)]


def test_overlapping_periods_do_not_duplicate_hours(built_warehouse, mart_rows):
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        hours, distinct_hours, december_periods = con.execute(
            """
            select
                count(*),
                count(distinct measured_at_utc),
                string_agg(distinct ingest_period, ',')
                    filter (where measured_at_utc >= timestamp '2023-12-01')
            from stg_eea_air__measurements
            where station_id = 'ES0001A'
            """
        ).fetchone()
        max_valid_hours = con.execute(
            "select max(valid_hour_count) from int_air_readings_aggregated_to_daily"
        ).fetchone()[0]
    assert hours == distinct_hours == 8760
    assert december_periods == "2023-12"  # the latest period's rows win
    assert max_valid_hours == 24
    # December at 22.0 (monthly run) instead of 10.0; the Jan-Feb-only station is left out.
    assert mart_rows[("madrid", 2023)]["value"] == pytest.approx((334 * 10.0 + 31 * 22.0) / 365)


def test_city_value_leaves_out_station_years_below_rule(mart_rows):
    madrid = mart_rows[("madrid", 2023)]
    assert madrid["station_count"] == 2
    assert madrid["stations_meeting_rule"] == 1
    assert madrid["meets_completeness_rule"] is True
    assert madrid["quality_flag"] == "ok"
    assert madrid["quality_note"] is None
    assert madrid["highest_target_met"] == "who_2021_it3"  # 11.0 <= 15
    assert madrid["next_target"] == "who_2021_it4"
    assert madrid["gap_to_next_target"] == pytest.approx(madrid["value"] - 10.0)


def test_year_missing_a_quarter_is_kept_and_flagged_with_its_reason(mart_rows):
    tokyo = mart_rows[("tokyo", 2023)]
    assert tokyo["value"] == pytest.approx(8.0)
    assert tokyo["meets_completeness_rule"] is False
    assert tokyo["quality_flag"] == "below_completeness_rule"
    assert tokyo["quality_note"] == (
        "no station meets the completeness rule (0 of 1); best-covered station 1001: "
        "Q1 only 34% covered (rule: 50% each quarter)"
    )
    assert str(tokyo["year_start"]) == "2023-01-01"


def test_views_still_resolve_when_the_warehouse_is_published_under_another_name(built_warehouse, tmp_path):
    """Publishing renames build.duckdb to citypeers.duckdb; views must not name the "build" catalog."""
    published = tmp_path / "citypeers.duckdb"
    shutil.copyfile(built_warehouse, published)
    with duckdb.connect(str(published), read_only=True) as con:
        views = [
            row[0]
            for row in con.execute("select view_name from duckdb_views() where not internal").fetchall()
        ]
        assert "int_air_readings_unioned" in views
        for view in views:
            con.execute(f"select count(*) from {view}").fetchone()


def test_monthly_mart_means_the_station_months_meeting_the_rule(built_warehouse):
    """fct_city_indicator_monthly: madrid January = both stations (10 and 50), March on = ES0001A,
    December = the re-delivered 22.0; tokyo starts in March 2023 and its six hours of 2025 have no
    valid day, so no row."""
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        rows = con.execute(
            "select city_id, strftime(month_start, '%Y-%m'), value, station_count, quality_flag "
            "from fct_city_indicator_monthly where indicator_code = 'pm25_annual_mean' order by all"
        ).fetchall()
    by_month = {(city, month): (value, stations, flag) for city, month, value, stations, flag in rows}
    assert by_month[("madrid", "2023-01")] == (30.0, 2, "ok")
    assert by_month[("madrid", "2023-03")] == (10.0, 1, "ok")
    assert by_month[("madrid", "2023-12")] == (22.0, 1, "ok")
    assert sum(1 for city, _ in by_month if city == "madrid") == 12
    tokyo_months = sorted(month for city, month in by_month if city == "tokyo")
    assert tokyo_months[0] == "2023-03" and tokyo_months[-1] == "2024-12" and len(tokyo_months) == 22


def test_full_leap_year_meets_rule(mart_rows):
    tokyo = mart_rows[("tokyo", 2024)]
    assert tokyo["quality_flag"] == "ok"
    assert tokyo["valid_day_share"] == pytest.approx(1.0)
    assert tokyo["highest_target_met"] == "eu_2030_limit"  # 8.0 <= 10, > 5
    assert tokyo["who_2021_guideline"] == pytest.approx(5.0)


def _rows(built_warehouse: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        cursor = con.execute(sql)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def indicator_rows(built_warehouse: Path) -> dict[tuple[str, str, int], dict]:
    rows = _rows(built_warehouse, "select * from fct_city_indicator_annual where domain != 'air_quality'")
    return {(row["city_id"], row["indicator_code"], row["year"]): row for row in rows}


def test_indicator_sources_reach_the_mart_once_per_city_indicator_year(indicator_rows):
    # Context (madrid population 2024) is not a scored indicator: not in the mart.
    assert sorted(indicator_rows) == [
        ("madrid", "msw_recycled_share", 2023),
        ("madrid", "pt_departures_per_1000", 2024),
        ("madrid", "pt_stops_per_km2", 2024),
        ("tokyo", "pt_departures_per_1000", 2023),
    ]


def test_reported_rate_passes_through_and_higher_is_better_ladder_reads_upwards(indicator_rows):
    row = indicator_rows[("madrid", "msw_recycled_share", 2023)]
    assert row["value"] == pytest.approx(58.0)
    assert (row["unit"], row["domain"], row["direction"], row["basis"]) == (
        "percent", "waste", "higher_is_better", "rate"
    )
    assert (row["quality_flag"], row["quality_note"], row["meets_completeness_rule"]) == ("ok", None, True)
    assert row["station_count"] is None and row["valid_day_share"] is None
    assert row["highest_target_met"] == "eu_2025_recycling"  # 58 >= 55
    assert row["next_target"] == "eu_2030_recycling"
    assert row["gap_to_next_target"] == pytest.approx(2.0)  # 60 - 58, still to go
    assert (row["source_names"], row["feed_ids"]) == ("indicator_template", "test_template")
    assert row["source_ref"] == "synthetic row 1"


def test_latest_period_wins_and_total_is_divided_by_the_seed_area(indicator_rows):
    row = indicator_rows[("madrid", "pt_stops_per_km2", 2024)]
    assert row["value"] == pytest.approx(6040.0 / 604)
    assert (row["basis"], row["normalised_by"], row["feed_ids"]) == ("total", "area", "test_gtfs")
    assert row["quality_flag"] == "ok"
    assert row["context_year"] is None  # the seed's area has no year
    assert row["highest_target_met"] is None and row["gap_to_next_target"] is None  # no ladder


def test_total_is_divided_by_the_same_year_population_from_a_context_observation(indicator_rows):
    row = indicator_rows[("madrid", "pt_departures_per_1000", 2024)]
    assert row["value"] == pytest.approx(340000000.0 / 3400000.0)
    assert (row["normalised_by"], row["context_year"], row["quality_flag"]) == ("population", 2024, "ok")
    assert row["derivation_note"] == (
        "city total 340000000.0 from feed test_gtfs divided by population 3400000.0 (2024, test_template)"
    )


def test_total_without_its_years_population_uses_the_nearest_year_flagged(indicator_rows):
    row = indicator_rows[("tokyo", "pt_departures_per_1000", 2023)]
    assert row["value"] == pytest.approx(1404759400.0 / 14047594)
    assert row["context_year"] == 2020
    assert row["quality_flag"] == "context_from_other_year"
    assert row["quality_note"] == "divided by the population of 2020 (no 2023 figure)"
    assert row["meets_completeness_rule"] is False


def test_air_rows_carry_domain_basis_and_feeds(mart_rows):
    madrid = mart_rows[("madrid", 2023)]
    assert (madrid["domain"], madrid["direction"], madrid["basis"]) == (
        "air_quality", "lower_is_better", "station_annual_means"
    )
    assert (madrid["source_names"], madrid["feed_ids"]) == ("eea_air", "test_europe")


def test_dim_city_takes_the_latest_context_figures(built_warehouse):
    (madrid,) = _rows(built_warehouse, "select * from dim_city where city_id = 'madrid'")
    assert (madrid["population"], madrid["population_year"], madrid["population_source"]) == (
        3400000, 2024, "test_template"
    )
    assert madrid["area_km2"] == pytest.approx(604.0)
    assert madrid["population_density"] == pytest.approx(3400000 / 604.0)
    assert (madrid["gdp_per_capita_ppp"], madrid["gdp_year"]) == (pytest.approx(55000.0), 2023)
    (seoul,) = _rows(built_warehouse, "select * from dim_city where city_id = 'seoul'")
    assert (seoul["population"], seoul["population_year"], seoul["population_source"]) == (
        9386034, 2023, "cities_seed"
    )


def test_context_mart_has_every_city_for_every_year_with_the_year_of_each_figure(built_warehouse):
    rows = _rows(built_warehouse, "select * from fct_city_context_annual")
    by_key = {(row["city_id"], row["year"]): row for row in rows}
    # Every city in every data year (2023-2025), plus its own seed baseline years (tokyo: 2020).
    assert all((city, year) in by_key for city in {row["city_id"] for row in rows} for year in (2023, 2024, 2025))
    assert len({row["city_id"] for row in rows}) == 36
    assert sorted(year for city, year in by_key if city == "tokyo") == [2020, 2023, 2024, 2025]
    assert (by_key[("madrid", 2023)]["population"], by_key[("madrid", 2023)]["population_year"]) == (3332035, 2023)
    assert by_key[("madrid", 2023)]["has_figure_from_other_year"] is False
    assert (by_key[("tokyo", 2024)]["population"], by_key[("tokyo", 2024)]["population_year"]) == (14047594, 2020)
    assert by_key[("tokyo", 2024)]["has_figure_from_other_year"] is True


def test_marts_pass_their_great_expectations_suites(built_warehouse):
    """The publish gate: per-unit value ranges and flag sets hold for every domain, not only air."""
    with temporary_home(built_warehouse.parent.parent):
        summary = validate_marts()
    assert summary["fct_city_indicator_annual"] == 3 + 4  # pm25: madrid 2023, tokyo 2023 and 2024; 4 others
    assert summary["dim_city"] == 36


def test_a_home_without_practices_builds_with_empty_practice_staging(built_warehouse):
    """No practices feed has run here: the zero-row _schema.parquet keeps the source readable."""
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        practices, practice_indicators, categories = (
            con.execute(f"select count(*) from {model}").fetchone()[0]
            for model in ("stg_practices__practices", "stg_practices__practice_indicators", "practice_categories"))
    assert (practices, practice_indicators) == (0, 0)
    assert categories >= 15


def test_a_published_air_value_is_traced_to_its_url_fetch_time_and_hash(built_warehouse):
    """Madrid's PM2.5 2023 comes from three parsed payloads (the year, the re-delivered December, the
    Jan-Feb station); the year's manifest names its URL, response and fetch time (the payload's own
    HTTP time, its +01:00 offset applied); the others have no manifest, so they say so."""
    rows = _rows(built_warehouse, """
        select ingest_period, payload_sha256, station_count, reported_hour_count, source_location, is_http,
               fetched_at, http_status, http_etag, payload_bytes, is_in_latest_fetch, is_demo
        from fct_value_sources
        where city_id = 'madrid' and indicator_code = 'pm25_annual_mean' and year = 2023
        order by ingest_period""")
    assert [(row["ingest_period"], row["payload_sha256"], row["is_in_latest_fetch"]) for row in rows] == [
        ("2023", "sha256-2023", True),
        ("2023-01-01_2023-03-01", "sha256-2023-01-01_2023-03-01", False),
        ("2023-12", "sha256-2023-12", False),
    ]
    year = rows[0]
    assert (year["source_location"], year["is_http"], year["http_status"], year["http_etag"]) == (
        AIR_URL, True, 200, '"v1"')
    assert str(year["fetched_at"]) == "2026-12-01 02:00:01"
    assert (year["payload_bytes"], year["station_count"], year["reported_hour_count"]) == (4096, 1, 334 * 24)
    assert all(row["is_demo"] for row in rows)  # test_europe is `demo: true` in the test registry
    assert rows[1]["source_location"] is None and rows[1]["fetched_at"] is None


def test_a_reported_value_is_traced_to_its_file_from_a_manifest_without_http(built_warehouse):
    [row] = _rows(built_warehouse, """
        select value_basis, feed_id, payload_sha256, payload_row_number, source_location, is_http, http_status,
               fetched_at, payload_bytes, is_demo
        from fct_value_sources
        where city_id = 'madrid' and indicator_code = 'msw_recycled_share' and year = 2023""")
    assert row == {"value_basis": "rate", "feed_id": "test_template",
                   "payload_sha256": "sha256-test_template-2020-01-01_2025-01-01", "payload_row_number": 1,
                   "source_location": TEMPLATE_FILE, "is_http": False, "http_status": None,
                   "fetched_at": datetime(2026, 11, 30, 10, 0), "payload_bytes": 512, "is_demo": False}


def test_every_published_value_has_a_source_row(built_warehouse):
    """fct_city_indicator_annual and the context figure: no published value without provenance."""
    missing = _rows(built_warehouse, """
        select city_id, indicator_code, year from fct_city_indicator_annual
        except
        select city_id, indicator_code, year from fct_value_sources""")
    assert missing == []
    assert _rows(built_warehouse, """
        select feed_id from fct_value_sources
        where city_id = 'madrid' and indicator_code = 'population' and year = 2024""") == [{"feed_id": "test_template"}]


def test_dim_feed_shows_the_registry_with_its_latest_fetch_and_next_run(built_warehouse):
    rows = {row["feed_id"]: row for row in _rows(built_warehouse, "select * from dim_feed")}
    assert set(rows) == {"test_europe", "test_template"}
    europe, template = rows["test_europe"], rows["test_template"]
    assert (europe["is_demo"], europe["feed_schedule"], europe["last_fetch_period"]) == (True, "@yearly", "2023")
    assert (europe["last_fetch_http_statuses"], europe["last_fetch_change"], europe["last_fetch_bytes"]) == (
        "200", "changed", 4096)
    assert (template["is_demo"], template["last_fetch_http_statuses"], template["last_fetch_change"]) == (
        False, None, "not recorded")
    assert europe["published_value_count"] == 1  # madrid pm25 2023, the feed's one city-year
    built_at = europe["registry_read_at"]
    assert europe["next_run_at"] == datetime(built_at.year + 1, 1, 1)
    assert template["next_run_at"].weekday() == 0 and template["next_run_at"].hour == 6
    assert timedelta(0) < template["next_run_at"] - built_at <= timedelta(days=7)
