"""wide_table reads tables as they are published: a WHO-database-style table (byte-order mark,
lines above the header, repeated column names, "(10)-converted value" cells, a country column),
and contains the damage of one bad cell to the indicator that reads it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from citypeers import ingest, paths
from citypeers.errors import ContractError, FeedError
from citypeers.feeds import wide_table
from citypeers.intervals import Interval
from citypeers.registry import Feed, load_feeds
from tests import who_air_quality
from tests.citypeers_home import temporary_home
from tests.unit.landed import landed_file

YEAR_2019 = Interval.of("2019-01-01", "2020-01-01")
COLUMN_PM25 = "Annual mean, ug/m3 (#9)"


@pytest.fixture
def who(tmp_path: Path) -> tuple[Path, Feed]:
    table, registry = who_air_quality.write(tmp_path / "who")
    (feed,) = load_feeds(registry)
    return table, feed


def _parsed(table: Path, feed: Feed) -> dict[tuple[int, str], tuple]:
    """(data row, indicator) → (city_id, value, source_ref, parse_error)."""
    relation = wide_table.parse(duckdb.connect(), [landed_file(table, str(table))], feed, YEAR_2019)
    rows = relation.select("source_row, indicator_code, city_id, value, source_ref, parse_error").fetchall()
    return {(row, code): tuple(rest) for row, code, *rest in rows}


def test_who_style_table_is_read_as_published(who):
    table, feed = who
    rows = _parsed(table, feed)
    assert len(rows) == 7 * 2
    # the byte-order mark, the two lines above the header and the repeated names did not get in the way
    assert rows[(1, "pm25_annual_mean")] == ("athens", 16.0, f"{table}, row 1", None)
    assert rows[(1, "pm10_annual_mean")][:2] == ("athens", 35.0)
    assert rows[(6, "pm25_annual_mean")][:2] == ("lyon", 11.0)


def test_a_converted_value_is_not_a_measurement_and_leaves_the_rows_other_indicator_standing(who):
    table, feed = who
    rows = _parsed(table, feed)
    city, value, source_ref, reason = rows[(3, "pm25_annual_mean")]
    assert (city, value, source_ref) == ("madrid", None, f"{table}, row 3")
    assert reason == (
        f"not a measurement: column {COLUMN_PM25} holds '(10)-converted value' (options.not_a_measurement)")
    assert rows[(3, "pm10_annual_mean")] == ("madrid", 24.0, f"{table}, row 3", None)


def test_a_cell_that_is_not_a_number_quarantines_only_the_indicator_that_reads_it(who):
    table, feed = who
    rows = _parsed(table, feed)
    assert rows[(6, "pm10_annual_mean")][3] == "column Annual mean, ug/m3 (#6): 'n/a' is not a number"
    assert rows[(6, "pm25_annual_mean")] == ("lyon", 11.0, f"{table}, row 6", None)
    assert rows[(5, "pm25_annual_mean")][3] == f"no value: empty cell (not reported) in {COLUMN_PM25}"
    assert rows[(5, "pm10_annual_mean")][1:] == (20.0, f"{table}, row 5", None)


def test_cities_are_matched_on_name_and_country_and_others_are_out_of_scope(who):
    table, feed = who
    rows = _parsed(table, feed)
    city, value, _, reason = rows[(2, "pm25_annual_mean")]
    assert (city, value) == (None, 9.0)
    assert reason == (
        "out of scope: city 'Athens' in 'USA' is not a known city: the registry's athens (Athens in Greece) is "
        "in another country (if 'USA' is that country spelled otherwise, map it to the ISO3 code under "
        "options.countries of feed who_air)"
    )
    assert rows[(4, "pm10_annual_mean")][3].startswith(
        "out of scope: city 'Valencia' in 'VEN' is not a known city: the registry's valencia (Valencia in Spain) "
        "is in another country")
    assert rows[(7, "pm10_annual_mean")][3] == (
        "out of scope: city 'Springfield' is not a known city: not in the city registry "
        "(dbt_project/seeds/cities.csv) and not mapped under cities: of feed who_air")


def test_ingest_publishes_the_usable_values_and_counts_out_of_scope_rows_apart(who, tmp_path, monkeypatch):
    table, _ = who
    monkeypatch.setenv("CITYPEERS_FEEDS", str(table.parent / "feeds.yml"))
    with temporary_home(tmp_path / "home"):
        outcome = ingest.ingest("who_air", "2019-01-01", "2020-01-01")
        quarantine = duckdb.sql(
            f"select source_row, indicator_code, source_ref, quarantine_reason "
            f"from '{paths.quarantine_file('wide_table', 'who_air', '2019')}' order by source_row, indicator_code"
        ).fetchall()
    # 14 values: 5 published; 6 out of scope and 1 not a measurement left aside; 2 broken of the 7
    # in scope (29%, under the 50% share), where counting all 9 of 14 (64%) would have failed the feed
    assert outcome == {"feed_id": "who_air", "period": "2019", "published": 5, "quarantined": 9,
                       "out_of_scope": 6, "not_a_measurement": 1}
    reasons = {(row, code): (ref, reason) for row, code, ref, reason in quarantine}
    assert reasons[(6, "pm10_annual_mean")] == (
        f"{table}, row 6", "column Annual mean, ug/m3 (#6): 'n/a' is not a number")
    assert sum(reason.startswith("out of scope:") for _, reason in reasons.values()) == 6


def test_the_same_table_fails_when_broken_rows_pass_the_share_of_rows_in_scope(who, tmp_path, monkeypatch):
    table, _ = who
    lines = table.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(",35,", ",x,").replace(",16,", ",y,")  # Athens, GRC: both cells broken
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("CITYPEERS_FEEDS", str(table.parent / "feeds.yml"))
    with temporary_home(tmp_path / "home"), pytest.raises(ContractError) as raised:
        ingest.ingest("who_air", "2019-01-01", "2020-01-01")
    assert "4 of 7 rows fail validation (more than 50%, options.max_quarantine_share) " \
           "(7 rows out of scope or not measurements not counted)" in str(raised.value)


def _feed(**options) -> Feed:
    """The WHO fixture's mapping (PM2.5 only), changed by `options`; an option set to None is left out."""
    base = {"header_row": 3, "city_column": "City/Town", "year_column": "#5",
            "indicators": [{"indicator_code": "pm25_annual_mean", "value": "#9", "unit": "ug/m3"}]}
    merged = {key: value for key, value in {**base, **options}.items() if value is not None}
    return Feed("who_air", "wide_table", "x", "@yearly", options=merged)


def test_a_repeated_column_name_must_be_addressed_by_position(who):
    table, _ = who
    feed = _feed(indicators=[{"indicator_code": "pm25_annual_mean", "value": '"Annual mean, ug/m3"',
                              "unit": "ug/m3"}])
    with pytest.raises(FeedError) as raised:
        wide_table.source_rows(duckdb.connect(), [landed_file(table, str(table))], feed, YEAR_2019)
    assert ("names column 'Annual mean, ug/m3', which the header has 2 times (#6, #9): "
            'address one by position, e.g. "#6"') in str(raised.value)
    assert str(table) in str(raised.value)


def test_a_missing_column_lists_the_header_as_the_file_spells_it(who):
    table, _ = who
    with pytest.raises(FeedError) as raised:
        wide_table.source_rows(duckdb.connect(), [landed_file(table, str(table))], _feed(city_column="City"),
                               YEAR_2019)
    message = str(raised.value)
    assert "city_column names column 'City', which the file lacks; closest: City/Town" in message
    assert "the header (line 3) has 'Region' (#1), 'ISO3' (#2), 'Country' (#3), 'City/Town' (#4), 'Year' (#5)" \
        in message


def test_the_header_line_is_found_by_skipping_leading_lines_too(who):
    table, _ = who
    rows = wide_table.parse(duckdb.connect(), [landed_file(table, str(table))], _feed(header_row=None, skip_rows=2),
                            YEAR_2019)
    # without country_column both Athens rows go to Athens, Greece: the misattribution it prevents
    assert sorted(rows.filter("city_id = 'athens'").select("value").fetchall()) == [(9.0,), (16.0,)]


def test_a_table_without_header_is_read_by_position(tmp_path):
    path = tmp_path / "bare.csv"
    path.write_text("Note: figures of 2019\nAthens,2019,16\nParis,2019,14\n", encoding="utf-8")
    feed = Feed("bare", "wide_table", str(path), "@yearly", options={
        "skip_rows": 1, "header_row": 0, "city_column": "#1", "year_column": "#2",
        "indicators": [{"indicator_code": "pm25_annual_mean", "value": "#3 * 1", "unit": "ug/m3"}]})
    rows = wide_table.parse(duckdb.connect(), [landed_file(path, str(path))], feed, YEAR_2019)
    assert sorted(rows.select("city_id, value, source_ref").fetchall()) == [
        ("athens", 16.0, f"{path}, row 1"), ("paris", 14.0, f"{path}, row 2")]
    by_name = Feed("bare", "wide_table", "x", "@yearly", options={**feed.options, "city_column": "City"})
    with pytest.raises(FeedError, match="names column 'City', .*the table has no header \\(header_row: 0\\): "
                                        "address its columns by position, #1 to #3"):
        wide_table.source_rows(duckdb.connect(), [landed_file(path, str(path))], by_name, YEAR_2019)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"header_row": 2, "skip_rows": 2}, "header_row 2 is among the 2 skipped lines (skip_rows)"),
        ({"skip_rows": -1}, "skip_rows must be a whole number of lines, 0 or more (got -1)"),
        ({"not_a_measurement": "conv(erted"}, "not_a_measurement 'conv(erted' is not a regular expression"),
        ({"country_column": "ISO3", "city_column": None}, "needs options.city_column"),
    ],
)
def test_a_wrong_layout_option_is_a_feed_error_saying_what_to_fix(options, reason):
    with pytest.raises(FeedError, match=reason.replace("(", "\\(").replace(")", "\\)")):
        wide_table.mapping(_feed(**options))


def test_a_header_beyond_the_end_of_the_file_is_a_feed_error(who):
    table, _ = who
    with pytest.raises(FeedError, match="the table has 10 lines, too few for its header \\(header_row: 40\\)"):
        wide_table.source_rows(duckdb.connect(), [landed_file(table, str(table))], _feed(header_row=40),
                               YEAR_2019)
