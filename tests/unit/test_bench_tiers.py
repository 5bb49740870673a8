"""Benchmark tiers write the same readings as e-Reporting CSV and as download-service Parquet, and
the floor, the pandas baseline and the parser read both layouts to the same figures."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from benchmarks.baselines import floor_city_annual, pandas_city_annual, raw_eea_files
from benchmarks.tiers import TIERS, Tier, write_eea_files

from citypeers.feeds import eea_air
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.unit.landed import landed_file

YEARS = (2024, 2025)
UTC_START, UTC_END = "2024-01-01", "2026-01-01"
READING_COLUMNS = "station_id, city_id, pollutant, measured_at_utc, local_date, value, is_valid"


@pytest.fixture(scope="module")
def feed_dirs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tiers")
    with duckdb.connect() as con:
        for air_format in ("csv", "parquet"):
            write_eea_files(con, Tier("T", cities=3, air_years=YEARS, air_format=air_format), folder / air_format)
    return {air_format: folder / air_format for air_format in ("csv", "parquet")}


def _same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left, right, check_dtype=False, check_exact=False, rtol=0, atol=1e-9)


def test_tier_l_holds_ten_times_tier_m_readings_as_parquet_and_m_stays_csv():
    assert round(TIERS["L"].readings / TIERS["M"].readings) == 10
    assert TIERS["L"].cities == TIERS["M"].cities and len(TIERS["L"].air_years) == 10
    formats = (TIERS["M"].air_format, TIERS["L"].air_format, TIERS["M-parquet"].air_format)
    assert formats == ("csv", "parquet", "parquet")


def test_parquet_tier_files_are_in_the_download_service_layout(feed_dirs):
    files, stations_file = raw_eea_files(feed_dirs["parquet"])
    assert [f.suffix for f in files] == [".parquet", ".parquet"]
    columns = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{files[0]}')").fetchall()
    assert [(name, sql_type) for name, sql_type, *_ in columns][:9] == [
        ("Samplingpoint", "VARCHAR"), ("Pollutant", "INTEGER"), ("Start", "TIMESTAMP"), ("End", "TIMESTAMP"),
        ("Value", "DECIMAL(38,18)"), ("Unit", "VARCHAR"), ("AggType", "VARCHAR"), ("Validity", "INTEGER"),
        ("Verification", "INTEGER"),
    ]
    with stations_file.open(encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == ["sampling_point", "station_id", "city_id"]


def test_floor_gives_the_same_city_annual_means_from_csv_and_from_parquet(feed_dirs):
    from_csv = floor_city_annual(*raw_eea_files(feed_dirs["csv"]), UTC_START, UTC_END)
    from_parquet = floor_city_annual(*raw_eea_files(feed_dirs["parquet"]), UTC_START, UTC_END)
    assert len(from_csv) == 3 * 2 * len(YEARS)  # cities x pollutants x years
    _same(from_csv, from_parquet)


def test_pandas_baseline_reads_parquet_to_the_floor_figures(feed_dirs):
    raw = raw_eea_files(feed_dirs["parquet"])
    _same(pandas_city_annual(*raw, UTC_START, UTC_END), floor_city_annual(*raw, UTC_START, UTC_END))


def test_parser_reads_a_tier_parquet_file_to_the_readings_of_its_csv_twin(feed_dirs):
    def parsed(air_format: str, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
        [path] = sorted((feed_dirs[air_format] / "2025").iterdir())
        with (feed_dirs[air_format] / "stations.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        feed = Feed(
            feed_id="bench_eea", source="eea_air", location=str(path), schedule="@yearly",
            stations={row["station_id"]: row["city_id"] for row in rows},
            sampling_points={row["sampling_point"]: row["station_id"] for row in rows if row.get("sampling_point")},
        )
        return eea_air.parse(con, [landed_file(path, str(path))], feed, Interval.of("2025-01-01", "2026-01-01"))

    con = duckdb.connect()
    con.register("from_csv", parsed("csv", con))
    con.register("from_parquet", parsed("parquet", con))
    assert con.sql("SELECT count(*) FROM from_parquet WHERE parse_error IS NOT NULL").fetchone()[0] == 0
    difference = con.sql(
        f"(SELECT {READING_COLUMNS} FROM from_csv EXCEPT ALL SELECT {READING_COLUMNS} FROM from_parquet) UNION ALL "
        f"(SELECT {READING_COLUMNS} FROM from_parquet EXCEPT ALL SELECT {READING_COLUMNS} FROM from_csv)"
    )
    assert difference.fetchall() == []
    assert con.sql("SELECT count(*) FROM from_parquet").fetchone()[0] > 3 * 2 * 8000
