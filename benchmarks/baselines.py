"""The two yardsticks for the pipeline's air-quality marts, computed from the raw EEA files.

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
MIN_VALID_HOURS, MIN_DAY_SHARE, MIN_QUARTER_SHARE = 18, 0.75, 0.5


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[COLUMNS].sort_values(KEY).reset_index(drop=True)


def floor_city_annual(raw_files: list[Path], stations_file: Path, utc_start: str, utc_end: str,
                      memory_limit: str = "2GB") -> pd.DataFrame:
    with duckdb.connect() as con:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET VARIABLE stations_file = ?", [str(stations_file)])
        con.execute("SET VARIABLE utc_start = ?::TIMESTAMP", [utc_start])
        con.execute("SET VARIABLE utc_end = ?::TIMESTAMP", [utc_end])
        con.execute("SET VARIABLE raw_files = ?", [[str(path) for path in raw_files]])
        con.execute("CREATE TEMP VIEW eea_raw AS "
                    "SELECT * FROM read_csv(getvariable('raw_files'), header = true, all_varchar = true)")
        con.execute(FLOOR_SQL.read_text(encoding="utf-8"))
        return _sorted(con.sql("SELECT * FROM floor_city_annual").df())


def _days_in(years: pd.Series, quarter: int | None = None) -> pd.Series:
    leap = ((years % 4 == 0) & ((years % 100 != 0) | (years % 400 == 0))).astype(int)
    if quarter is None:
        return 365 + leap
    return {1: 90 + leap, 2: 91 + 0 * leap, 3: 92 + 0 * leap, 4: 92 + 0 * leap}[quarter]


def pandas_city_annual(raw_files: list[Path], stations_file: Path, utc_start: str, utc_end: str) -> pd.DataFrame:
    """A straightforward pandas version, as a city analyst would write it."""
    raw = pd.concat((pd.read_csv(path, dtype=str) for path in raw_files), ignore_index=True)
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
    stations = pd.read_csv(stations_file, dtype=str)
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
    """An EEA feed folder's raw files (<year>/*.csv) and its station list (stations.csv)."""
    return sorted(feed_dir.glob("*/*.csv")), feed_dir / "stations.csv"


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
