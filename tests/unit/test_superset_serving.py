"""dashboards/superset_serving.py without Superset: the published-file identity, the data cache keyed
to it, and the shared read-only DuckDB instance that follows a publish (an atomic rename)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import duckdb
import pytest

MODULE = Path(__file__).resolve().parents[2] / "dashboards" / "superset_serving.py"
LOCKED = {"enable_external_access": False, "autoinstall_known_extensions": False,
          "autoload_known_extensions": False, "lock_configuration": True}


@pytest.fixture
def serving():
    spec = importlib.util.spec_from_file_location("superset_serving_under_test", MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def publish(warehouse: Path, value: int) -> None:
    """What citypeers.warehouse.publish does: build a new file, rename it over the serving one."""
    build = warehouse.with_name("build.duckdb")
    with duckdb.connect(str(build)) as con:
        con.execute(f"create table mart as select {value} as value")
    os.replace(build, warehouse)


class DictCache:
    """The part of cachelib's interface PublishKeyedCache uses."""

    def __init__(self):
        self.entries = {}

    def get(self, key):
        return self.entries.get(key)

    def set(self, key, value, timeout=None):
        self.entries[key] = value
        return True

    def add(self, key, value, timeout=None):
        return self.entries.setdefault(key, value) is value

    def has(self, key):
        return key in self.entries

    def delete(self, key):
        return self.entries.pop(key, None) is not None

    def clear(self):
        self.entries.clear()
        return True


def test_file_identity_changes_with_each_publish_and_only_then(serving, tmp_path):
    warehouse = tmp_path / "citypeers.duckdb"
    assert serving.file_identity(warehouse) == serving.ABSENT
    publish(warehouse, 1)
    first = serving.file_identity(warehouse)
    assert serving.file_identity(warehouse) == first
    publish(warehouse, 1)
    assert serving.file_identity(warehouse) not in (first, serving.ABSENT)


def test_a_cached_result_is_not_served_after_a_publish(serving, tmp_path):
    warehouse = tmp_path / "citypeers.duckdb"
    publish(warehouse, 1)
    cache = serving.PublishKeyedCache(DictCache(), warehouse)
    serving.forget_identity_read_by_this_thread()
    cache.set("chart", "value 1")
    assert cache.get("chart") == "value 1"
    publish(warehouse, 2)
    assert cache.get("chart") is None
    assert not cache.has("chart")
    cache.set("chart", "value 2")
    assert cache.get("chart") == "value 2"


def test_a_result_read_before_a_publish_is_stored_under_the_file_it_was_read_from(serving, tmp_path):
    warehouse = tmp_path / "citypeers.duckdb"
    publish(warehouse, 1)
    cache = serving.PublishKeyedCache(DictCache(), warehouse)
    connection, _ = serving.ServingWarehouse(str(warehouse), LOCKED).connect()
    old_value = connection.execute("select value from mart").fetchone()[0]
    publish(warehouse, 2)  # while the query's result is on its way to the cache
    cache.set("chart", old_value)
    assert cache.get("chart") is None, "a result from the replaced file was served as the new file's"


def test_a_request_that_connects_before_and_after_a_publish_stores_under_the_older_file(serving, tmp_path):
    warehouse = tmp_path / "citypeers.duckdb"
    publish(warehouse, 1)
    cache = serving.PublishKeyedCache(DictCache(), warehouse)
    shared = serving.ServingWarehouse(str(warehouse), LOCKED)
    serving.forget_identity_read_by_this_thread()
    query, _ = shared.connect()
    old_value = query.execute("select value from mart").fetchone()[0]
    publish(warehouse, 2)
    shared.connect()  # a second connection in the same request, after the publish
    cache.set("chart", old_value)
    assert cache.get("chart") is None, "a result from the replaced file was served as the new file's"
    cache.set("chart", "read from the new file")  # the next result, with no connection left noted
    assert cache.get("chart") == "read from the new file"


def test_after_a_publish_the_first_result_is_stored_where_the_next_request_finds_it(serving, tmp_path):
    warehouse = tmp_path / "citypeers.duckdb"
    publish(warehouse, 1)
    cache = serving.PublishKeyedCache(DictCache(), warehouse)
    shared = serving.ServingWarehouse(str(warehouse), LOCKED)
    shared.connect()  # an earlier request in this thread connected and stored nothing
    publish(warehouse, 2)
    assert cache.get("chart") is None
    query, _ = shared.connect()
    cache.set("chart", query.execute("select value from mart").fetchone()[0])
    assert cache.get("chart") == 2


def test_connections_follow_a_publish_while_an_older_connection_is_still_reading(serving, tmp_path):
    warehouse = tmp_path / "citypeers.duckdb"
    publish(warehouse, 1)
    shared = serving.ServingWarehouse(str(warehouse), LOCKED)
    before, _ = shared.connect()
    again, _ = shared.connect()
    assert again.execute("select value from mart").fetchone() == (1,)
    publish(warehouse, 2)
    after, _ = shared.connect()
    # duckdb.connect(path) here would return the instance still open on the replaced file: 1
    assert after.execute("select value from mart").fetchone() == (2,)
    assert before.execute("select value from mart").fetchone() == (1,), "the in-flight read failed"


def test_serving_connections_cannot_write_read_files_or_unlock_their_settings(serving, tmp_path):
    warehouse = tmp_path / "citypeers.duckdb"
    publish(warehouse, 1)
    (tmp_path / "secret.csv").write_text("a\n1\n")
    connection, _ = serving.ServingWarehouse(str(warehouse), LOCKED).connect()
    for statement, error in (
        ("create table serving.main.other as select 1", duckdb.Error),
        ("insert into mart values (3)", duckdb.Error),
        (f"select * from read_csv('{tmp_path / 'secret.csv'}')", duckdb.PermissionException),
        (f"attach '{tmp_path / 'other.duckdb'}' as other", duckdb.PermissionException),
        ("set enable_external_access = true", duckdb.Error),
        ("create table memory.main.scratch as select 1", duckdb.Error),
    ):
        with pytest.raises(error):
            connection.execute(statement)
    assert connection.execute("select value from mart").fetchone() == (1,)
