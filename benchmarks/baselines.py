"""The two yardsticks for the pipeline's air-quality marts, computed from the raw EEA files
(e-Reporting CSV and/or Air Quality Download Service Parquet, told apart by extension).

* ``floor_city_annual``: benchmarks/floor_air_quality.sql, one hand-written DuckDB script, the
  fastest this stack can compute the marts on this machine;
* ``pandas_city_annual``: what a city analyst would write with pandas;
* ``pipeline_city_annual``: the same figures as the pipeline published them.

All three return one row per city, pollutant and year with ``annual_mean`` and
``meets_completeness_rule``, sorted, so they can be compared value by value.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

FLOOR_SQL = Path(__file__).with_name("floor_air_quality.sql")
KEY = ["city_id", "pollutant", "year"]
COLUMNS = [*KEY, "annual_mean", "meets_completeness_rule"]
POLLUTANT_BY_EEA_NAME = {"PM10": "pm10", "PM2.5": "pm25", "NO2": "no2"}
POLLUTANT_BY_EEA_CODE = {5: "pm10", 6001: "pm25", 8: "no2"}  # download-service Parquet
MIN_VALID_HOURS, MIN_DAY_SHARE, MIN_QUARTER_SHARE = 18, 0.75, 0.5


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[COLUMNS].sort_values(KEY).reset_index(drop=True)


# What the floor reads of each layout, for a feed that has no file of that layout.
_NO_CSV_ROWS = ", ".join(f'NULL::VARCHAR AS "{name}"' for name in (
    "AirQualityStationEoICode", "SamplingProcess", "AirPollutant", "AveragingTime", "Concentration",
    "UnitOfMeasurement", "DatetimeBegin", "Validity", "Verification"))
_NO_PARQUET_ROWS = ('NULL::VARCHAR AS "Samplingpoint", NULL::INTEGER AS "Pollutant", NULL::TIMESTAMP AS "Start", '
                    'NULL::DOUBLE AS "Value", NULL::VARCHAR AS "Unit", NULL::VARCHAR AS "AggType", '
                    'NULL::INTEGER AS "Validity", NULL::INTEGER AS "Verification"')


def _csv_files(raw_files: list[Path]) -> list[str]:
    return [str(path) for path in raw_files if path.suffix.lower() != ".parquet"]


def _parquet_files(raw_files: list[Path]) -> list[str]:
    return [str(path) for path in raw_files if path.suffix.lower() == ".parquet"]


def _has_sampling_points(stations_file: Path) -> bool:
    with stations_file.open(encoding="utf-8") as handle:
        return "sampling_point" in handle.readline().strip().split(",")


def _create_floor_inputs(con: duckdb.DuckDBPyConnection, raw_files: list[Path], stations_file: Path) -> None:
    """The views floor_air_quality.sql reads: the raw files of each layout, and the station list."""
    con.execute("SET VARIABLE csv_files = ?", [_csv_files(raw_files)])
    con.execute("SET VARIABLE parquet_files = ?", [_parquet_files(raw_files)])
    con.execute("SET VARIABLE stations_file = ?", [str(stations_file)])
    con.execute("CREATE TEMP VIEW eea_raw_csv AS " + (
        "SELECT * FROM read_csv(getvariable('csv_files'), header = true, all_varchar = true)"
        if _csv_files(raw_files) else f"SELECT {_NO_CSV_ROWS} LIMIT 0"))
    con.execute("CREATE TEMP VIEW eea_raw_parquet AS " + (
        "SELECT * FROM read_parquet(getvariable('parquet_files'))"
        if _parquet_files(raw_files) else f"SELECT {_NO_PARQUET_ROWS} LIMIT 0"))
    sampling_point = "sampling_point" if _has_sampling_points(stations_file) else "NULL::VARCHAR AS sampling_point"
    con.execute(f"CREATE TEMP VIEW eea_stations AS SELECT station_id, city_id, {sampling_point} "
                "FROM read_csv(getvariable('stations_file'), header = true, all_varchar = true)")


def floor_city_annual(raw_files: list[Path], stations_file: Path, utc_start: str, utc_end: str,
                      memory_limit: str = "2GB") -> pd.DataFrame:
    with duckdb.connect() as con:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET VARIABLE utc_start = ?::TIMESTAMP", [utc_start])
        con.execute("SET VARIABLE utc_end = ?::TIMESTAMP", [utc_end])
        _create_floor_inputs(con, raw_files, stations_file)
        con.execute(FLOOR_SQL.read_text(encoding="utf-8"))
        return _sorted(con.sql("SELECT * FROM floor_city_annual").df())


def _days_in(years: pd.Series, quarter: int | None = None) -> pd.Series:
    leap = ((years % 4 == 0) & ((years % 100 != 0) | (years % 400 == 0))).astype(int)
    if quarter is None:
        return 365 + leap
    return {1: 90 + leap, 2: 91 + 0 * leap, 3: 92 + 0 * leap, 4: 92 + 0 * leap}[quarter]


READING_COLUMNS = ["station_id", "pollutant", "measured_at_utc", "local_date", "concentration", "is_valid",
                   "verification", "SamplingProcess"]


def _csv_readings(paths: list[str]) -> pd.DataFrame:
    """e-Reporting CSV rows as hourly readings (the columns of READING_COLUMNS)."""
    raw = pd.concat((pd.read_csv(path, dtype=str) for path in paths), ignore_index=True)
    raw = raw[raw["AveragingTime"].str.strip() == "hour"].copy()
    raw["station_id"] = raw["AirQualityStationEoICode"].str.strip()
    raw["pollutant"] = raw["AirPollutant"].str.strip().map(POLLUTANT_BY_EEA_NAME)
    begins = pd.to_datetime(raw["DatetimeBegin"].str.strip(), format="%Y-%m-%d %H:%M:%S %z", utc=True)
    raw["measured_at_utc"] = begins.dt.tz_localize(None)
    raw["local_date"] = pd.to_datetime(raw["DatetimeBegin"].str.strip().str[:10])
    factor = raw["UnitOfMeasurement"].str.strip().map({"mg/m3": 1000.0}).fillna(1.0)
    raw["concentration"] = pd.to_numeric(raw["Concentration"].str.strip(), errors="coerce") * factor
    raw["is_valid"] = pd.to_numeric(raw["Validity"].str.strip(), errors="coerce").fillna(0) > 0
    raw["verification"] = pd.to_numeric(raw["Verification"].str.strip(), errors="coerce")
    return raw[READING_COLUMNS]


def _parquet_readings(paths: list[str], stations: pd.DataFrame) -> pd.DataFrame:
    """Download-service Parquet rows as hourly readings: the station through its sampling point,
    Start on the UTC+1 clock. pandas has no Parquet engine in this environment (no pyarrow), so
    DuckDB hands each file to pandas as it is; everything after the read is pandas."""
    raw = pd.concat((duckdb.read_parquet(path).df() for path in paths), ignore_index=True)
    raw = raw[raw["AggType"] == "hour"].copy()
    points = stations.dropna(subset=["sampling_point"]).set_index("sampling_point")["station_id"]
    raw["station_id"] = raw["Samplingpoint"].map(points)
    raw["pollutant"] = raw["Pollutant"].map(POLLUTANT_BY_EEA_CODE)
    raw["measured_at_utc"] = raw["Start"] - pd.Timedelta(hours=1)
    raw["local_date"] = raw["Start"].dt.normalize()
    factor = raw["Unit"].map({"mg.m-3": 1000.0}).fillna(1.0)
    raw["concentration"] = raw["Value"].astype(float) * factor
    raw["is_valid"] = raw["Validity"].fillna(0) > 0
    raw["verification"] = raw["Verification"]
    raw["SamplingProcess"] = raw["Samplingpoint"]
    return raw.dropna(subset=["station_id"])[READING_COLUMNS]


def pandas_city_annual(raw_files: list[Path], stations_file: Path, utc_start: str, utc_end: str) -> pd.DataFrame:
    """A straightforward pandas version, as a city analyst would write it."""
    stations = pd.read_csv(stations_file, dtype=str)
    parts = []
    if _csv_files(raw_files):
        parts.append(_csv_readings(_csv_files(raw_files)))
    if _parquet_files(raw_files):
        parts.append(_parquet_readings(_parquet_files(raw_files), stations))
    raw = pd.concat(parts, ignore_index=True)
    stations = stations[["station_id", "city_id"]].drop_duplicates()
    readings = raw.dropna(subset=["pollutant"]).merge(stations, on="station_id")
    readings = readings[(readings["measured_at_utc"] >= pd.Timestamp(utc_start))
                        & (readings["measured_at_utc"] < pd.Timestamp(utc_end))]
    # one row per station, pollutant and hour: valid first, then verified first
    readings = readings.sort_values(["is_valid", "verification", "SamplingProcess"],
                                    ascending=[False, True, True], na_position="last")
    readings = readings.drop_duplicates(["station_id", "pollutant", "measured_at_utc"])
    readings["valid_concentration"] = readings["concentration"].where(readings["is_valid"])

    days = readings.groupby(["city_id", "station_id", "pollutant", "local_date"], as_index=False).agg(
        daily_mean=("valid_concentration", "mean"), valid_hours=("valid_concentration", "count"))
    days["valid_daily_mean"] = days["daily_mean"].where(days["valid_hours"] >= MIN_VALID_HOURS)
    days["is_valid_day"] = days["valid_daily_mean"].notna()
    days["year"] = days["local_date"].dt.year
    days["quarter"] = days["local_date"].dt.quarter

    station_key = ["city_id", "station_id", "pollutant", "year"]
    stations_years = days.groupby(station_key, as_index=False).agg(
        annual_mean=("valid_daily_mean", "mean"), valid_days=("is_valid_day", "sum"))
    by_quarter = days.pivot_table(index=station_key, columns="quarter", values="is_valid_day", aggfunc="sum",
                                  fill_value=0)
    stations_years = stations_years.merge(by_quarter.reset_index(), on=station_key)
    meets = stations_years["valid_days"] / _days_in(stations_years["year"]) >= MIN_DAY_SHARE
    for quarter in (1, 2, 3, 4):
        counts = stations_years[quarter] if quarter in stations_years else 0
        meets &= counts / _days_in(stations_years["year"], quarter) >= MIN_QUARTER_SHARE
    stations_years["meets_rule"] = meets

    def city_mean(group: pd.DataFrame) -> pd.Series:
        meeting = group[group["meets_rule"]]
        chosen = meeting if len(meeting) else group
        return pd.Series({"annual_mean": chosen["annual_mean"].mean(), "meets_completeness_rule": bool(len(meeting))})

    cities = stations_years.groupby(KEY).apply(city_mean, include_groups=False).reset_index()
    return _sorted(cities.dropna(subset=["annual_mean"]))


def pipeline_city_annual(serving_db: Path, city_ids: list[str]) -> pd.DataFrame:
    """The published air-quality marts, in the same shape."""
    with duckdb.connect(str(serving_db), read_only=True) as con:
        frame = con.execute(
            """
            select city_id, replace(indicator_code, '_annual_mean', '') as pollutant, year,
                   value as annual_mean, meets_completeness_rule
            from fct_city_indicator_annual
            where indicator_code in ('pm25_annual_mean', 'pm10_annual_mean', 'no2_annual_mean')
              and list_contains(?, city_id)
            """,
            [city_ids],
        ).df()
    return _sorted(frame)


def raw_eea_files(feed_dir: Path) -> tuple[list[Path], Path]:
    """An EEA feed folder's raw files (<year>/*.csv and <year>/*.parquet) and its station list (stations.csv)."""
    return sorted([*feed_dir.glob("*/*.csv"), *feed_dir.glob("*/*.parquet")]), feed_dir / "stations.csv"


def main(argv: list[str] | None = None) -> int:
    """python benchmarks/baselines.py floor|pandas <feed_dir> <utc_start> <utc_end>: prints the row count."""
    import sys

    method, feed_dir, utc_start, utc_end = (argv if argv is not None else sys.argv[1:])
    compute = {"floor": floor_city_annual, "pandas": pandas_city_annual}[method]
    result = compute(*raw_eea_files(Path(feed_dir)), utc_start, utc_end)
    print(f"{method}: {len(result)} city-years")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
