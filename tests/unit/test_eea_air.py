"""EEA e-Reporting parser, on the real BETR740 PM10 2013 export and on broken copies of it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from citypeers import paths
from citypeers.errors import FeedError
from citypeers.feeds import PARSED_AIR_COLUMNS, eea_air
from citypeers.feeds.payloads import LandedPayload
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.unit.landed import land, landed_file

REAL_FILE = paths.REPO_ROOT.parent / "shared" / "data" / "eea_ereporting" / "BE_5_BETR740_csv_response.csv"
YEAR_2013 = Interval.of("2013-01-01", "2014-01-01")


def _feed(location: str | Path = REAL_FILE, stations: dict[str, str] | None = None) -> Feed:
    mapping = {"BETR740": "brussels"} if stations is None else stations
    return Feed(
        feed_id="test_eea", source="eea_air", location=str(location), schedule="@yearly", stations=mapping
    )


def _real_lines() -> list[str]:
    if not REAL_FILE.exists():
        pytest.fail(
            f"the real EEA file is missing: {REAL_FILE} (the tests need ../shared/data next to the repo)"
        )
    return REAL_FILE.read_text(encoding="utf-8").splitlines()


def _write(folder: Path, name: str, lines: list[str]) -> LandedPayload:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return landed_file(path, str(path))


def _with(line: str, **cells: str) -> str:
    header = _real_lines()[0].split(",")
    fields = line.split(",")
    for name, value in cells.items():
        fields[header.index(name)] = value
    return ",".join(fields)


def _parse(payloads: list[LandedPayload], feed: Feed | None = None, interval: Interval = YEAR_2013):
    con = duckdb.connect()
    return con, eea_air.parse(con, payloads, feed or _feed(), interval)


@pytest.fixture(scope="module")
def real_rows(tmp_path_factory):
    _real_lines()
    feed = _feed()
    landed = land(feed, YEAR_2013, eea_air.fetch(feed, YEAR_2013), tmp_path_factory.mktemp("home"))
    con = duckdb.connect()
    con.register("parsed", eea_air.parse(con, landed, feed, YEAR_2013))
    return con


def test_real_file_keeps_one_row_per_hour_and_7684_valid_hours(real_rows):
    total, valid, distinct_hours = real_rows.sql(
        "SELECT count(*), count(*) FILTER (is_valid), count(DISTINCT measured_at_utc) FROM parsed"
    ).fetchone()
    assert (total, valid, distinct_hours) == (7684, 7684, 7684)  # 15,368 rows: every hour twice


def test_real_file_annual_mean_of_valid_hours_is_29_80(real_rows):
    mean = real_rows.sql("SELECT round(avg(value), 2) FROM parsed WHERE is_valid").fetchone()[0]
    assert mean == 29.80


def test_real_file_has_352_local_days_with_18_valid_hours_and_351_utc_days(real_rows):
    def full_days(day_expression: str) -> int:
        return real_rows.sql(
            f"SELECT count(*) FROM (SELECT {day_expression} AS day FROM parsed WHERE is_valid "
            "GROUP BY day HAVING count(*) >= 18)"
        ).fetchone()[0]

    assert full_days("local_date") == 352  # the published figure counts days as the source reports them
    assert full_days("CAST(measured_at_utc AS DATE)") == 351


def test_real_file_times_are_utc_hour_starts_with_the_reported_local_date(real_rows):
    first = real_rows.sql(
        "SELECT measured_at_utc, local_date, value, unit, source_unit, city_id, pollutant, station_id "
        "FROM parsed ORDER BY measured_at_utc LIMIT 1"
    ).fetchone()
    assert str(first[0]) == "2013-01-01 00:00:00"  # '2013-01-01 01:00:00 +01:00'
    assert first[1:2] == (first[0].date(),)
    assert first[3:] == ("µg/m³", "µg/m3", "brussels", "pm10", "BETR740")
    shifted = real_rows.sql(
        "SELECT count(*) FROM parsed WHERE local_date <> CAST(measured_at_utc + INTERVAL 1 HOUR AS DATE)"
    ).fetchone()[0]
    assert shifted == 0


def test_parsed_columns_are_the_contract_columns_in_order_and_type(real_rows):
    described = real_rows.sql("DESCRIBE parsed").fetchall()
    assert [(name, sql_type) for name, sql_type, *_ in described] == list(PARSED_AIR_COLUMNS)
    assert [name for name, _ in PARSED_AIR_COLUMNS][:3] == ["station_id", "city_id", "pollutant"]


def test_source_row_is_the_csv_line_of_the_kept_row(real_rows):
    lines = _real_lines()
    for source_row, value, begin in real_rows.sql(
        "SELECT source_row, source_value, strftime(measured_at_utc + INTERVAL 1 HOUR, '%Y-%m-%d %H:%M:%S') "
        "FROM parsed USING SAMPLE 200 ROWS (reservoir, 1)"
    ).fetchall():
        fields = lines[source_row - 1].split(",")
        assert float(fields[11]) == value and fields[13].startswith(begin)


def test_rows_outside_the_interval_are_left_out(tmp_path):
    feed = _feed()
    march = Interval.of("2013-03-01", "2013-04-01")
    con, rows = _parse(land(feed, march, eea_air.fetch(feed, march), tmp_path), feed, march)
    first, last, count = rows.aggregate("min(measured_at_utc), max(measured_at_utc), count(*)").fetchone()
    assert str(first) >= "2013-03-01" and str(last) < "2013-04-01" and 0 < count <= 31 * 24


def test_fetch_reads_the_files_of_each_year_of_the_interval(tmp_path):
    for year in (2023, 2024, 2025):
        (tmp_path / str(year)).mkdir()
        (tmp_path / str(year) / f"XX_S1_{year}.csv").write_text("header\n", encoding="utf-8")
    feed = _feed(tmp_path / "{year}" / "*.csv")
    payloads = eea_air.fetch(feed, Interval.of("2024-06-01", "2025-06-01"))
    assert [Path(p.request).name for p in payloads] == ["XX_S1_2024.csv", "XX_S1_2025.csv"]
    assert all(p.suffix == ".csv" for p in payloads)


def test_fetch_without_matching_files_raises_feed_error(tmp_path):
    with pytest.raises(FeedError, match="no file matches"):
        eea_air.fetch(_feed(tmp_path / "{year}" / "*.csv"), YEAR_2013)


def test_truncated_file_raises_feed_error_naming_file_and_line(tmp_path):
    lines = _real_lines()
    payload = _write(tmp_path, "truncated.csv", [*lines[:50], lines[50][:40]])
    with pytest.raises(FeedError) as raised:
        _parse([payload])
    message = str(raised.value)
    assert "truncated.csv line 51" in message and "Expected Number of Columns: 17 Found: 4" in message
    assert raised.value.action


def test_missing_column_raises_feed_error_naming_the_column(tmp_path):
    lines = _real_lines()
    header = lines[0].split(",")
    dropped = header.index("Validity")
    rows = [",".join(f for i, f in enumerate(line.split(",")) if i != dropped) for line in lines[:20]]
    with pytest.raises(FeedError, match="missing column\\(s\\) Validity") as raised:
        _parse([_write(tmp_path, "no_validity.csv", rows)])
    assert "no_validity.csv line 1" in raised.value.where


def test_unknown_unit_becomes_a_row_with_parse_error_and_no_value(tmp_path):
    lines = _real_lines()
    payload = _write(tmp_path, "unit.csv", [lines[0], _with(lines[1], UnitOfMeasurement="furlongs")])
    con, rows = _parse([payload])
    value, source_value, source_unit, parse_error = rows.project(
        "value, source_value, source_unit, parse_error"
    ).fetchone()
    assert value is None and source_value == 11.25 and source_unit == "furlongs"
    assert "unknown unit 'furlongs' for pm10" in parse_error


def test_negative_concentration_is_kept_as_a_row_for_the_gate(tmp_path):
    lines = _real_lines()
    payload = _write(tmp_path, "negative.csv", [lines[0], _with(lines[1], Concentration="-3.5")])
    con, rows = _parse([payload])
    assert rows.project("value, is_valid, parse_error").fetchall() == [(-3.5, True, None)]


def test_unmapped_station_becomes_a_row_with_parse_error_and_no_city(tmp_path):
    lines = _real_lines()
    con, rows = _parse([_write(tmp_path, "real.csv", lines[:3])], _feed(stations={"OTHER1": "brussels"}))
    for city_id, value, parse_error in rows.project("city_id, value, parse_error").fetchall():
        assert city_id is None and value is not None
        assert parse_error == "station BETR740 is not mapped to a city in feed test_eea"


def test_unreadable_concentration_and_time_become_rows_with_parse_error(tmp_path):
    lines = _real_lines()
    rows_in = [
        lines[0],
        _with(lines[1], Concentration="n/a"),
        _with(lines[2], DatetimeBegin="30/01/2013 01:00"),
    ]
    con, rows = _parse([_write(tmp_path, "cells.csv", rows_in)])
    errors = sorted(e for (e,) in rows.project("parse_error").fetchall())
    assert len(errors) == 2
    assert "unreadable Concentration n/a" in errors[0]
    assert "unreadable DatetimeBegin 30/01/2013 01:00" in errors[1]


def test_duplicate_hour_keeps_the_valid_sampling_process(tmp_path):
    lines = _real_lines()
    hour = lines[1]  # SamplingProcess SPP-BETR740_00005_1
    invalid_first = _with(hour, SamplingProcess="SPP-BETR740_00005_0", Validity="-1", Concentration="99")
    con, rows = _parse([_write(tmp_path, "duplicate.csv", [lines[0], invalid_first, hour])])
    assert rows.project("is_valid, value, source_row").fetchall() == [(True, 11.25, 3)]


def _dirty_lines() -> list[str]:
    """The real file's first hours with one broken or padded cell each (line n of the file is index n-1)."""
    lines = _real_lines()
    return [
        lines[0],
        _with(lines[1], Concentration="abc"),
        _with(lines[2], Validity="x"),
        _with(lines[3], AirQualityStationEoICode=" BETR740 ", AirPollutant=" PM10 ", Concentration=" 12.5 ",
              Validity=" 1 ", AveragingTime=" hour "),
        _with(lines[4], AveragingTime="day"),
        _with(lines[5], DatetimeBegin="2013-02-30 01:00:00 +01:00"),
        _with(lines[6], Concentration="NaN"),
        _with(lines[7], Concentration="", Validity="1"),
        _with(lines[8], AirPollutant="SO2", DatetimeBegin=""),
        lines[9],
    ]


def test_dirty_cells_get_their_exact_reasons_and_lines_in_each_file_of_a_group(tmp_path):
    lines = _real_lines()
    other = [lines[0], lines[10], _with(lines[11], Validity="-99", Concentration="x"), lines[12]]
    payloads = [_write(tmp_path, "a.csv", _dirty_lines()), _write(tmp_path, "b.csv", other)]
    con, rows = _parse(payloads)
    names = {p.sha256: p.path.name for p in payloads}
    found = {(names[sha], row): error for sha, row, error in rows.project(
        "payload_sha256, source_row, parse_error").fetchall()}
    assert found == {
        ("a.csv", 2): "unreadable Concentration abc",
        ("a.csv", 3): "unreadable Validity x",
        ("a.csv", 4): None,
        ("a.csv", 5): "AveragingTime day is not hour",
        ("a.csv", 6): "unreadable DatetimeBegin 2013-02-30 01:00:00 +01:00",
        ("a.csv", 7): "unreadable Concentration NaN",
        ("a.csv", 8): "valid-flagged hour without Concentration",
        ("a.csv", 9): "AirPollutant SO2 is not PM10, PM2.5 or NO2; unreadable DatetimeBegin (empty)",
        ("a.csv", 10): None,
        ("b.csv", 2): None,
        ("b.csv", 3): "unreadable Concentration x",
        ("b.csv", 4): None,
    }
    padded = rows.filter(f"payload_sha256 = '{payloads[0].sha256}' AND source_row = 4").project(
        "station_id, pollutant, source_value, is_valid").fetchall()
    assert padded == [("BETR740", "pm10", 12.5, True)]


def test_a_day_of_a_yearly_file_is_the_years_rows_of_that_day(tmp_path):
    day = Interval.of("2013-01-30", "2013-01-31")
    payloads = [_write(tmp_path, "real.csv", _real_lines()), _write(tmp_path, "dirty.csv", _dirty_lines())]
    con, year_rows = _parse(payloads)
    year = year_rows.filter(
        "measured_at_utc IS NULL OR (measured_at_utc >= '2013-01-30' AND measured_at_utc < '2013-01-31')"
    ).fetchall()
    con, day_rows = _parse(payloads, interval=day)
    assert day_rows.fetchall() == year
    assert len(year) > 20 and sum(row[3] is None for row in year) == 2  # the unreadable times, kept for every day
