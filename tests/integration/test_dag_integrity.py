"""The DAG folder parses cleanly, cheaply, and every DAG carries what operators rely on."""

import json
import os
import subprocess
import sys

import pytest

from citypeers import paths
from citypeers.runtime_env import DBT_LAYERS, stack_environment

HEAVY_MODULES = ["pandas", "great_expectations", "duckdb", "numpy", "pint", "dbt.cli.main"]

PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": {
        dag_id: {
            "tags": sorted(dag.tags),
            "doc_md": bool(dag.doc_md and len(dag.doc_md) > 100),
            "retries": sorted({t.retries for t in dag.tasks}),
            "pools": sorted({t.pool for t in dag.tasks}),
            "queues": sorted({t.queue for t in dag.tasks}),
            "tasks": len(dag.tasks),
            "task_ids": sorted(t.task_id for t in dag.tasks),
            "mapped": sorted(t.task_id for t in dag.tasks if getattr(t, "is_mapped", False)),
            "trigger_rules": {t.task_id: str(t.trigger_rule) for t in dag.tasks},
            "schedule_assets": sorted(getattr(a, "uri", str(a))
                                      for a in getattr(getattr(dag.timetable, "asset_condition", None), "objects", [])),
        }
        for dag_id, dag in bag.dags.items()
    },
    "heavy": [m for m in json.loads(sys.argv[2]) if m in sys.modules],
}))
"""


@pytest.fixture(scope="module")
def dag_bag(tmp_path_factory):
    env = os.environ | stack_environment(tmp_path_factory.mktemp("home"))
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, str(paths.REPO_ROOT / "dags"), json.dumps(HEAVY_MODULES)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_dag_folder_has_no_import_errors(dag_bag):
    assert dag_bag["errors"] == {}


def test_one_ingest_dag_per_feed_a_snapshot_dag_per_live_feed_the_transform_and_the_briefs(dag_bag):
    assert set(dag_bag["dags"]) == {
        "ingest__eea_air__demo_europe",
        "ingest__openaq_air__demo_asia",
        "ingest__gtfs__demo_gtfs",
        "ingest__gbfs__demo_gbfs",
        "ingest__gbfs__demo_gbfs_live",
        "snapshot__gbfs__demo_gbfs_live",
        "ingest__sdmx_csv__demo_water",
        "ingest__sdmx_csv__demo_noise",
        "ingest__indicator_template__demo_city_template",
        "ingest__wide_table__demo_waste",
        "ingest__practices__demo_practices",
        "transform__warehouse",
        "report__city_briefs",
    }


def test_every_dag_has_tags_docs_and_retries(dag_bag):
    for dag_id, dag in dag_bag["dags"].items():
        assert "citypeers" in dag["tags"], dag_id
        assert dag["doc_md"], f"{dag_id} has no doc_md telling how to triage a failure"
        assert min(dag["retries"]) >= 1, f"{dag_id} has a task without retries"


def test_transform_writes_only_through_the_single_writer_pool(dag_bag):
    transform = dag_bag["dags"]["transform__warehouse"]
    assert transform["pools"] == ["duckdb_writer"]
    assert transform["tasks"] == 3 + len(DBT_LAYERS), "prepare_build, a dbt build per layer, validate_marts, publish"


def test_ingest_and_transform_tasks_go_to_their_celery_queues(dag_bag):
    """The CeleryExecutor routes by queue (scripts/celery_stack.sh, docker-compose.yml): ingest work to
    `ingest`, DuckDB writers to `transform`; a task on another queue would wait for a worker forever."""
    queues = {dag_id: dag["queues"] for dag_id, dag in dag_bag["dags"].items()}
    ingest = {dag_id: q for dag_id, q in queues.items() if dag_id.startswith("ingest__")}
    assert ingest and all(q == ["ingest"] for q in ingest.values()), ingest
    assert queues["transform__warehouse"] == ["transform"]


def test_parsing_the_dag_folder_imports_no_heavy_library(dag_bag):
    assert dag_bag["heavy"] == []


def test_city_briefs_run_after_each_publish_in_one_pooled_task_index_whatever_happened(dag_bag):
    briefs = dag_bag["dags"]["report__city_briefs"]
    assert [uri.rstrip("/") for uri in briefs["schedule_assets"]] == ["citypeers://warehouse"]
    assert "render_briefs" in briefs["task_ids"] and briefs["mapped"] == [], \
        "one task renders the changed cities in its process pool (a mapped task per city costs a process each)"
    assert "all_done" in briefs["trigger_rules"]["write_index"].lower()
    assert "check_every_city_rendered" in briefs["task_ids"]
    assert briefs["pools"] != ["duckdb_writer"], "the briefs only read the serving warehouse"
