"""Where a build starts: a copy of the serving warehouse (incremental), or an empty file."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

from citypeers import paths
from citypeers.warehouse import prepare_build
from tests.citypeers_home import temporary_home


@pytest.fixture
def home(tmp_path):
    with temporary_home(tmp_path):
        yield tmp_path


def _tables(database) -> list[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        return [row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()]


def test_the_first_build_starts_empty(home):
    outcome = prepare_build()
    assert outcome["incremental"] is False and not paths.build_db().exists()


def test_a_build_starts_from_a_copy_of_the_serving_warehouse(home):
    paths.warehouse_dir().mkdir(parents=True)
    with duckdb.connect(str(paths.serving_db())) as con:
        con.execute("create table int_air_readings_aggregated_to_daily as select 1 as station_day")
    paths.build_db().write_bytes(b"a half-written build left by a killed run")

    outcome = prepare_build()
    assert outcome["incremental"] is True
    assert _tables(paths.build_db()) == ["int_air_readings_aggregated_to_daily"]
    assert _tables(paths.serving_db()) == ["int_air_readings_aggregated_to_daily"]  # untouched


def test_a_full_refresh_starts_empty_even_with_a_serving_warehouse(home):
    paths.warehouse_dir().mkdir(parents=True)
    duckdb.connect(str(paths.serving_db())).close()
    paths.build_db().write_bytes(b"leftover")
    outcome = prepare_build(full_refresh=True)
    assert outcome["incremental"] is False and not paths.build_db().exists()


def test_a_build_starts_with_the_feeds_table_and_a_readable_landing_zone(home, tmp_path, monkeypatch):
    """dbt reads feeds.yml as registry/feeds.parquet (dim_feed) and every landing manifest; both
    must be there before the first fetch."""
    registry = tmp_path / "feeds.yml"
    registry.write_text('feeds:\n  - {feed_id: made_up, source: gtfs, location: "http://127.0.0.1:1/{year}.zip", '
                        'schedule: "@hourly", demo: true}\n', encoding="utf-8")
    monkeypatch.setenv("CITYPEERS_FEEDS", str(registry))
    prepare_build()
    with duckdb.connect() as con:
        [(feed_id, is_demo, schedule, next_run, read_at)] = con.execute(
            f"select feed_id, is_demo, schedule, next_run_at, registry_read_at from '{paths.feeds_table()}'"
        ).fetchall()
        manifests = con.execute(
            f"select count(*) from read_json('{paths.home()}/landing/**/*fetch.json', format = 'auto')").fetchone()
    assert (feed_id, is_demo, schedule) == ("made_up", True, "@hourly")
    assert next_run == read_at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    assert next_run.tzinfo is None  # naive UTC, as every warehouse timestamp
    assert manifests == (0,)
