"""`make bench` runs at tier S and reports every figure it promises (never a timing assertion)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_harness_runs_at_tier_s_and_writes_its_results(tmp_path):
    # The under-Airflow step is left out here (3-4 minutes of `make test`): the e2e session runs every
    # DAG under Airflow; `make bench` runs the step.
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "run.py"), "--results-dir", str(tmp_path), "--skip-airflow"],
        capture_output=True, text=True, timeout=3600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    [written] = tmp_path.glob("*_S.json")
    result = json.loads(written.read_text())
    steps = {row["step"]: row for row in result["steps"]}
    assert len(steps) == len(result["steps"]), "step labels must be unique"
    for row in result["steps"]:
        assert row["seconds"] > 0 and row["peak_mb"] > 0, row
    marts = result["air_quality_marts"]
    for way in ("pipeline_cli", "floor", "pandas"):
        assert marts[way]["seconds"] > 0, way
    assert marts["pipeline_airflow"] is None and marts["ratios"]["pipeline_airflow_over_floor"] is None
    assert "under Airflow: skipped (--skip-airflow)" in completed.stdout
    assert set(marts["ratios"]) == {"pipeline_cli_over_floor", "pipeline_airflow_over_floor",
                                    "pandas_over_pipeline_cli", "incremental_over_full_run"}
    for kind in ("cold", "warm"):  # cache bypassed (force) and from the data cache, same payloads
        charts = result["superset_chart_data"][kind]
        assert charts["requests"] > 0 and charts["failures"] == 0, charts
        assert 0 < charts["p50_ms"] <= charts["p95_ms"]
    assert result["incremental_one_day"]["seconds"] > 0
    briefs = result["city_briefs"]
    full, again = briefs["full"], briefs["unchanged"]
    assert full["cities_rendered"] == full["cities_with_data"] > 0 and not full["extrapolated"], briefs
    assert again["cities_rendered"] == 0 and again["cities_unchanged"] == full["cities_with_data"], briefs
    rerun = result["http_rerun_unchanged"]  # every HTTP feed's interval again: nothing changed, all skipped
    assert rerun["intervals"] == 6 and rerun["unchanged"] == rerun["intervals"] and rerun["seconds"] > 0, rerun
    assert result["dag_folder_parse_seconds"] > 0
    dagbag = next(row for label, row in steps.items() if label.startswith("DAG folder"))
    _, dag_count, import_errors = dagbag["output"].split()
    assert int(dag_count) > 0 and int(import_errors) == 0
    impact = result["practice_impact"]
    assert impact["practices"] == 100 and impact["estimate_seconds"] > 0 and impact["estimated"] > 0, impact
    assert len(result["goals"]) == 7
    for goal in result["goals"]:
        assert isinstance(goal["met"], bool) and (goal["met"] or goal["missed_by"]), goal
    assert "pipeline_cli_over_floor" in completed.stdout  # the table is printed, not only written
    assert "goals (set for tier M" in completed.stdout
