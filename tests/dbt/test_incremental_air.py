"""The incremental air model (feed-days, read by the daily table): a build after one new day
rebuilds that day only, and ends where a full rebuild from empty ends.

Builds go the way the pipeline runs them: a full build, then a copy of that warehouse as the next
build file (what `prepare_build` does with the serving file), then `dbt build` again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest
from tests.citypeers_home import temporary_home
from tests.dbt.test_dbt_build import DBT, _dbt, _write_parsed

from citypeers.warehouse import prepare_build

DAILY = "int_air_readings_aggregated_to_daily"
YEAR_OF_MADRID = {"source": "eea_air", "feed_id": "test_europe", "period": "2023", "station_id": "ES0001A",
                  "city_id": "madrid", "first_hour": "2023-01-01", "end_hour": "2024-01-01", "value": 10.0}
YEAR_OF_TOKYO = {"source": "openaq_air", "feed_id": "test_asia", "period": "2023", "station_id": "1001",
                 "city_id": "tokyo", "first_hour": "2023-01-01", "end_hour": "2024-01-01", "value": 8.0}


def _new_day(value: float) -> dict:
    return {"source": "eea_air", "feed_id": "test_europe", "period": "2024-01-01", "station_id": "ES0001A",
            "city_id": "madrid", "first_hour": "2024-01-01", "end_hour": "2024-01-02", "value": value}


class Home:
    """A CITYPEERS_HOME with parsed air files and a dbt that builds into a chosen file."""

    def __init__(self, root: Path):
        self.root = root
        (root / "warehouse").mkdir(parents=True)
        with temporary_home(root):
            prepare_build()  # the zero-row schema files every build starts with

    def write(self, delivery: dict) -> None:
        with duckdb.connect() as con:
            _write_parsed(con, self.root, **delivery)

    def dbt(self, *args: str, into: Path) -> str:
        env = {**os.environ, "CITYPEERS_HOME": str(self.root), "CITYPEERS_BUILD_DB": str(into),
               "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
               "DBT_LOG_PATH": str(self.root / "dbt_logs"),
               "PATH": f"{DBT.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        return _dbt(*args, env=env, target_path=self.root / "dbt_target")


def _daily(database: Path) -> dict[tuple, tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(f"""
            select station_key, pollutant, local_date, reported_hour_count, valid_hour_count,
                   daily_mean_concentration, is_valid_day, rebuilt_at
            from {DAILY}""").fetchall()
    return {row[:3]: row[3:] for row in rows}


def _annual(database: Path) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute("select city_id, year, indicator_code, value, feed_ids from fct_city_indicator_annual "
                           "where domain = 'air_quality' order by all").fetchall()


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = Home(tmp_path_factory.mktemp("incremental_home"))
    home.write(YEAR_OF_MADRID)
    home.write(YEAR_OF_TOKYO)
    first = home.root / "warehouse" / "first.duckdb"
    home.dbt("seed", into=first)
    home.dbt("build", into=first)

    home.write(_new_day(30.0))
    second = home.root / "warehouse" / "second.duckdb"
    shutil.copyfile(first, second)
    second_log = home.dbt("build", into=second)

    home.write(_new_day(40.0))  # the same day delivered again with other values (a rerun)
    third = home.root / "warehouse" / "third.duckdb"
    shutil.copyfile(second, third)
    home.dbt("build", into=third)

    full = home.root / "warehouse" / "full.duckdb"
    home.dbt("seed", into=full)
    home.dbt("build", "--full-refresh", into=full)
    return {"first": first, "second": second, "second_log": second_log, "third": third, "full": full}


def test_a_new_day_rebuilds_that_day_only(builds):
    before, after = _daily(builds["first"]), _daily(builds["second"])
    new_keys = set(after) - set(before)
    assert {key[2].isoformat() for key in new_keys} == {"2024-01-01"}
    assert after[("eea_air:ES0001A", "pm25", new_keys.pop()[2])][:3] == (24, 24, 30.0)
    # every other day is the row the first build wrote, watermark included: it was not rebuilt
    assert {key: after[key] for key in before} == before
    assert "rebuilding local dates 2024-01-01 to 2024-01-01" in builds["second_log"]


def test_a_day_delivered_again_replaces_that_day(builds):
    third = _daily(builds["third"])
    days_of_2024 = [value for key, value in third.items() if key[2].year == 2024]
    assert [day[2] for day in days_of_2024] == [40.0]
    assert len(third) == len(_daily(builds["second"]))


def test_incremental_builds_end_where_a_full_rebuild_ends(builds):
    def without_watermark(rows: dict) -> dict:
        return {key: value[:-1] for key, value in rows.items()}

    assert without_watermark(_daily(builds["third"])) == without_watermark(_daily(builds["full"]))
    assert _annual(builds["third"]) == _annual(builds["full"])
    assert len(_annual(builds["full"])) >= 2
