"""Cities are matched on name and country, never by a guess: against a test registry where two
cities are called Valencia (Spain's, as in cities.csv, and Venezuela's, added here only)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from citypeers import paths
from citypeers.feeds import indicator_template, is_exclusion, wide_table
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.unit.landed import landed_file

YEAR_2024 = Interval.of("2024-01-01", "2025-01-01")
VALENCIA_VE = ("valencia_ve,Valencia,Venezuela,VEN,South America,10.1620,-68.0077,1484430,2011,623,12000,2019,"
               "upper_middle,tropical\n")
AMBIGUOUS = ("city 'Valencia' is ambiguous: 2 registry cities have that name, valencia (Valencia in Spain), "
             "valencia_ve (Valencia in Venezuela); name the table's country column (options.country_column) or map "
             "the name to one city id under cities: of feed {feed}")


@pytest.fixture(autouse=True)
def two_valencias(tmp_path: Path, monkeypatch) -> None:
    """A copy of the dbt project's seeds with a second Valencia, as the city registry."""
    seeds = tmp_path / "dbt_project" / "seeds"
    shutil.copytree(paths.dbt_project_dir() / "seeds", seeds)
    with (seeds / "cities.csv").open("a", encoding="utf-8") as handle:
        handle.write(VALENCIA_VE)
    monkeypatch.setenv("CITYPEERS_DBT_PROJECT", str(seeds.parent))


def _template(tmp_path: Path, text: str, **feed) -> list[tuple]:
    path = tmp_path / "sheet.csv"
    path.write_text(text, encoding="utf-8")
    feed = Feed("sheet", "indicator_template", str(path), "@yearly", **feed)
    relation = indicator_template.parse(duckdb.connect(), [landed_file(path, str(path))], feed, YEAR_2024)
    return relation.select("source_row, city_id, parse_error").order("source_row").fetchall()


def test_a_name_two_registry_cities_share_is_an_error_listing_both_never_a_guess(tmp_path):
    (row,) = _template(tmp_path, "city,indicator_code,period,value,unit\nValencia,msw_recycled_share,2024,30,%\n")
    assert row == (1, None, AMBIGUOUS.format(feed="sheet"))
    assert not is_exclusion(row[2])  # a broken row: it counts toward the broken-feed share


def test_the_country_column_tells_the_two_apart(tmp_path):
    rows = _template(tmp_path, "city,country,indicator_code,period,value,unit\n"
                               "Valencia,Venezuela,msw_recycled_share,2024,30,%\n"
                               "Valencia,ESP,msw_recycled_share,2024,31,%\n"
                               "valencia,,msw_recycled_share,2024,32,%\n")
    assert rows[:2] == [(1, "valencia_ve", None), (2, "valencia", None)]
    assert rows[2] == (3, "valencia", None)  # a city id is one city, whatever its name shares


def test_a_mapping_in_feeds_yml_names_one_city(tmp_path):
    (row,) = _template(tmp_path, "city,indicator_code,period,value,unit\nValencia,msw_recycled_share,2024,30,%\n",
                       city_keys={"Valencia": "valencia_ve"})
    assert row == (1, "valencia_ve", None)


def test_a_country_spelled_otherwise_is_mapped_to_its_iso3_code(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("city,country,year,share\nSeoul,Republic of Korea,2024,61\n", encoding="utf-8")

    def parsed(**options) -> tuple:
        feed = Feed("korea", "wide_table", str(path), "@yearly", options={
            "city_column": "city", "country_column": "country", "year_column": "year",
            "indicators": [{"indicator_code": "msw_recycled_share", "value": "share", "unit": "%"}], **options})
        relation = wide_table.parse(duckdb.connect(), [landed_file(path, str(path))], feed, YEAR_2024)
        return relation.select("city_id, value, parse_error").fetchone()

    city, value, reason = parsed()
    assert (city, value) == (None, 61.0)
    assert reason.startswith("out of scope: city 'Seoul' in 'Republic of Korea' is not a known city: the registry's "
                             "seoul (Seoul in South Korea) is in another country (if 'Republic of Korea' is that "
                             "country spelled otherwise, map it to the ISO3 code under options.countries")
    assert parsed(countries={"Republic of Korea": "KOR"}) == ("seoul", 61.0, None)
