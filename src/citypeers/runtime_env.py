"""The environment Airflow, dbt and Superset run with: one place, used by make, tests and docs.

`citypeers env` prints it as shell exports. Every telemetry switch of the stack is off here,
because nothing in citypeers may call the internet.
"""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path

from citypeers import paths

# Together these bound a pipeline step's memory (goal: under 2 GB with a year of hourly readings
# for 1,000 stations): DuckDB's memory limit for ingest queries and dbt (past it DuckDB spills to
# disk), and the most candidate rows the GX gate holds as one pandas frame.
DEFAULT_DUCKDB_MEMORY_LIMIT = "1GB"
DEFAULT_GX_CHUNK_ROWS = 250_000


# dbt's unit tests check the models' logic on fixed rows: they run with the test suite
# (tests/dbt, `make test`), not again in every pipeline build, where they cost seconds each time.
PIPELINE_DBT_EXCLUDES = {"DBT_EXCLUDE_RESOURCE_TYPES": "unit_test"}

# The transform DAG's dbt tasks: one `dbt build --selector layer_<name>` each, in this order
# (dbt_project/selectors.yml). Not one task per model: every task starts a process and dbt (~4 s),
# and 86 of them took 7 min on the CeleryExecutor for a build dbt does in 20 s.
DBT_LAYERS = ["staging", "intermediate", "marts"]


def duckdb_memory_limit() -> str:
    """$CITYPEERS_DUCKDB_MEMORY_LIMIT, or 1GB."""
    return os.environ.get("CITYPEERS_DUCKDB_MEMORY_LIMIT") or DEFAULT_DUCKDB_MEMORY_LIMIT


def dbt_env() -> dict[str, str]:
    """Environment for dbt in the pipeline (`citypeers build` and the transform DAG): where to build,
    where the parsed files are, no unit tests, telemetry off."""
    return {
        "CITYPEERS_HOME": str(paths.home()),
        "CITYPEERS_BUILD_DB": str(paths.build_db()),
        "CITYPEERS_DUCKDB_MEMORY_LIMIT": duckdb_memory_limit(),
        **PIPELINE_DBT_EXCLUDES,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }


def gx_chunk_rows() -> int:
    """$CITYPEERS_GX_CHUNK_ROWS, or 250,000."""
    return int(os.environ.get("CITYPEERS_GX_CHUNK_ROWS") or DEFAULT_GX_CHUNK_ROWS)


def gx_gate() -> str:
    """$CITYPEERS_GX_GATE: `sql` (the default) hands GX only the candidate rows that a DuckDB
    predicate compiled from the suite flags (citypeers.suite_sql); `full` hands GX every row."""
    mode = os.environ.get("CITYPEERS_GX_GATE") or "sql"
    if mode not in ("sql", "full"):
        raise ValueError(f"CITYPEERS_GX_GATE={mode!r}: use sql (the default) or full")
    return mode


def stack_environment(home: Path | None = None) -> dict[str, str]:
    home = (home or paths.home()).resolve()
    airflow_home = home / "airflow"
    venv_bin = Path(sys.executable).parent
    return {
        "CITYPEERS_HOME": str(home),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(paths.REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # 2 cores: the default of 32 parallel workers only thrashes.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__API__PORT": os.environ.get("AIRFLOW_PORT", "8080"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL":
            f"http://127.0.0.1:{os.environ.get('AIRFLOW_PORT', '8080')}/execution/",
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "False",
        "SCARF_ANALYTICS": "false",
        "CITYPEERS_BUILD_DB": str(home / "warehouse" / "build.duckdb"),
        "CITYPEERS_SERVING_DB": str(home / "warehouse" / "citypeers.duckdb"),
        "CITYPEERS_DUCKDB_MEMORY_LIMIT": duckdb_memory_limit(),
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
    }


# The Celery queues: ingest tasks (network and parsing, many at once) and transform tasks (the single
# DuckDB writer) can go to different worker pools. The LocalExecutor ignores queues.
INGEST_QUEUE = "ingest"
TRANSFORM_QUEUE = "transform"


def scheduler_environment(home: Path | None = None, executor: str = "celery") -> dict[str, str]:
    """stack_environment for a running scheduler (scripts/celery_stack.sh): a local Postgres for
    Airflow's metadata (SQLite allows one writer, not a scheduler beside workers); on the
    CeleryExecutor Redis as the broker and Postgres for Celery's results, on the LocalExecutor the
    scheduler runs the tasks itself. Only triggered runs and backfills are created (`use_job_schedule`
    off), so a demo runs exactly the intervals it asks for."""
    postgres = f"airflow@127.0.0.1:{os.environ.get('CITYPEERS_PG_PORT', '5433')}/airflow"
    environment = stack_environment(home) | {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{postgres}",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }
    if executor == "local":
        return environment
    return environment | {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{os.environ.get('CITYPEERS_REDIS_PORT', '6379')}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{postgres}",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "citypeers.runtime_env.worker_hostname",
    }


def worker_hostname() -> str:
    """The name a task instance records as its host: $CITYPEERS_WORKER_NAME (set per Celery worker by
    scripts/celery_stack.sh, so two workers on one machine are told apart), else the FQDN."""
    import socket

    return os.environ.get("CITYPEERS_WORKER_NAME") or socket.getfqdn()


def shell_exports(home: Path | None = None, executor: str = "local") -> str:
    """`citypeers env`: local = the embedded default (SQLite, `airflow dags test`); local-scheduler and
    celery = scripts/celery_stack.sh's scheduler on Postgres, on the LocalExecutor or Celery workers."""
    environment = {"local": stack_environment, "local-scheduler": partial(scheduler_environment, executor="local"),
                   "celery": scheduler_environment}[executor](home)
    return "\n".join(f"export {key}='{value}'" for key, value in environment.items())
