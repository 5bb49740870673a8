"""citypeers.airflow_api against a fake Airflow REST API (pytest-httpserver)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from werkzeug import Response

from citypeers.airflow_api import AirflowApi, Run, trigger_and_wait


@pytest.fixture
def api(httpserver) -> AirflowApi:
    httpserver.expect_request("/auth/token", method="POST",
                              json={"username": "admin", "password": "secret"}).respond_with_json(
        {"access_token": "t0ken"})
    return AirflowApi(httpserver.url_for("/"), "admin", "secret")


def test_task_instances_reads_every_page_past_the_api_limit(api, httpserver):
    rows = [{"task_id": f"t{i}"} for i in range(230)]

    def page(request):
        assert request.headers["Authorization"] == "Bearer t0ken"
        offset, limit = int(request.args["offset"]), int(request.args["limit"])
        body = {"task_instances": rows[offset:offset + min(limit, 100)], "total_entries": len(rows)}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v2/dags/d/dagRuns/r/taskInstances").respond_with_handler(page)
    assert [row["task_id"] for row in api.task_instances(Run("d", "r"))] == [row["task_id"] for row in rows]


def test_trigger_unpauses_then_asks_for_the_interval_ending_at_the_logical_date(api, httpserver):
    httpserver.expect_ordered_request("/api/v2/dags/d", method="PATCH", json={"is_paused": False}) \
        .respond_with_json({"dag_id": "d", "is_paused": False})
    httpserver.expect_ordered_request(
        "/api/v2/dags/d/dagRuns", method="POST", json={"logical_date": "2026-01-01T00:00:00Z", "conf": {}}) \
        .respond_with_json({"dag_run_id": "manual__1"})
    assert api.trigger("d", datetime(2026, 1, 1, tzinfo=UTC)) == Run("d", "manual__1")
    httpserver.check_assertions()


def test_an_api_error_names_the_call_and_the_answer(api, httpserver):
    httpserver.expect_request("/api/v2/dags/d/dagRuns/r").respond_with_data("no such run", status=404)
    with pytest.raises(RuntimeError, match=r"GET /dags/d/dagRuns/r: HTTP 404 no such run"):
        api.wait([Run("d", "r")], timeout=1)


def test_a_run_that_ran_no_task_is_an_error_not_a_success(api, httpserver):
    """Airflow gives a run before the DAG's start_date no task instances, and calls it a success."""
    httpserver.expect_request("/api/v2/dags", method="GET").respond_with_json(
        {"dags": [{"dag_id": "d"}], "total_entries": 1})
    httpserver.expect_request("/api/v2/dags/d", method="PATCH").respond_with_json({"dag_id": "d"})
    runs = iter(["manual__1", "manual__2"])
    httpserver.expect_request("/api/v2/dags/d/dagRuns", method="POST").respond_with_handler(
        lambda request: Response(json.dumps({"dag_run_id": next(runs)}), content_type="application/json"))
    for run_id, tasks in (("manual__1", [{"task_id": "land"}]), ("manual__2", [])):
        httpserver.expect_request(f"/api/v2/dags/d/dagRuns/{run_id}").respond_with_json({"state": "success"})
        httpserver.expect_request(f"/api/v2/dags/d/dagRuns/{run_id}/taskInstances").respond_with_json(
            {"task_instances": tasks, "total_entries": len(tasks)})
    ends = [datetime(2016, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)]
    with pytest.raises(RuntimeError, match=r"1 of 2 runs ran no task: \[Run\(dag_id='d', run_id='manual__2'\)\]"):
        trigger_and_wait(api, ["d"], ends, timeout=5)
