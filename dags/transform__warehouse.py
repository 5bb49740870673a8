"""Airflow DAG `transform__warehouse`: dbt build (Cosmos) → GX gate on marts → atomic publish."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, AssetAny, Param, dag, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

from citypeers import paths
from citypeers.registry import SOURCES
from citypeers.runtime_env import PIPELINE_DBT_EXCLUDES, TRANSFORM_QUEUE, duckdb_memory_limit

WRITER_POOL = "duckdb_writer"
DBT_PROJECT = paths.dbt_project_dir()

DOC = """
### Transform: build, check and publish the warehouse
Runs when any source's parsed Asset (`citypeers://parsed/<source>`) is updated.
1. `prepare_build` starts `warehouse/build.duckdb` as a copy of the serving warehouse, so the
   incremental air models rebuild only the days of parsed files written since the last build
   (trigger with the param `full_refresh` to rebuild everything from empty);
2. `dbt` (Cosmos, one task per model/seed, `dbt build` so each node's tests run with it) builds
   staging → intermediate → marts into the build file;
3. `validate_marts` runs the GX suites `marts__*` on the build file;
4. `publish` renames the build file over `warehouse/citypeers.duckdb` (atomic) and updates the
   Asset `citypeers://warehouse`.
Every task that writes DuckDB runs in the pool `duckdb_writer` (1 slot): one writer at a time, on
any number of Celery workers too (the scheduler holds the pool); on the CeleryExecutor they go to
the queue `transform`.

**Triage a failure**: nothing is published unless every step passed, so the serving warehouse is
the previous good one. A dbt task failure names the model and the failing test in its log; a
`validate_marts` failure names the mart, expectation and example. Same steps by hand:
`citypeers build`.
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

    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT,
            manifest_path=DBT_PROJECT / "target" / "manifest.json",
            project_name="citypeers",
            env_vars={
                "CITYPEERS_HOME": str(paths.home()),
                "CITYPEERS_BUILD_DB": str(paths.build_db()),
                "CITYPEERS_DUCKDB_MEMORY_LIMIT": duckdb_memory_limit(),
                **PIPELINE_DBT_EXCLUDES,
            },
        ),
        profile_config=ProfileConfig(
            profile_name="citypeers",
            target_name="build",
            profiles_yml_filepath=DBT_PROJECT / "profiles.yml",
        ),
        # Each node runs `dbt build` with only its own tests (cautious); a test of several models
        # (relationships) gets its own task after all of them.
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.BUILD,
            should_detach_multiple_parents_tests=True,
        ),
        operator_args={"install_deps": False, "pool": WRITER_POOL, "queue": TRANSFORM_QUEUE,
                       "full_refresh": "{{ params.full_refresh }}"},
    )

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
