"""Wide-table source: the declarative feeds.yml mapping on the real What a Waste 2.0 city table and
the real NYC DSNY monthly tonnage file, and on broken mappings and broken copies."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from citypeers import paths
from citypeers.errors import FeedError
from citypeers.feeds import wide_table
from citypeers.feeds.payloads import LandedPayload
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.unit.landed import landed_file

SHARED = paths.REPO_ROOT.parent / "shared" / "data"
WAW_TABLE = SHARED / "what_a_waste" / "city_level_data_0_0.csv"
WAW_CODEBOOK = SHARED / "what_a_waste" / "city_level_codebook_0.csv"
DSNY = SHARED / "nyc_dsny_tonnage" / "DSNY_Monthly_Tonnage_Data.csv"
FOUR_CITIES = "('vienna', 'brussels', 'dubai', 'dhaka')"
EVERY_YEAR = Interval.of("1990-01-01", "2030-01-01")

MSW_PER_RESIDENT = {
    "indicator_code": "msw_kg_per_resident_day",
    "value": "total_msw_total_msw_generated_tons_year / population_population_number_of_people",
    "unit": "t/year/resident",
}
# Curbside recycling share as DSNY reports it: paper + metal/glass/plastic (MGP) over everything
# collected curbside (refuse + paper + MGP). Organics and Christmas trees are left out.
DSNY_INDICATORS = [
    {
        "indicator_code": "msw_kg_per_resident_day",
        "value": "REFUSETONSCOLLECTED + PAPERTONSCOLLECTED + MGPTONSCOLLECTED",
        "unit": "t/year",
        "note": "DSNY curbside collection (residential and institutional)",
    },
    {
        "indicator_code": "msw_recycled_share",
        "value": "(PAPERTONSCOLLECTED + MGPTONSCOLLECTED)"
        " / (REFUSETONSCOLLECTED + PAPERTONSCOLLECTED + MGPTONSCOLLECTED)",
        "unit": "ratio",
    },
]


def _real(path: Path) -> LandedPayload:
    if not path.exists():
        pytest.fail(f"the real file is missing: {path} (the tests need ../shared/data next to the repo)")
    return landed_file(path, str(path))


def _waw_feed(indicators: list[dict] | None = None, **options) -> Feed:
    return Feed(
        feed_id="test_waw",
        source="wide_table",
        location=str(WAW_TABLE),
        schedule="@yearly",
        city_keys={"Dubai": "dubai"},  # not in cities.csv; finish_indicator_rows takes the mapping as given
        options={
            "format": "csv",
            "city_column": "city_name",
            "fix_double_encoded_text": True,
            "years_file": {
                "location": str(WAW_CODEBOOK),
                "on": ["iso3c", "city_name"],
                "year_column": "year",
                "where": {"measurement": "total_msw_total_msw_generated_tons_year"},
            },
            "indicators": indicators or [MSW_PER_RESIDENT],
            **options,
        },
    )


def _dsny_feed(**options) -> Feed:
    return Feed(
        feed_id="test_dsny",
        source="wide_table",
        location=str(DSNY),
        schedule="@yearly",
        city_id="new_york",  # a one-city table: no city column
        options={
            "year_column": "MONTH",
            "year_pattern": r"^(\d{4}) / \d{2}$",
            "aggregate": "sum",
            "require_periods_per_year": 12,
            "indicators": DSNY_INDICATORS,
            **options,
        },
    )


@pytest.fixture(scope="module")
def waw_rows():
    con = duckdb.connect()
    payloads = [_real(WAW_TABLE), _real(WAW_CODEBOOK)]
    feed = _waw_feed()
    source = wide_table.source_rows(con, payloads, feed, EVERY_YEAR)
    parsed = wide_table.parse(con, payloads, feed, EVERY_YEAR)
    return con, source, parsed


def test_double_encoded_names_are_repaired_and_correct_ones_kept():
    assert wide_table.fix_double_encoded("CÃ³rdoba") == "Córdoba"
    assert wide_table.fix_double_encoded("Vavaâ€™u") == "Vava’u"  # decoded as Windows-1252, not Latin-1
    assert wide_table.fix_double_encoded("Córdoba") == "Córdoba"
    assert wide_table.fix_double_encoded("Vienna") == "Vienna"


def test_what_a_waste_kg_per_resident_day_is_tonnes_per_year_over_population(waw_rows):
    con, _, parsed = waw_rows
    values = dict(
        parsed.filter(f"indicator_code = 'msw_kg_per_resident_day' AND city_id IN {FOUR_CITIES}")
        .select("city_id, round(value, 2)")
        .fetchall()
    )
    assert values == {"vienna": 1.63, "brussels": 1.11, "dubai": 3.05, "dhaka": 0.68}
    units = set(parsed.filter("city_id = 'vienna'").select("unit, basis, source_unit").fetchall())
    assert units == {("kg / resident / day", "rate", "t/year/resident")}


def test_what_a_waste_rows_carry_their_own_reporting_year_from_the_codebook(waw_rows):
    con, source, parsed = waw_rows
    years = dict(parsed.filter(f"city_id IN {FOUR_CITIES}").select("city_id, year").fetchall())
    assert years == {"vienna": 2013, "brussels": 2013, "dubai": 2011, "dhaka": 2005}
    distinct_years = con.sql(f"SELECT count(DISTINCT year) FROM {source} WHERE row_error IS NULL").fetchone()[0]
    assert distinct_years > 10, "What a Waste reports in many different years"


def test_what_a_waste_repaired_names_join_the_codebook_and_map_to_cities(waw_rows):
    con, source, _ = waw_rows
    repaired = "('Córdoba', 'Kraków', 'Vava’u')"
    rows = dict(con.sql(f"SELECT city_key, year FROM {source} WHERE city_key IN {repaired}").fetchall())
    assert rows == {"Córdoba": 2010, "Kraków": 2016, "Vava’u": 2012}
    assert con.sql(f"SELECT count(*) FROM {source} WHERE city_key LIKE '%Ã%'").fetchone()[0] == 0


def test_what_a_waste_rows_without_a_reporting_year_are_quarantined_with_the_reason(waw_rows):
    con, source, _ = waw_rows
    reasons = [r for (r,) in con.sql(f"SELECT DISTINCT row_error FROM {source} WHERE year IS NULL").fetchall()]
    assert reasons and all("no reporting year in years_file" in r for r in reasons)


def test_an_empty_cell_is_missing_not_zero():
    con = duckdb.connect()
    feed = _waw_feed([{"indicator_code": "msw_collection_coverage_share", "unit": "%",
                       "value": "waste_collection_coverage_total_percent_of_population_percent_of_population"}])
    parsed = wide_table.parse(con, [_real(WAW_TABLE), _real(WAW_CODEBOOK)], feed, EVERY_YEAR)
    vienna = parsed.filter("city_id = 'vienna'").select("value, parse_error").fetchone()
    assert vienna[0] is None
    assert "empty cell (not reported)" in vienna[1]
    dhaka = parsed.filter("city_id = 'dhaka'").select("value, parse_error").fetchone()
    assert dhaka == (45.0, None)


def _errors_by_year(con: duckdb.DuckDBPyConnection, source: str) -> dict[int, str | None]:
    query = f"SELECT year, row_error FROM {source} WHERE indicator_code = 'msw_recycled_share'"
    return dict(con.sql(query).fetchall())


@pytest.fixture(scope="module")
def dsny_rows():
    con = duckdb.connect()
    return con, wide_table.source_rows(con, [_real(DSNY)], _dsny_feed(), EVERY_YEAR)


def test_dsny_monthly_tonnage_sums_to_the_year_as_an_independent_query_does(dsny_rows):
    con, source = dsny_rows
    # Independent: plain DuckDB over the raw file, with its own type sniffing.
    refuse, paper, mgp = con.sql(f"""
        SELECT sum(REFUSETONSCOLLECTED), sum(PAPERTONSCOLLECTED), sum(MGPTONSCOLLECTED)
        FROM read_csv('{DSNY}') WHERE MONTH LIKE '2019 / %'
    """).fetchone()
    total, share = con.sql(f"""
        SELECT max(source_value) FILTER (WHERE indicator_code = 'msw_kg_per_resident_day'),
               max(source_value) FILTER (WHERE indicator_code = 'msw_recycled_share')
        FROM {source} WHERE year = 2019 AND row_error IS NULL
    """).fetchone()
    assert total == pytest.approx(refuse + paper + mgp)
    assert share == pytest.approx((paper + mgp) / (refuse + paper + mgp))
    assert round(total) == 3_079_571 and round(share * 100, 1) == 19.2


def test_dsny_yearly_tonnes_become_a_city_total_and_the_share_a_percentage(dsny_rows):
    con = duckdb.connect()
    parsed = wide_table.parse(con, [_real(DSNY)], _dsny_feed(), Interval.of("2019-01-01", "2020-01-01"))
    rows = {code: (value, unit, basis) for code, value, unit, basis in
            parsed.select("indicator_code, value, unit, basis").fetchall()}
    assert rows["msw_recycled_share"][1:] == ("percent", "rate")
    assert rows["msw_recycled_share"][0] == pytest.approx(19.24, abs=0.01)
    total, unit, basis = rows["msw_kg_per_resident_day"]
    assert (unit, basis) == ("kg / resident / day", "total")
    assert total == pytest.approx(3_079_571.4 * 1000 / 365.25, rel=1e-3)  # kg/day for the whole city
    assert parsed.filter("parse_error IS NOT NULL").count("*").fetchone()[0] == 0


def test_dsny_years_with_fewer_than_twelve_months_are_quarantined_with_the_count(dsny_rows):
    con, source = dsny_rows
    errors = _errors_by_year(con, source)
    assert "2023 has 7 of 12 periods" in errors[2023]  # the file ends in July 2023
    assert errors[2019] is None
    assert "2003 has" in errors[2003]  # metal/glass/plastic collection suspended in 2002-2004
    assert "empty (not reported) in every row summed" in errors[1990]  # no recycling collected in 1990


def test_incomplete_years_can_be_kept_with_a_note(dsny_rows):
    con = duckdb.connect()
    source = wide_table.source_rows(con, [_real(DSNY)], _dsny_feed(incomplete_years="keep"), EVERY_YEAR)
    error, note = con.sql(f"SELECT row_error, note FROM {source} WHERE year = 2023 "
                          "AND indicator_code = 'msw_recycled_share'").fetchone()
    assert error is None and "2023 has 7 of 12 periods" in note


def test_a_mapping_naming_a_missing_column_is_a_feed_error_naming_it():
    feed = _dsny_feed(indicators=[{"indicator_code": "msw_recycled_share", "unit": "ratio",
                                   "value": "PAPERTONSCOLLECTED / REFUSETONSCOLECTED"}])
    with pytest.raises(FeedError) as error:
        wide_table.source_rows(duckdb.connect(), [_real(DSNY)], feed, EVERY_YEAR)
    message = str(error.value)
    assert "test_dsny" in message and "REFUSETONSCOLECTED" in message and "msw_recycled_share" in message
    assert "closest: REFUSETONSCOLLECTED" in message and "feeds.yml" in message


def test_a_missing_year_column_is_a_feed_error():
    with pytest.raises(FeedError, match="year_column names column 'MONTHS'"):
        wide_table.source_rows(duckdb.connect(), [_real(DSNY)], _dsny_feed(year_column="MONTHS"), EVERY_YEAR)


def test_an_unknown_unit_quarantines_the_row_with_a_reason_naming_the_unit():
    feed = _dsny_feed(indicators=[{**DSNY_INDICATORS[0], "unit": "tonnes_per_yr"}])
    parsed = wide_table.parse(duckdb.connect(), [_real(DSNY)], feed, Interval.of("2019-01-01", "2020-01-01"))
    (error,) = parsed.select("parse_error").fetchone()
    assert "tonnes_per_yr" in error and "unit" in error


def test_a_cell_that_is_not_a_number_quarantines_its_city_year(tmp_path):
    lines = _real(DSNY).path.read_text(encoding="utf-8").splitlines()
    target = next(i for i, line in enumerate(lines) if line.startswith("2019 / 03,Bronx,01,"))
    cells = lines[target].split(",")
    cells[3] = "n/a"
    lines[target] = ",".join(cells)
    path = tmp_path / "dsny.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    con = duckdb.connect()
    source = wide_table.source_rows(con, [landed_file(path, str(path))], _dsny_feed(), EVERY_YEAR)
    errors = _errors_by_year(con, source)
    assert "column REFUSETONSCOLLECTED: 'n/a' is not a number" in errors[2019]
    assert errors[2018] is None


def test_a_wrong_option_is_a_feed_error_saying_what_to_fix():
    with pytest.raises(FeedError, match="require_periods_per_year needs"):
        wide_table.mapping(_dsny_feed(aggregate=None))
    with pytest.raises(FeedError, match="exactly one of options.year_column or options.years_file"):
        wide_table.mapping(_waw_feed(year_column="year"))


def _project_feed(tmp_path: Path, feed_id: str) -> Feed:
    """The feed as feeds.yml declares it (loaded through the registry, mapping included)."""
    import yaml

    from citypeers.registry import load_feeds

    entries = yaml.safe_load(paths.feeds_file().read_text(encoding="utf-8"))["feeds"]
    registry = tmp_path / "feeds.yml"
    registry.write_text(yaml.safe_dump({"feeds": [e for e in entries if e["feed_id"] == feed_id]}), encoding="utf-8")
    (feed,) = load_feeds(registry)
    return feed


def test_demo_waste_table_parses_with_the_demo_feed_of_feeds_yml(tmp_path):
    import csv

    from citypeers.demo import wide_table as demo_wide_table

    with (paths.dbt_project_dir() / "seeds" / "cities.csv").open(newline="", encoding="utf-8") as handle:
        cities = [c for c in csv.DictReader(handle) if c["city_id"] in ("valencia", "hanoi", "delhi", "tokyo")]
    demo_wide_table.write(tmp_path, cities, (2023, 2024, 2025), seed=37)
    payload = landed_file(tmp_path / "wide_table" / "waste_cities.csv", "waste_cities.csv")
    feed = _project_feed(tmp_path, "demo_waste")
    rows = wide_table.parse(duckdb.connect(), [payload], feed, Interval.of("2024-01-01", "2025-01-01")).df()
    # one year's rows: 4 cities x 3 indicators, the double-encoded local names repaired and mapped
    assert len(rows) == 4 * 3 and set(rows["year"]) == {2024}
    assert set(rows["city_id"]) == {"valencia", "hanoi", "delhi", "tokyo"}
    errors = rows.dropna(subset=["parse_error"])
    # the planted gap: the middle city by id (delhi hanoi TOKYO valencia) leaves its coverage
    # empty in the middle year
    assert errors[["city_id", "indicator_code"]].values.tolist() == [["tokyo", "msw_collection_coverage_share"]]
    kg = rows[rows["indicator_code"] == "msw_kg_per_resident_day"].set_index("city_id")["value"]
    assert 0.45 <= kg["delhi"] <= 0.9 and 1.0 <= kg["tokyo"] <= 1.9
    assert set(rows["unit"]) == {"kg / resident / day", "percent"}
