"""EEA Air Quality Download Service Parquet files through the `eea_air` parser.

No real Parquet sample is stored here, so the tests convert the real BETR740 PM10 2013 e-Reporting
CSV (../shared/data/eea_ereporting/) into the download service's layout with DuckDB: Samplingpoint
'<country>/<sampling point id>', Pollutant as the vocabulary id (5 = PM10), Start/End as naive
timestamps on the UTC+1 clock, Value DECIMAL(38,18), Unit 'ug.m-3', AggType, Validity,
Verification, ResultTime, DataCapture, FkObservationLog. The conversion keeps the CSV's duplicate
hours, so the de-duplication is exercised too.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from citypeers.errors import FeedError
from citypeers.feeds import PARSED_AIR_COLUMNS, eea_air
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.unit.landed import land, landed_file
from tests.unit.test_eea_air import REAL_FILE, YEAR_2013, _real_lines

SAMPLING_POINT = "BE/SPO-BETR740_00005_100"
READING_COLUMNS = "station_id, city_id, pollutant, measured_at_utc, local_date, value, unit, is_valid"


def _to_download_service_layout(csv_file: Path, target: Path, value_type: str = "DECIMAL(38,18)") -> Path:
    """The e-Reporting CSV rewritten as the download service writes its Parquet files."""
    with duckdb.connect() as con:
        con.execute(f"""
            COPY (
                SELECT
                    Countrycode || '/' || SamplingPoint AS Samplingpoint,
                    CAST(regexp_extract(AirPollutantCode, '(\\d+)$', 1) AS INTEGER) AS Pollutant,
                    CAST(left(DatetimeBegin, 19) AS TIMESTAMP) AS Start,
                    CAST(left(DatetimeEnd, 19) AS TIMESTAMP) AS "End",
                    CAST(Concentration AS {value_type}) AS Value,
                    'ug.m-3' AS Unit,
                    AveragingTime AS AggType,
                    CAST(Validity AS INTEGER) AS Validity,
                    CAST(Verification AS INTEGER) AS Verification,
                    TIMESTAMP '2014-09-30 00:00:00' AS ResultTime,
                    NULL::DECIMAL(38,18) AS DataCapture,
                    SamplingProcess AS FkObservationLog
                FROM read_csv('{csv_file}', header = true, all_varchar = true)
            ) TO '{target}' (FORMAT parquet)
        """)
    return target


def _feed(location: str | Path, *, sampling_points: dict[str, str] | None = None, city_id: str | None = None) -> Feed:
    return Feed(
        feed_id="test_eea_parquet",
        source="eea_air",
        location=str(location),
        schedule="@yearly",
        city_id=city_id,
        stations={"BETR740": "brussels"},
        sampling_points={SAMPLING_POINT: "BETR740"} if sampling_points is None else sampling_points,
    )


def _parse(path: Path, feed: Feed | None = None, interval: Interval = YEAR_2013) -> duckdb.DuckDBPyRelation:
    con = duckdb.connect()
    return eea_air.parse(con, [landed_file(path, str(path))], feed or _feed(path), interval)


def _small_file(tmp_path: Path, select: str) -> Path:
    """A few rows of the converted real file, changed by `select` (a SELECT over `converted`)."""
    converted = _to_download_service_layout(REAL_FILE, tmp_path / "converted.parquet")
    target = tmp_path / "changed.parquet"
    with duckdb.connect() as con:
        con.execute(f"CREATE VIEW converted AS SELECT * FROM read_parquet('{converted}') LIMIT 4")
        con.execute(f"COPY ({select}) TO '{target}' (FORMAT parquet)")
    return target


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The real file parsed as CSV and, converted, as Parquet, both through the landing zone."""
    _real_lines()
    folder = tmp_path_factory.mktemp("parquet")
    parquet_file = _to_download_service_layout(REAL_FILE, folder / "BE_BETR740_PM10_2013.parquet")
    con = duckdb.connect()
    for name, location in (("from_csv", REAL_FILE), ("from_parquet", parquet_file)):
        feed = _feed(location)
        landed = land(feed, YEAR_2013, eea_air.fetch(feed, YEAR_2013), tmp_path_factory.mktemp(name))
        con.register(name, eea_air.parse(con, landed, feed, YEAR_2013))
    return con


def test_parquet_gives_the_same_readings_as_the_csv_of_the_same_hours(both):
    only_csv = both.sql(f"SELECT {READING_COLUMNS} FROM from_csv EXCEPT ALL SELECT {READING_COLUMNS} FROM from_parquet")
    only_parquet = both.sql(
        f"SELECT {READING_COLUMNS} FROM from_parquet EXCEPT ALL SELECT {READING_COLUMNS} FROM from_csv"
    )
    assert only_csv.fetchall() == [] and only_parquet.fetchall() == []
    assert both.sql("SELECT count(*) FROM from_parquet").fetchone()[0] == 7684


def test_parquet_annual_mean_is_29_80_with_7684_valid_hours_and_352_local_days(both):
    mean, valid_hours = both.sql("SELECT round(avg(value), 2), count(*) FROM from_parquet WHERE is_valid").fetchone()
    full_days = both.sql(
        "SELECT count(*) FROM (SELECT local_date FROM from_parquet WHERE is_valid "
        "GROUP BY local_date HAVING count(*) >= 18)"
    ).fetchone()[0]
    assert (mean, valid_hours, full_days) == (29.80, 7684, 352)


def test_parquet_start_is_read_as_utc_plus_1_and_source_row_counts_from_1(both):
    first = both.sql(
        "SELECT measured_at_utc, local_date, source_unit, parse_error FROM from_parquet "
        "ORDER BY measured_at_utc LIMIT 1"
    ).fetchone()
    assert str(first[0]) == "2013-01-01 00:00:00" and str(first[1]) == "2013-01-01"  # Start 01:00 on UTC+1
    assert first[2:] == ("ug.m-3", None)
    rows = both.sql("SELECT min(source_row), max(source_row) FROM from_parquet").fetchone()
    assert rows[0] >= 1 and rows[1] <= 15368


def test_parquet_rows_are_the_contract_columns_in_order_and_type(both):
    described = both.sql("DESCRIBE from_parquet").fetchall()
    assert [(name, sql_type) for name, sql_type, *_ in described] == list(PARSED_AIR_COLUMNS)


def test_fetch_lands_parquet_files_with_their_extension(tmp_path):
    parquet_file = _to_download_service_layout(REAL_FILE, tmp_path / "BE_2013.parquet")
    landed = land(_feed(parquet_file), YEAR_2013, eea_air.fetch(_feed(parquet_file), YEAR_2013), tmp_path / "home")
    assert [p.path.suffix for p in landed] == [".parquet"] and eea_air.is_parquet(landed[0])


def test_parquet_missing_column_raises_feed_error_naming_column_and_file(tmp_path):
    path = _small_file(tmp_path, "SELECT * EXCLUDE (Validity) FROM converted")
    with pytest.raises(FeedError, match="missing column\\(s\\) Validity") as raised:
        _parse(path)
    assert "changed.parquet" in raised.value.where and "Download Service layout" in raised.value.action


def test_file_that_is_not_parquet_raises_feed_error(tmp_path):
    path = tmp_path / "cut_off.parquet"
    path.write_bytes(_to_download_service_layout(REAL_FILE, tmp_path / "whole.parquet").read_bytes()[:5000])
    with pytest.raises(FeedError, match="unreadable Parquet file") as raised:
        _parse(path)
    assert "cut_off.parquet" in raised.value.where and "fetch the period again" in raised.value.action


def test_unreadable_value_becomes_a_row_with_parse_error(tmp_path):
    """Value as text (some writers of this layout use strings) with a cell that is not a number."""
    path = _small_file(
        tmp_path,
        "SELECT * REPLACE (CASE WHEN row_number() OVER () = 1 THEN 'n/a' ELSE CAST(Value AS VARCHAR) END AS Value) "
        "FROM converted",
    )
    errors = [e for (e,) in _parse(path).project("parse_error").fetchall() if e]
    assert errors == ["unreadable Value n/a"]


def test_not_a_number_value_becomes_a_row_with_parse_error(tmp_path):
    path = _small_file(tmp_path, "SELECT * REPLACE ('NaN'::DOUBLE AS Value) FROM converted")
    errors = {e for (e,) in _parse(path).project("parse_error").fetchall()}
    assert errors == {"unreadable Value nan"}


def test_unknown_pollutant_code_becomes_a_row_with_parse_error(tmp_path):
    path = _small_file(tmp_path, "SELECT * REPLACE (7 AS Pollutant) FROM converted")  # 7 = O3
    errors = {e for (e,) in _parse(path).project("parse_error").fetchall()}
    assert len(errors) == 1
    assert errors.pop().startswith("Pollutant 7 is not PM10 (5), PM2.5 (6001) or NO2 (8)")


def test_unmapped_sampling_point_becomes_a_row_saying_where_to_map_it(tmp_path):
    path = _small_file(tmp_path, "SELECT * FROM converted")
    rows = _parse(path, _feed(path, sampling_points={})).project("station_id, city_id, parse_error").fetchall()
    for station_id, city_id, parse_error in rows:
        assert station_id == SAMPLING_POINT and city_id is None
        assert "add it to the stations_file column sampling_point" in parse_error


def test_single_city_feed_needs_no_sampling_point_mapping(tmp_path):
    path = _small_file(tmp_path, "SELECT * FROM converted")
    feed = _feed(path, sampling_points={}, city_id="brussels")
    assert {row for row in _parse(path, feed).project("station_id, city_id, parse_error").fetchall()} == {
        (SAMPLING_POINT, "brussels", None)
    }


def test_daily_values_are_rows_with_parse_error(tmp_path):
    path = _small_file(tmp_path, "SELECT * REPLACE ('day' AS AggType) FROM converted")
    assert {e for (e,) in _parse(path).project("parse_error").fetchall()} == {"AggType day is not hour"}
