"""Scale-out on one machine: the DAGs on Airflow's CeleryExecutor with two workers
(scripts/celery_stack.sh: Redis, Postgres, API server, scheduler, DAG processor, Celery workers)
publish the same marts as the same triggered runs on the LocalExecutor (the same script with
CELERY_WORKERS=0: the scheduler runs the tasks)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from citypeers.airflow_api import run_interval
from citypeers.runtime_env import DBT_LAYERS
from tests.e2e.pipeline import (
    BIN,
    airflow_stack,
    environment,
    feeds_file_with_port,
    free_port,
    run,
    start_feed_server,
)

pytestmark = pytest.mark.e2e

CITIES = ["madrid", "barcelona", "seoul"]
YEAR = "2025"
UNTIL = "2026-01-01"
# Columns that record when or how long a run took, not what it published (the demo feed server's
# Last-Modified is its own start time). Timestamp columns are left out too.
RUN_COLUMNS = ("_at", "duration", "seconds", "http_elapsed_ms", "http_last_modified")


@pytest.fixture(scope="module")
def feeds_port() -> int:
    """One demo feed server port for both runs (they run one after the other): the feed URLs the
    marts record (dim_feed, value sources) are then the same."""
    return free_port()


def stack_run(home: Path, port: int, workers: int) -> list[dict]:
    """The demo slice's interval ending UNTIL, triggered through the REST API of scripts/celery_stack.sh
    with `workers` Celery workers (0: the LocalExecutor); the runs' task instances."""
    env = environment(home, feeds_file_with_port(home, port))
    run([str(BIN / "citypeers"), "demo-data", "--cities", *CITIES, "--years", YEAR], env)
    server = start_feed_server(env, port, home / "feed_server.log")
    try:
        with airflow_stack(env, workers) as api:
            runs = run_interval(api, datetime.fromisoformat(f"{UNTIL}T00:00:00+00:00"), timeout=900)
            return [instance for run_ in runs for instance in api.task_instances(run_)]
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def celery_run(tmp_path_factory, feeds_port):
    """Two Celery workers: (home, task instances)."""
    home = tmp_path_factory.mktemp("celery_home")
    return home, stack_run(home, feeds_port, workers=2)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, feeds_port, celery_run):
    """The LocalExecutor, after the Celery run, on the same feed server port: (home, task instances)."""
    home = tmp_path_factory.mktemp("local_home")
    return home, stack_run(home, feeds_port, workers=0)


def test_ingest_tasks_ran_on_both_celery_workers(celery_run):
    _, instances = celery_run
    hosts = {instance["hostname"].split("@")[0] for instance in instances if instance["queue"] == "ingest"}
    assert hosts == {"worker1", "worker2"}, f"ingest tasks ran on {hosts}"
    assert {instance["state"] for instance in instances} <= {"success", "skipped"}


def test_no_two_duckdb_writers_overlapped(celery_run):
    _, instances = celery_run
    writers = sorted((instance["start_date"], instance["end_date"], instance["task_id"]) for instance in instances
                     if instance["pool"] == "duckdb_writer" and instance["start_date"])
    assert len(writers) == 3 + len(DBT_LAYERS), f"the transform's writer tasks: {writers}"
    overlaps = [(a[2], b[2]) for a, b in zip(writers, writers[1:], strict=False) if b[0] < a[1]]
    assert not overlaps, f"writer tasks ran at the same time: {overlaps[:5]}"


def _marts(home: Path) -> dict[str, list[tuple]]:
    """Every mart's rows (run-time columns left out, doubles to 1e-9), sorted."""
    marts = {}
    with duckdb.connect(str(home / "warehouse" / "citypeers.duckdb"), read_only=True) as con:
        tables = con.execute("select table_schema, table_name from information_schema.tables "
                             "where table_name like 'fct\\_%' escape '\\' or table_name like 'dim\\_%' escape '\\'"
                             ).fetchall()
        for schema, table in tables:
            columns = con.execute("select column_name, data_type from information_schema.columns "
                                  "where table_schema = ? and table_name = ? order by ordinal_position",
                                  [schema, table]).fetchall()
            kept = [f"round({name}, 9)" if data_type == "DOUBLE" else f'"{name}"' for name, data_type in columns
                    if not name.endswith(RUN_COLUMNS) and "TIMESTAMP" not in data_type]
            rows = con.execute(f'select {", ".join(kept)} from "{schema}"."{table}"').fetchall()
            marts[f"{schema}.{table}"] = sorted(rows, key=repr)
    return marts


def test_celery_marts_equal_the_local_executors_row_for_row(celery_run, local_run):
    (celery_home, _), (local_home, local_instances) = celery_run, local_run
    assert {instance["state"] for instance in local_instances} <= {"success", "skipped"}
    hosts = {instance["hostname"] for instance in local_instances}
    assert not [host for host in hosts if host.startswith("worker")], f"no Celery worker runs these: {hosts}"
    celery_marts, local_marts = _marts(celery_home), _marts(local_home)
    assert celery_marts.keys() == local_marts.keys()
    assert sum(len(rows) for rows in local_marts.values()) > 0
    different = [name for name in local_marts if celery_marts[name] != local_marts[name]]
    assert not different, f"marts differ: {different}"
