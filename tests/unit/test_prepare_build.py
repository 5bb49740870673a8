"""Where a build starts: a copy of the serving warehouse (incremental), or an empty file."""

from __future__ import annotations

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
