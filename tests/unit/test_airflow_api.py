"""citypeers.airflow_api against a fake Airflow REST API (pytest-httpserver)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from werkzeug import Response

from citypeers.airflow_api import AirflowApi, Run


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
