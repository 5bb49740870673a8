"""The ingest gate checks what the warehouse requires of a parsed row, beyond the GX suite: a city
of the registry, an indicator of the catalogue in its canonical unit, a year within the
indicator's bounds, a finite value, a total only where the catalogue divides one, a rate within
the indicator's plausible range. And `citypeers backfill` runs every interval, then reports every
failure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pytest

from citypeers import cli, ingest, paths
from citypeers.errors import BackfillError, ContractError, FeedError
from tests import candidates
from tests.citypeers_home import temporary_home

CATALOGUE = "dbt_project/seeds/indicators.csv"
FEEDS = """
feeds:
  - feed_id: gate_sheet
    source: indicator_template
    location: "{home}/sheets/*.csv"
    schedule: "@yearly"
    options: {max_quarantine_share: 1.0}   # every row may be refused: this test is about the reasons
  - feed_id: gate_air
    source: eea_air
    location: "{home}/air/*.csv"
    schedule: "@yearly"
    city_id: madrid
    options: {max_quarantine_share: 1.0}
  - feed_id: strict_sheet
    source: indicator_template
    location: "{home}/strict/*.csv"
    schedule: "@yearly"
    options: {max_quarantine_share: 2}
  - feed_id: water
    source: wide_table
    location: "{home}/water/national_water.csv"
    schedule: "@yearly"
    options:
      city_column: city
      year_column: year
      indicators:
        - {indicator_code: water_l_per_resident_day, value: litres_per_day, unit: L/resident/day}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    registry = tmp_path / "feeds.yml"
    registry.write_text(FEEDS, encoding="utf-8")
    monkeypatch.setenv("CITYPEERS_FEEDS", str(registry))
    with temporary_home(tmp_path / "home") as root:
        yield root


# (the row's cells, the reason the gate gives) — every reason names the bound and where it is set
REFUSED = [
    ({"value": 150.0, "source_value": 150.0},
     f"value 150.0 percent is outside the plausible range 0.0-100.0 (plausible_min, plausible_max of indicator "
     f"msw_recycled_share in {CATALOGUE})"),
    ({"year": 1949}, f"year 1949 is outside 1950-2100 (min_year, max_year of indicator msw_recycled_share in "
                     f"{CATALOGUE})"),
    ({"year": 2101}, f"year 2101 is outside 1950-2100 (min_year, max_year of indicator msw_recycled_share in "
                     f"{CATALOGUE})"),
    ({"year": None}, "no year"),
    ({"indicator_code": "msw_recycled_shares"},
     f"indicator 'msw_recycled_shares' is not a numeric indicator of the catalogue ({CATALOGUE})"),
    ({"indicator_code": "income_group", "unit": "category"},
     f"indicator 'income_group' is not a numeric indicator of the catalogue ({CATALOGUE})"),
    ({"city_id": "atlantis"}, "city_id 'atlantis' is not a city of the registry (dbt_project/seeds/cities.csv)"),
    ({"unit": "%"}, f"unit '%' is not the canonical unit 'percent' (canonical_unit of indicator msw_recycled_share "
                    f"in {CATALOGUE})"),
    ({"basis": "total", "value": 300000.0},
     "a city total of msw_recycled_share cannot be divided: the catalogue gives it no normalised_by"),
    ({"value": math.inf}, "value inf is not a finite number"),
]
ACCEPTED = [
    {"year": 1950}, {"year": 2100}, {"value": 100.0}, {"value": 0.0},
    {"indicator_code": "pm25_annual_mean", "unit": "µg/m³", "value": 1000.0},
    {"indicator_code": "population", "unit": "resident", "value": 1000.0},
    {"indicator_code": "msw_kg_per_resident_day", "unit": "kg / resident / day", "basis": "total", "value": 1e12},
]


def test_the_gate_refuses_what_the_warehouse_cannot_take_with_the_reason_and_location(home):
    refused_cities = ["madrid", "barcelona", "paris", "lyon", "berlin", "vienna", "warsaw", "athens", "brussels",
                      "tokyo"]  # one key each, so no row is also a duplicate
    rows = [candidates.indicator_row(n, **{"city_id": city, **cells})
            for n, (city, (cells, _)) in enumerate(zip(refused_cities, REFUSED, strict=True), start=1)]
    cities = ["seville", "valencia", "bilbao", "lisbon", "porto", "rome", "milan"]  # one key each
    rows += [candidates.indicator_row(100 + n, **{"city_id": city, **cells})
             for n, (city, cells) in enumerate(zip(cities, ACCEPTED, strict=True))]
    candidates.write(home, "indicator_template", "gate_sheet", "2024", rows)
    outcome = ingest.validate("gate_sheet", "2024-01-01", "2025-01-01")
    assert (outcome["published"], outcome["quarantined"]) == (len(ACCEPTED), len(REFUSED))
    quarantined = duckdb.sql(
        "select source_row, source_ref, quarantine_reason "
        f"from '{paths.quarantine_file('indicator_template', 'gate_sheet', '2024')}'").fetchall()
    by_row = {row: (ref, reason) for row, ref, reason in quarantined}
    for number, (_, reason) in enumerate(REFUSED, start=1):
        assert by_row[number] == (f"sheet.csv, row {number}", reason)


def test_an_air_row_needs_a_registry_city_and_a_local_date_that_follows_its_hour(home):
    hour = {"station_id": "ES0001A", "pollutant": "pm25", "value": 10.0, "unit": "µg/m³", "is_valid": True,
            "local_date": "2024-03-01", "payload_sha256": "sha-air"}
    rows = [
        {**hour, "city_id": "madrid", "measured_at_utc": "2024-03-01 00:00:00", "source_row": 1},
        {**hour, "city_id": "atlantis", "measured_at_utc": "2024-03-01 01:00:00", "source_row": 2},
        {**hour, "city_id": "madrid", "measured_at_utc": "2024-03-01 02:00:00", "source_row": 3, "local_date": None},
    ]
    # a second station whose 26 hours from 2 March 00:00 UTC all claim the local date 2 March
    rows += [{**hour, "station_id": "ES0002A", "city_id": "madrid", "local_date": "2024-03-02",
              "measured_at_utc": f"2024-03-{2 + hour_number // 24:02d} {hour_number % 24:02d}:00:00",
              "source_row": 10 + hour_number} for hour_number in range(26)]
    candidates.write(home, "eea_air", "gate_air", "2024", rows)
    outcome = ingest.validate("gate_air", "2024-01-01", "2025-01-01")
    assert (outcome["published"], outcome["quarantined"]) == (1, 2 + 26)
    reasons = dict(duckdb.sql(
        f"select source_row, quarantine_reason from '{paths.quarantine_file('eea_air', 'gate_air', '2024')}'"
    ).fetchall())
    assert reasons[2] == "city_id 'atlantis' is not a city of the registry (dbt_project/seeds/cities.csv)"
    assert reasons[3] == "expect_column_values_to_not_be_null(local_date)"
    assert reasons[10] == reasons[35] == ("local date 2024-03-02 holds 26 hours of station ES0002A (pm25): a day "
                                          "has at most 25, so the local dates do not follow the hours")


def test_the_broken_feed_share_is_an_option_checked_for_a_share(home):
    candidates.write(home, "indicator_template", "strict_sheet", "2024", [candidates.indicator_row(1)])
    with pytest.raises(FeedError, match="max_quarantine_share 2 is not a share between 0 and 1"):
        ingest.validate("strict_sheet", "2024-01-01", "2025-01-01")


def _water_table(home: Path, rows: str) -> None:
    (home / "water").mkdir(parents=True, exist_ok=True)
    (home / "water" / "national_water.csv").write_text("city,year,litres_per_day\n" + rows, encoding="utf-8")


def test_a_historical_year_within_the_catalogue_bounds_is_published(home):
    _water_table(home, "Madrid,1979,310\n")
    outcome = ingest.ingest("water", "1979-01-01", "1980-01-01")
    assert (outcome["published"], outcome["quarantined"]) == (1, 0)


def test_backfill_runs_every_interval_and_reports_every_failure_with_its_bound(home, capsys):
    _water_table(home, "Madrid,1948,300\nMadrid,1949,305\nMadrid,1950,310\nMadrid,1951,315\n")
    with pytest.raises(BackfillError) as raised:
        ingest.backfill("water", "1948-01-01", "1952-01-01")
    message = str(raised.value)
    assert "backfill of feed 'water': 2 of 4 intervals failed (the others were published)" in message
    for year in (1948, 1949):
        assert (f"  {year}: ContractError: feed 'water' period {year}: 1 of 1 rows fail validation" in message
                and f"year {year} is outside 1950-2100 (min_year, max_year of indicator "
                    f"water_l_per_resident_day in {CATALOGUE})" in message)
    assert [r["period"] for r in raised.value.results if "error" not in r] == ["1950", "1951"]
    assert paths.parsed_file("wide_table", "water", "1951").exists()  # the failures did not stop the run

    assert cli.main(["backfill", "water", "--start", "1948-01-01", "--end", "1952-01-01"]) == 2
    printed = capsys.readouterr()
    assert [r["period"] for r in json.loads(printed.out) if "published" in r] == ["1950", "1951"]
    assert "2 of 4 intervals failed" in printed.err and "  1949: ContractError" in printed.err


def test_the_share_counts_rows_in_scope_only(home):
    (home / "sheets").mkdir(parents=True)
    lines = [f"Springfield {n},msw_recycled_share,2024,10,%" for n in range(6)]  # no registry city
    lines += ["madrid,msw_recycled_share,2024,10,%", "seville,msw_recycled_share,2024,10,kg",
              "valencia,msw_recycled_share,2024,10,kg"]
    (home / "sheets" / "2024.csv").write_text("city,indicator_code,period,value,unit\n" + "\n".join(lines) + "\n",
                                              encoding="utf-8")
    outcome = ingest.ingest("gate_sheet", "2024-01-01", "2025-01-01")  # max share 1.0: published
    assert (outcome["published"], outcome["quarantined"], outcome["out_of_scope"]) == (1, 8, 6)
    reasons = [r for (r,) in duckdb.sql(
        f"select quarantine_reason from '{paths.quarantine_file('indicator_template', 'gate_sheet', '2024')}'"
    ).fetchall()]
    assert "out of scope: city 'Springfield 0' is not a known city: not in the city registry " \
           "(dbt_project/seeds/cities.csv) and not mapped under cities: of feed gate_sheet" in reasons


def test_a_feed_whose_rows_in_scope_are_mostly_broken_fails_whatever_the_rows_out_of_scope(home, monkeypatch):
    (home / "sheets").mkdir(parents=True)
    lines = [f"Springfield {n},msw_recycled_share,2024,10,%" for n in range(6)]
    lines += ["madrid,msw_recycled_share,2024,10,%", "seville,msw_recycled_share,2024,10,kg",
              "valencia,msw_recycled_share,2024,10,kg"]
    (home / "sheets" / "2024.csv").write_text("city,indicator_code,period,value,unit\n" + "\n".join(lines) + "\n",
                                              encoding="utf-8")
    registry = Path(paths.feeds_file())
    registry.write_text(registry.read_text().replace("options: {max_quarantine_share: 1.0}   #", "#", 1))
    with pytest.raises(ContractError) as raised:
        ingest.ingest("gate_sheet", "2024-01-01", "2025-01-01")
    assert "2 of 3 rows fail validation (more than 50%, options.max_quarantine_share) " \
           "(6 rows out of scope or not measurements not counted)" in str(raised.value)
