"""The invariant: a partition that passed its ingest gate never makes a later build fail.

Each source's gate (`citypeers.ingest.validate`: the GX suite, then what the warehouse requires of
a row) is handed the nastiest candidates we could think of, written directly so they need not
come from today's parsers: values at every bound, years at the catalogue's limits, a station at
the gate's hourly maximum all year, a 25-hour local day, city totals that divide into nonsense,
context figures that pass their own bounds but not together, an air annual mean reported by an
indicator feed, and rows the gate must refuse. The WHO-style table goes through the real parser.
Whatever passed is then built like `citypeers build`: dbt seed + dbt build (every data test), then
the GX gate on the marts. The build must pass, and the marts must show each edge case as the
rules say.
"""

from __future__ import annotations

import math
import os

import duckdb
import pytest
from tests import candidates, who_air_quality
from tests.candidates import hours_sql, indicator_row
from tests.citypeers_home import temporary_home
from tests.dbt.test_dbt_build import DBT, _dbt

from citypeers import ingest, paths
from citypeers.runtime_env import PIPELINE_DBT_EXCLUDES
from citypeers.warehouse import prepare_build, validate_marts

# max_quarantine_share 1.0: these periods hold more refused rows than good ones on purpose
FEEDS = """
  - {feed_id: edge_eea, source: eea_air, location: /nowhere/*.csv, schedule: "@yearly", city_id: madrid,
     options: {max_quarantine_share: 1.0}}
  - {feed_id: edge_openaq, source: openaq_air, location: "http://127.0.0.1:1/v3", schedule: "@yearly",
     city_id: tokyo, options: {max_quarantine_share: 1.0}}
  - {feed_id: edge_template, source: indicator_template, location: /nowhere/*.csv, schedule: "@yearly",
     options: {max_quarantine_share: 1.0}}
  - {feed_id: edge_gtfs, source: gtfs, location: /nowhere/*.zip, schedule: "@yearly",
     options: {max_quarantine_share: 1.0}}
  - {feed_id: edge_gbfs, source: gbfs, location: /nowhere/*, schedule: "@yearly",
     options: {max_quarantine_share: 1.0}}
  - {feed_id: edge_sdmx, source: sdmx_csv, location: /nowhere/*.csv, schedule: "@yearly",
     options: {max_quarantine_share: 1.0}}
"""


def _rate(n: int, city: str, code: str, year: int, value: float, unit: str, **cells) -> dict:
    return indicator_row(n, city_id=city, indicator_code=code, year=year, value=value, unit=unit,
                         source_value=value, **cells)


def _total(n: int, city: str, code: str, year: int, value: float, unit: str) -> dict:
    return _rate(n, city, code, year, value, unit, basis="total")


PERCENT, UG = "percent", "µg/m³"
# source -> (feed, period, rows the gate must publish, rows it must refuse)
INDICATOR_CASES = {
    "indicator_template": ("edge_template", "1950-01-01_2101-01-01", [
        _rate(1, "madrid", "pm25_annual_mean", 2019, 99.0, UG),        # stations measured madrid: they win
        _rate(2, "seville", "pm25_annual_mean", 2019, 1000.0, UG),     # reported only, at the plausible maximum
        _rate(3, "rome", "msw_recycled_share", 1950, 0.0, PERCENT),    # the first year, the lowest value
        _rate(4, "rome", "msw_recycled_share", 2100, 100.0, PERCENT),  # the last year, the highest value
        _rate(5, "madrid", "population", 2024, 1000.0, "resident"),    # lowest population: density 1.7 per km²
        _total(6, "madrid", "msw_kg_per_resident_day", 2024, 1e12, "kg / resident / day"),  # / 1000 residents
        _rate(7, "berlin", "area_km2", 2019, 1.0, "km ** 2"),          # smallest area: 3.7 million per km²
        _rate(8, "vienna", "gdp_per_capita_ppp", 2019, 300.0, "intl_dollar / resident"),
        _rate(9, "milan", "house_price_to_income_ratio", 2019, 100.0, "ratio"),
        _rate(10, "madrid", "msw_recycled_share", 2019, 40.0, PERCENT),  # the same city-year as edge_sdmx's
    ], [
        _rate(21, "rome", "msw_recycled_share", 1949, 10.0, PERCENT),
        _rate(22, "rome", "msw_recycled_share", 2101, 10.0, PERCENT),
        _rate(23, "rome", "msw_recycled_share", 2020, 100.5, PERCENT),
        _rate(24, "rome", "pm25_annual_mean", 2020, 1000.5, UG),
        _rate(25, "rome", "no_such_indicator", 2020, 1.0, PERCENT),
        _rate(26, "atlantis", "msw_recycled_share", 2020, 1.0, PERCENT),
        _rate(27, None, "msw_recycled_share", 2021, 1.0, PERCENT),
        _rate(28, "rome", "msw_recycled_share", 2022, -1.0, PERCENT),
        _rate(29, "rome", "msw_recycled_share", 2023, math.nan, PERCENT),
        _rate(30, "rome", "msw_recycled_share", 2024, math.inf, PERCENT),
        _rate(31, "rome", "rent_to_income_share", 2020, 1.0, "kg / resident / day"),
        _total(32, "rome", "rent_to_income_share", 2021, 30.0, PERCENT),
        _rate(33, "rome", "population", 2020, 999.0, "resident"),
        _rate(34, "rome", "income_group", 2020, 1.0, "category"),
        _rate(35, "rome", "msw_recycled_share", None, 1.0, PERCENT),
    ]),
    "gtfs": ("edge_gtfs", "2019", [
        _total(1, "porto", "pt_departures_per_1000", 2019, 0.0, "departure / week / thousand_residents"),
        _total(2, "lisbon", "pt_stops_per_km2", 2019, 1e9, "transit_stop / km ** 2"),  # 1e9 stops / 100 km²
        _total(3, "lisbon", "pt_departures_per_1000", 2019, 1e15, "departure / week / thousand_residents"),
    ], [
        _rate(4, "porto", "pt_stops_per_km2", 2019, 1000.5, "transit_stop / km ** 2"),  # above the plausible 1000
    ]),
    "gbfs": ("edge_gbfs", "2019", [
        _total(1, "warsaw", "shared_bikes_per_1000", 2019, 0.0, "bike / thousand_residents"),
        _rate(2, "warsaw", "bike_dock_availability_share", 2019, 100.0, PERCENT),
    ], [
        _rate(3, "warsaw", "msw_recycled_share", 2019, 10.0, PERCENT),  # not a GBFS indicator
    ]),
    "sdmx_csv": ("edge_sdmx", "2019", [
        _rate(1, "bilbao", "noise_lden55_share", 1950, 100.0, PERCENT),
        _total(2, "bilbao", "water_l_per_resident_day", 2019, 1e15, "L / resident / day"),
        _rate(3, "bilbao", "wastewater_treated_share", 2019, 0.0, PERCENT),
        _rate(4, "madrid", "msw_recycled_share", 2019, 41.0, PERCENT),
    ], [
        _rate(5, "bilbao", "non_revenue_water_share", 2019, 1e300, PERCENT),
    ]),
}
FULL_YEAR = ("2019-01-01", "2020-01-01")
# source -> (feed, rows of every hour generated, rows written one by one: the gate refuses each)
AIR_CASES = {
    "eea_air": ("edge_eea", [
        hours_sql("ES_EDGE1", "madrid", *FULL_YEAR, 10.0),
        # a 25-hour local day (a clock change): 26 October 22:00 UTC to 27 October 23:00 UTC
        hours_sql("FR_EDGE1", "paris", "2019-10-26 22:00", "2019-10-27 23:00", 20.0)
        .replace("hour::DATE AS local_date", "DATE '2019-10-27' AS local_date"),
    ], [
        {"station_id": "ES_EDGE9", "city_id": "atlantis", "measured_at_utc": "2019-03-01 00:00"},
        {"station_id": "ES_EDGE9", "city_id": "madrid", "measured_at_utc": "2019-03-01 01:00", "local_date": None},
        {"station_id": "ES_EDGE9", "city_id": "madrid", "measured_at_utc": "2019-03-01 02:00", "value": 5000.5},
        {"station_id": "ES_EDGE9", "city_id": "madrid", "measured_at_utc": "2019-03-01 03:00", "pollutant": "o3"},
        {"station_id": "ES_EDGE9", "city_id": "madrid", "measured_at_utc": None},
    ]),
    "openaq_air": ("edge_openaq", [
        hours_sql("9001", "tokyo", *FULL_YEAR, 5000.0),  # the gate's hourly maximum, all year
        hours_sql("9002", "lyon", "1950-01-01", "1950-01-01 05:00", 3.0, first_row=9000),  # 1950, no valid day
    ], [
        {"station_id": "9003", "city_id": "tokyo", "measured_at_utc": "2019-01-01 00:00", "value": -0.5},
    ]),
}


def _air_row(number: int, row: dict) -> dict:
    base = {"station_id": "S", "pollutant": "pm25", "value": 10.0, "unit": "µg/m³", "source_value": 10.0,
            "source_unit": "µg/m³", "is_valid": True, "payload_sha256": "sha-bad", "source_row": 100_000 + number}
    local = {} if "local_date" in row or row.get("measured_at_utc") is None else \
        {"local_date": row["measured_at_utc"][:10]}
    return {**base, **local, **row}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("gate_edges")
    table, registry = who_air_quality.write(root / "who")
    registry.write_text(registry.read_text(encoding="utf-8") + FEEDS, encoding="utf-8")
    home = root / "home"
    outcomes = {}
    previous = os.environ.get("CITYPEERS_FEEDS")
    os.environ["CITYPEERS_FEEDS"] = str(registry)
    try:
        with temporary_home(home):
            prepare_build()
            for source, (feed_id, generated, refused) in AIR_CASES.items():
                rows = [_air_row(n, row) for n, row in enumerate(refused)]
                candidates.write(home, source, feed_id, "2019", rows, *generated)
                outcomes[source] = (ingest.validate(feed_id, "2019-01-01", "2020-01-01"), len(refused))
            for source, (feed_id, period, published, refused) in INDICATOR_CASES.items():
                candidates.write(home, source, feed_id, period, published + refused)
                start, end = (period.split("_") if "_" in period else (f"{period}-01-01", f"{int(period) + 1}-01-01"))
                outcomes[source] = (ingest.validate(feed_id, start, end), len(refused))
            outcomes["wide_table"] = (ingest.ingest("who_air", "2019-01-01", "2020-01-01"), 9)
    finally:
        if previous is None:
            os.environ.pop("CITYPEERS_FEEDS", None)
        else:
            os.environ["CITYPEERS_FEEDS"] = previous
    build_db = home / "warehouse" / "build.duckdb"
    env = {**os.environ, "CITYPEERS_HOME": str(home), "CITYPEERS_BUILD_DB": str(build_db), "DO_NOT_TRACK": "1",
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_LOG_PATH": str(home / "dbt_logs"),
           **PIPELINE_DBT_EXCLUDES, "PATH": f"{DBT.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    _dbt("seed", env=env, target_path=home / "dbt_target")
    _dbt("build", env=env, target_path=home / "dbt_target")  # asserts that every model and data test passed
    with temporary_home(home):
        marts = validate_marts()  # raises if a mart fails its suite
    return {"home": home, "build_db": build_db, "outcomes": outcomes, "marts": marts}


def _rows(built: dict, sql: str) -> list[dict]:
    with duckdb.connect(str(built["build_db"]), read_only=True) as con:
        cursor = con.execute(sql)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _mart(built: dict, city: str, code: str, year: int) -> dict:
    (row,) = _rows(built, f"select * from fct_city_indicator_annual where city_id = '{city}' "
                          f"and indicator_code = '{code}' and year = {year}")
    return row


def test_every_source_kind_passed_its_gate_and_refused_exactly_the_rows_it_must(built):
    assert set(built["outcomes"]) == {"eea_air", "openaq_air", "indicator_template", "gtfs", "gbfs", "sdmx_csv",
                                      "wide_table"}
    for source, (outcome, refused) in built["outcomes"].items():
        assert outcome["quarantined"] == refused, (source, outcome)
        assert outcome["published"] > 0, source


def test_the_build_and_the_marts_gate_pass_on_everything_the_gates_let_through(built):
    assert built["marts"]["fct_city_indicator_annual"] > 0 and built["marts"]["fct_city_context_annual"] > 0


def test_a_reported_air_annual_mean_reaches_the_mart_with_its_stations_unknown(built):
    athens = _mart(built, "athens", "pm25_annual_mean", 2019)  # from the WHO-style table
    assert (athens["value"], athens["basis"], athens["station_count"], athens["feed_ids"]) == (
        16.0, "rate", None, "who_air")
    assert athens["derivation_note"] == (
        "city annual mean as reported by feed who_air (station count unknown: not computed from station readings)")
    assert (athens["quality_flag"], athens["source_note"]) == (
        "ok", "WHO ambient air quality database (city annual mean)")
    seville = _mart(built, "seville", "pm25_annual_mean", 2019)
    assert (seville["value"], seville["quality_flag"], seville["station_count"]) == (1000.0, "ok", None)


def test_station_measurements_still_win_over_a_reported_figure(built):
    madrid = _mart(built, "madrid", "pm25_annual_mean", 2019)
    assert (madrid["value"], madrid["basis"], madrid["station_count"], madrid["quality_flag"]) == (
        10.0, "station_annual_means", 1, "ok")


def test_derived_values_outside_the_plausible_range_are_shown_flagged_not_failing_the_build(built):
    tokyo = _mart(built, "tokyo", "pm25_annual_mean", 2019)
    assert (tokyo["value"], tokyo["quality_flag"], tokyo["meets_completeness_rule"]) == (
        5000.0, "implausible_value", True)
    assert tokyo["quality_note"].startswith("value 5000.0 µg/m³ is outside the plausible range 0.0 to 1000.0")
    waste = _mart(built, "madrid", "msw_kg_per_resident_day", 2024)
    assert waste["quality_flag"] == "implausible_value" and waste["value"] == pytest.approx(1e12 / 1000)
    assert "check the feed and the population or area" in waste["quality_note"]
    stops = _mart(built, "lisbon", "pt_stops_per_km2", 2019)
    assert stops["quality_flag"] == "implausible_value"
    benchmark = _rows(built, "select is_valid, peer_group_rank from fct_city_benchmark "
                             "where city_id = 'tokyo' and indicator_code = 'pm25_annual_mean' and year = 2019")
    assert benchmark == [{"is_valid": False, "peer_group_rank": None}]  # never ranked


def test_context_figures_that_pass_alone_but_not_together_leave_the_density_out_with_a_note(built):
    (berlin,) = _rows(built, "select * from fct_city_context_annual where city_id = 'berlin' and year = 2019")
    assert berlin["area_km2"] == 1.0 and berlin["population_density"] is None
    assert berlin["population_density_note"].startswith("population density ")
    assert "area 1.0 km² from edge_template) is outside the plausible range 10 to 60000" \
        in berlin["population_density_note"]
    (madrid,) = _rows(built, "select * from fct_city_context_annual where city_id = 'madrid' and year = 2024")
    assert (madrid["population"], madrid["population_density"]) == (1000, None)


def test_years_at_the_catalogue_bounds_and_a_25_hour_day_are_built(built):
    assert _mart(built, "rome", "msw_recycled_share", 1950)["value"] == 0.0
    assert _mart(built, "rome", "msw_recycled_share", 2100)["value"] == 100.0
    (paris_day,) = _rows(built, "select valid_hour_count from int_air_readings_aggregated_to_daily "
                                "where station_id = 'FR_EDGE1' and local_date = '2019-10-27'")
    assert paris_day["valid_hour_count"] == 25


def test_a_refused_row_is_in_the_quarantine_with_its_reason_and_location(built):
    with temporary_home(built["home"]):
        quarantine = paths.quarantine_file("indicator_template", "edge_template", "1950-01-01_2101-01-01")
    reasons = dict(duckdb.sql(f"select source_ref, quarantine_reason from '{quarantine}'").fetchall())
    assert reasons["sheet.csv, row 33"] == (
        "value 999.0 resident is outside the plausible range 1000.0-50000000.0 (plausible_min, plausible_max of "
        "indicator population in dbt_project/seeds/indicators.csv)")
    assert reasons["sheet.csv, row 21"].startswith("year 1949 is outside 1950-2100")
