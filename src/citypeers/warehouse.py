"""Build, check and publish the warehouse.

dbt builds into `build.duckdb`; the GX gate checks the marts there; publishing renames the build
file over the serving file `citypeers.duckdb`. A rename is atomic, so readers (Superset, analysts)
see the old warehouse or the new one, never a half-built one — and a build that dies midway
leaves the serving file untouched.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from citypeers import paths
from citypeers.errors import ContractError
from citypeers.ingest import ensure_schema_file
from citypeers.registry import SOURCES, feed_table
from citypeers.runtime_env import dbt_env

log = logging.getLogger(__name__)

MART_SUITES = (
    "marts__dim_city",
    "marts__fct_city_indicator_annual",
    "marts__fct_city_context_annual",
    "marts__fct_city_peers",
    "marts__fct_city_benchmark",
    "marts__fct_city_indicator_monthly",
    "marts__fct_practice_impact",
)


def prepare_build(full_refresh: bool = False) -> dict[str, Any]:
    """Start a build from a copy of the serving warehouse, so incremental models rebuild only what
    changed (or from an empty file for a full refresh, or before the first publish), with every
    source readable."""
    from citypeers.feeds import notices
    from citypeers.validation import ensure_runs_schema_file

    for source in SOURCES:
        ensure_schema_file(source)
    ensure_runs_schema_file()
    notices.ensure_schema_file()
    ensure_landing_schema_file()
    write_feeds_table()
    build, serving = paths.build_db(), paths.serving_db()
    build.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (build, build.with_name(build.name + ".wal")):
        leftover.unlink(missing_ok=True)
    if serving.exists() and not full_refresh:
        shutil.copyfile(serving, build)
        log.info("build file %s starts as a copy of the serving warehouse (incremental)", build)
    else:
        log.info("build file %s starts empty (%s)", build, "full refresh" if serving.exists() else "first build")
    return {"build_db": str(build), "incremental": serving.exists() and not full_refresh}


def ensure_landing_schema_file() -> None:
    """The zero-row landing manifest, so the landing manifests read as a table before any fetch."""
    schema = paths.landing_schema_file()
    if not schema.exists():
        schema.parent.mkdir(parents=True, exist_ok=True)
        schema.write_text("[]\n", encoding="utf-8")


FEEDS_TABLE_COLUMNS = {
    "feed_id": "varchar", "source": "varchar", "location": "varchar", "schedule": "varchar",
    "start_date": "varchar", "is_demo": "boolean", "next_run_at": "timestamp", "registry_read_at": "timestamp",
}


def write_feeds_table(now: datetime | None = None) -> Path:
    """feeds.yml as Parquet for dbt (source `registry.feeds` -> dim_feed): each feed's schedule,
    location, demo flag and next scheduled run as of this build (the dashboard says "as of").
    Times are naive UTC, as every timestamp in the warehouse."""
    rows = feed_table(now or datetime.now(UTC))
    target = paths.feeds_table()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    columns = ", ".join(f"{name} {kind}" for name, kind in FEEDS_TABLE_COLUMNS.items())
    with duckdb.connect() as con:
        con.execute(f"create table feeds ({columns})")
        if rows:
            con.executemany(f"insert into feeds values ({', '.join('?' * len(FEEDS_TABLE_COLUMNS))})",
                            [[_naive_utc(row[name]) for name in FEEDS_TABLE_COLUMNS] for row in rows])
        con.execute(f"copy (select * from feeds order by feed_id) to '{temporary}' (format parquet)")
    os.replace(temporary, target)
    return target


def _naive_utc(value: Any) -> Any:
    return value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) else value


def run_dbt(*args: str) -> None:
    """Run a dbt command in-process against the build file (what Cosmos does in the DAG)."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_env())
    project = paths.dbt_project_dir()
    result = dbtRunner().invoke([*args, "--project-dir", str(project), "--profiles-dir", str(project)])
    _close_dbt_duckdb()
    if not result.success:
        raise ContractError(f"dbt {' '.join(args)} failed: {result.exception or 'see the dbt log above'}; "
                            f"the serving warehouse {paths.serving_db()} is unchanged")


def _close_dbt_duckdb() -> None:
    """dbt-duckdb keeps one DuckDB instance open per process after a run (a class attribute of
    its connection manager, dbt-duckdb 1.11); close it so this process can check and publish
    the build file. Needed wherever dbt ran in the same process: `citypeers build`, and
    `airflow dags test`, which runs every task in one process."""
    if "dbt.adapters.duckdb.connections" not in sys.modules:
        return
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


def validate_marts() -> dict[str, Any]:
    """The GX gate on the marts in the build file; raises before anything is published."""
    from citypeers.validation import load_suite, validate_frame

    _close_dbt_duckdb()
    build = paths.build_db()
    summary = {}
    with duckdb.connect(str(build), read_only=True) as con:
        for suite_name in MART_SUITES:
            table = load_suite(suite_name)["meta"]["table"]
            frame = con.execute(f"select * from {table}").df()
            outcome = validate_frame(frame, suite_name, run_label=f"build__{os.getpid()}")
            if outcome.failures:
                details = "; ".join(f.describe() for f in outcome.failures)
                raise ContractError(
                    f"mart {table} failed suite {suite_name}: {details}. Nothing was published; the serving "
                    f"warehouse {paths.serving_db()} is unchanged. Full result: {outcome.results_file}"
                )
            summary[table] = outcome.row_count
    log.info("marts passed their suites: %s", summary)
    return summary


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish() -> dict[str, Any]:
    """Atomically replace the serving warehouse with the checked build."""
    build, serving = paths.build_db(), paths.serving_db()
    if not build.exists():
        raise ContractError(f"no build file at {build}: run the build before publishing")
    _close_dbt_duckdb()
    with duckdb.connect(str(build)) as con:
        con.execute("checkpoint")
    _fsync(build)
    os.replace(build, serving)
    _fsync(serving.parent)
    with duckdb.connect(str(serving), read_only=True) as con:
        tables = con.execute(
            "select table_name, estimated_size from duckdb_tables() order by table_name"
        ).fetchall()
    log.info("published %s (%d tables)", serving, len(tables))
    return {"serving_db": str(serving), "tables": {name: rows for name, rows in tables}}


def build_and_publish(full_refresh: bool = False) -> dict[str, Any]:
    """The whole transform, as the DAG runs it, for the command line and tests."""
    prepare_build(full_refresh)
    run_dbt("build", *(["--full-refresh"] if full_refresh else []))
    validate_marts()
    return publish()
