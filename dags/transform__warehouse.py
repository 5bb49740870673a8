"""Airflow DAG `transform__warehouse`: dbt build by layer (Cosmos) → GX gate on marts → atomic publish."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, AssetAny, Param, TaskGroup, chain, dag, task
from cosmos import ProfileConfig
from cosmos.constants import InvocationMode
from cosmos.operators.local import DbtBuildLocalOperator
from cosmos.settings import cache_dir

from citypeers import paths
from citypeers.registry import SOURCES
from citypeers.runtime_env import DBT_LAYERS, TRANSFORM_QUEUE, dbt_env

WRITER_POOL = "duckdb_writer"
DBT_PROJECT = paths.dbt_project_dir()

DOC = """
### Transform: build, check and publish the warehouse
Runs when any source's parsed Asset (`citypeers://parsed/<source>`) is updated.
1. `prepare_build` starts `warehouse/build.duckdb` as a copy of the serving warehouse, so the
   incremental air models rebuild only the days of parsed files written since the last build
   (trigger with the param `full_refresh` to rebuild everything from empty);
2. `dbt.staging` → `dbt.intermediate` → `dbt.marts` (Cosmos): one `dbt build` per layer into the
   build file (dbt_project/selectors.yml); each node's tests run right after it, a test of nodes
   in several layers with the last of them;
3. `validate_marts` runs the GX suites `marts__*` on the build file;
4. `publish` renames the build file over `warehouse/citypeers.duckdb` (atomic) and updates the
   Asset `citypeers://warehouse`.
Every task writes DuckDB, so every task runs in the pool `duckdb_writer` (1 slot): one writer at a
time, on any number of Celery workers too (the scheduler holds the pool); on the CeleryExecutor
they go to the queue `transform`.

**Triage a failure**: nothing is published unless every step passed, so the serving warehouse is
the previous good one. A failed `dbt.<layer>` task's log names the model and the failing test
(dbt's summary at its end); a `validate_marts` failure names the mart, expectation and example.
Same steps by hand: `citypeers build`.
"""


@dag(
    dag_id="transform__warehouse",
    schedule=AssetAny(*[Asset(f"citypeers://parsed/{source}") for source in SOURCES]),
    start_date=datetime(2023, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=30), "pool": WRITER_POOL,
                  "queue": TRANSFORM_QUEUE},
    tags=["citypeers", "transform", "dbt"],
    doc_md=DOC,
    params={"full_refresh": Param(False, type="boolean",
                                  description="rebuild every model from empty (dbt --full-refresh)")},
)
def transform__warehouse():
    @task
    def prepare_build(params: dict | None = None):
        from citypeers import warehouse

        return warehouse.prepare_build(full_refresh=bool((params or {}).get("full_refresh")))

    with TaskGroup("dbt") as dbt:
        chain(*[
            DbtBuildLocalOperator(
                task_id=layer,
                selector=f"layer_{layer}",
                # a test of models in several layers runs with the last of them, once
                indirect_selection="buildable",
                project_dir=DBT_PROJECT,
                profile_config=ProfileConfig(profile_name="citypeers", target_name="build",
                                             profiles_yml_filepath=DBT_PROJECT / "profiles.yml"),
                env=dbt_env(),
                append_env=True,
                invocation_mode=InvocationMode.DBT_RUNNER,
                install_deps=False,
                # dbt's partial-parse file, kept between tasks: each task re-parses only what changed
                cache_dir=cache_dir / "transform__warehouse",
                emit_datasets=False,
                full_refresh="{{ params.full_refresh }}",
            )
            for layer in DBT_LAYERS
        ])

    @task
    def validate_marts():
        from citypeers import warehouse

        return warehouse.validate_marts()

    @task(outlets=[Asset("citypeers://warehouse")])
    def publish():
        from citypeers import warehouse

        return warehouse.publish()

    prepare_build() >> dbt >> validate_marts() >> publish()


transform__warehouse()
