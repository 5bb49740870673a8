"""The air quality dashboard as a city official sees it in a browser, and what SQL Lab may not do.

Runs scripts/superset.sh bootstrap/import/start against the published warehouse of
``published_home``, then drives headless Chromium. What each chart shows is compared with the
serving warehouse itself, read here with DuckDB (read-only, as every reader does).
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from citypeers.dashboard_check import DEMO_DATA_NOTICE, DEMO_NOTICE_CHART, SCREENSHOT_VIEWPORT, reload_until_drawn
from tests.e2e import superset_fixture
from tests.e2e.superset_fixture import (
    ARTIFACTS_DIR,
    DASHBOARD_TITLE,
    REPO_ROOT,
    SUPERSET_VENV,
    SupersetServer,
)

pytestmark = pytest.mark.e2e


DASHBOARD_SLUG = "air-quality-who"
SCREENSHOT = ARTIFACTS_DIR / "dashboard_air_quality.png"
RANKING_CHART = REPO_ROOT / "dashboards" / "charts" / "pm25_by_city_latest_year.yaml"
PM25 = "pm25_annual_mean"
CHART_LOAD_TIMEOUT_MS = 120_000

ALL_CHARTS_SETTLED_JS = """
(expected) => {
  const holders = document.querySelectorAll("[data-test='chart-grid-component']");
  if (holders.length < expected) return false;
  return Array.from(holders).every((holder) => {
    if (holder.querySelector("[data-test='loading-indicator'], .loading")) return false;
    if (holder.querySelector("[role='alert'], .ant-alert-error, [data-test='error-message']")) return true;
    if (holder.innerText.includes("No results")) return true;
    return !!holder.closest("[data-test-chart-id]") && !!holder.querySelector("canvas, tbody tr");
  });
}
"""
PAINTED_PIXELS_JS = """
(chart) => {
  const canvas = chart.querySelector("canvas");
  if (!canvas || !canvas.width || !canvas.height) return 0;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let alpha = 3; alpha < pixels.length; alpha += 4) if (pixels[alpha] > 0) painted += 1;
  return painted / (canvas.width * canvas.height);
}
"""
ERROR_TEXT_JS = """
(holder) => Array.from(
  holder.querySelectorAll("[role='alert'], .ant-alert-error, [data-test='error-message']")
).map((element) => element.innerText).join(" | ")
"""


def warehouse_rows(home: Path, sql: str, params: tuple = ()) -> list[tuple]:
    import duckdb

    with duckdb.connect(str(home / "warehouse" / "citypeers.duckdb"), read_only=True) as con:
        return con.execute(sql, params).fetchall()


@dataclass
class RenderedDashboard:
    """One load of the dashboard: the page, what each chart received, what the browser fetched."""

    page: object
    charts: dict[str, dict]  # viz_type -> {"id", "slice_name"}, the demo-data notice left out
    notice_chart_id: int
    chart_results: dict[int, list[dict]] = field(default_factory=dict)
    failed_chart_requests: list[str] = field(default_factory=list)
    external_requests: dict[str, str] = field(default_factory=dict)  # url -> outcome
    content_security_policy: str = ""
    load_seconds: float = 0.0

    def results_of(self, viz_type: str) -> list[dict]:
        chart = self.charts[viz_type]
        assert chart["id"] in self.chart_results, f"{chart['slice_name']} got no data: {self.failed_chart_requests}"
        return self.chart_results[chart["id"]]

    def chart(self, viz_type: str):
        return self.page.locator(f"[data-test-chart-id='{self.charts[viz_type]['id']}']")


@pytest.fixture(scope="module")
def rendered_dashboard(admin_context, superset_server: SupersetServer) -> Iterator[RenderedDashboard]:
    response = admin_context.request.get(f"{superset_server.url}/api/v1/dashboard/{DASHBOARD_SLUG}/charts")
    assert response.ok, f"dashboard {DASHBOARD_SLUG!r} is not in Superset: {response.status} {response.text()}"
    every_chart = response.json()["result"]
    # the demo-data notice (a table) tops every dashboard; the air quality charts are one per viz type
    [notice_chart_id] = [chart["id"] for chart in every_chart if chart["slice_name"] == DEMO_NOTICE_CHART]
    charts = {
        chart["form_data"]["viz_type"]: {"id": chart["id"], "slice_name": chart["slice_name"]}
        for chart in every_chart if chart["id"] != notice_chart_id
    }
    page = admin_context.new_page()
    page.set_viewport_size(SCREENSHOT_VIEWPORT)  # no full-page screenshot: its resize redraws the grid
    rendered = RenderedDashboard(page=page, charts=charts, notice_chart_id=notice_chart_id)

    def on_response(chart_response) -> None:
        parsed = urlparse(chart_response.url)
        if parsed.path.rstrip("/") != "/api/v1/chart/data" or "form_data" not in parsed.query:
            return
        slice_id = json.loads(parse_qs(parsed.query)["form_data"][0])["slice_id"]
        if chart_response.status != 200:
            rendered.failed_chart_requests.append(f"chart {slice_id}: {chart_response.status} {chart_response.text()}")
        else:
            rendered.chart_results[slice_id] = [
                row for result in chart_response.json()["result"] for row in result["data"]
            ]

    def is_external(request) -> bool:
        return not request.url.startswith((superset_server.url, "data:", "blob:"))

    def on_request(request) -> None:
        if is_external(request):
            rendered.external_requests[request.url] = "pending"

    def on_request_failed(request) -> None:
        if is_external(request):
            rendered.external_requests[request.url] = f"failed: {request.failure}"

    def on_request_finished(request) -> None:
        if is_external(request):
            rendered.external_requests[request.url] = "finished"

    page.on("response", on_response)
    page.on("request", on_request)
    page.on("requestfailed", on_request_failed)
    page.on("requestfinished", on_request_finished)
    started = time.monotonic()
    document = page.goto(f"{superset_server.url}/superset/dashboard/{DASHBOARD_SLUG}/")
    rendered.content_security_policy = document.headers.get("content-security-policy", "")
    try:
        page.wait_for_function(ALL_CHARTS_SETTLED_JS, arg=len(every_chart), timeout=CHART_LOAD_TIMEOUT_MS)
        deadline = time.monotonic() + 30
        while len(rendered.chart_results) + len(rendered.failed_chart_requests) < len(every_chart):
            assert time.monotonic() < deadline, f"chart data arrived only for {sorted(rendered.chart_results)}"
            page.wait_for_timeout(200)
        # Drawn and still drawn a few seconds later (the grid can mount again once the filters'
        # defaults arrive; now and then Superset leaves it empty until a reload).
        reload_until_drawn(page, len(every_chart), f"dashboard {DASHBOARD_SLUG}")
    finally:
        rendered.load_seconds = time.monotonic() - started
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
    (ARTIFACTS_DIR / "superset_timings.json").write_text(
        json.dumps(superset_server.timings | {"dashboard_load": rendered.load_seconds}, indent=2)
    )
    try:
        yield rendered
    finally:
        page.close()


def latest_year(home: Path) -> int:
    return warehouse_rows(home, "select max(year) from fct_city_indicator_annual")[0][0]


def test_dashboard_loads_every_chart_without_errors(rendered_dashboard: RenderedDashboard):
    page = rendered_dashboard.page
    assert page.get_by_text(DASHBOARD_TITLE, exact=True).first.is_visible()
    assert set(rendered_dashboard.charts) == {"echarts_timeseries_bar", "echarts_timeseries_line", "table"}
    assert rendered_dashboard.failed_chart_requests == []
    holders = page.locator("[data-test='chart-grid-component']")
    errors = [holders.nth(index).evaluate(ERROR_TEXT_JS) for index in range(holders.count())]
    assert [error for error in errors if error] == []
    for viz_type, chart in rendered_dashboard.charts.items():
        assert rendered_dashboard.results_of(viz_type), f"{chart['slice_name']} received no rows"
    assert SCREENSHOT.stat().st_size > 50_000


def test_the_dashboard_says_at_the_top_that_it_shows_demo_data(rendered_dashboard: RenderedDashboard):
    """The e2e warehouse holds only demo feeds (feeds.yml marks them `demo: true`)."""
    [notice] = rendered_dashboard.chart_results[rendered_dashboard.notice_chart_id]
    assert notice["data_notice"].startswith(DEMO_DATA_NOTICE)
    shown = rendered_dashboard.page.locator(f"[data-test-chart-id='{rendered_dashboard.notice_chart_id}']")
    assert DEMO_DATA_NOTICE in shown.inner_text()


def test_filters_default_to_pm25_and_the_latest_year(rendered_dashboard: RenderedDashboard, published_home: Path):
    page = rendered_dashboard.page
    assert PM25 in page.locator("[data-test='NATIVE_FILTER-indicator']").inner_text()
    assert str(latest_year(published_home)) in page.locator("[data-test='NATIVE_FILTER-year']").inner_text()


def test_ranking_shows_latest_pm25_of_every_city_meeting_the_completeness_rule(
    rendered_dashboard: RenderedDashboard, published_home: Path
):
    expected = dict(
        warehouse_rows(
            published_home,
            "select city_name, round(value, 6) from fct_city_indicator_annual "
            "where indicator_code = ? and year = ? and meets_completeness_rule",
            (PM25, latest_year(published_home)),
        )
    )
    shown = {
        row["city_name"]: round(row["annual_mean"], 6)
        for row in rendered_dashboard.results_of("echarts_timeseries_bar")
    }
    assert expected, "the warehouse has no complete PM2.5 value in its latest year to rank"
    assert shown == expected
    painted = rendered_dashboard.chart("echarts_timeseries_bar").evaluate(PAINTED_PIXELS_JS)
    assert painted > 0.02, f"the ranking canvas is almost empty ({painted:.1%} painted)"


def test_ranking_marks_the_who_guideline_of_the_indicator_catalogue(published_home: Path):
    """The guideline line is a constant in the chart; it must match dim_indicator."""
    chart = yaml.safe_load(RANKING_CHART.read_text(encoding="utf-8"))
    (guideline_layer,) = [
        layer for layer in chart["params"]["annotation_layers"] if layer["annotationType"] == "FORMULA"
    ]
    [(guideline,)] = warehouse_rows(
        published_home, "select who_2021_guideline from dim_indicator where indicator_code = ?", (PM25,)
    )
    assert float(guideline_layer["value"]) == guideline
    assert guideline_layer["show"] is True


def test_trend_draws_a_line_per_city_over_the_years(rendered_dashboard: RenderedDashboard, published_home: Path):
    expected = {
        (city, year)
        for city, year in warehouse_rows(
            published_home,
            "select city_name, year from fct_city_indicator_annual "
            "where indicator_code = ? and meets_completeness_rule and value is not null",
            (PM25,),
        )
    }
    shown = {
        (city, row["year"])
        for row in rendered_dashboard.results_of("echarts_timeseries_line")
        for city, value in row.items()
        if city != "year" and value is not None
    }
    assert shown == expected
    painted = rendered_dashboard.chart("echarts_timeseries_line").evaluate(PAINTED_PIXELS_JS)
    assert painted > 0.01, f"the trend canvas is almost empty ({painted:.1%} painted)"


def test_table_lists_each_city_with_completeness_quality_and_target(
    rendered_dashboard: RenderedDashboard, published_home: Path
):
    rows = warehouse_rows(
        published_home,
        "select city_name, quality_flag, quality_note from fct_city_indicator_annual "
        "where indicator_code = ? and year = ? order by city_name",
        (PM25, latest_year(published_home)),
    )
    table = rendered_dashboard.chart("table")
    headers = table.locator("thead th").all_inner_texts()
    for header in (
        "City",
        "Year",
        "Annual mean",
        "Valid days",
        "Quality",
        "Quality note",
        "Highest target met",
    ):
        assert header in headers
    assert table.locator("tbody tr").count() == len(rows)
    text = table.inner_text()
    known_city = "Madrid" if any(city == "Madrid" for city, _, _ in rows) else rows[0][0]
    assert known_city in text
    for city, flag, note in rows:
        assert city in text
        assert flag in text
        if note:
            assert note in text


def test_the_browser_is_allowed_to_load_nothing_from_other_hosts(rendered_dashboard: RenderedDashboard):
    """Superset's frontend asks for a Scarf usage pixel on every page; the CSP must block it.

    Blocked by policy, not merely failing for want of a network: the sandbox has no internet,
    so "the request failed" alone would prove nothing.
    """
    policy = rendered_dashboard.content_security_policy
    assert "default-src 'self'" in policy
    assert "http:" not in policy and "https:" not in policy and ".com" not in policy, policy
    not_blocked = {
        url: outcome for url, outcome in rendered_dashboard.external_requests.items() if outcome != "failed: csp"
    }
    assert not_blocked == {}


def sql_lab(admin_context, server: SupersetServer, sql: str) -> tuple[int, str]:
    base = server.url
    token = admin_context.request.get(f"{base}/api/v1/security/csrf_token/").json()["result"]
    databases = admin_context.request.get(
        f"{base}/api/v1/database/?q=(filters:!((col:database_name,opr:eq,value:citypeers)))"
    ).json()["result"]
    assert len(databases) == 1, databases
    response = admin_context.request.post(
        f"{base}/api/v1/sqllab/execute/",
        data={
            "database_id": databases[0]["id"],
            "sql": sql,
            "schema": "main",
            "runAsync": False,
            "client_id": f"t{time.monotonic_ns() % 10**9}",
            "queryLimit": 100,
        },
        headers={"X-CSRFToken": token, "Referer": f"{base}/sqllab/"},
    )
    return response.status, response.text()


def test_sql_lab_reads_the_marts(admin_context, superset_server: SupersetServer):
    status, body = sql_lab(admin_context, superset_server, "select count(*) as n from fct_city_indicator_annual")
    assert status == 200, body
    assert json.loads(body)["data"][0]["n"] > 0


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "ATTACH '/tmp/citypeers_other.duckdb' AS other",
        "COPY (SELECT 1) TO '/tmp/citypeers_leak.csv'",
    ],
)
def test_sql_lab_cannot_touch_server_files(admin_context, superset_server: SupersetServer, sql: str):
    status, body = sql_lab(admin_context, superset_server, sql)
    assert status != 200, body
    assert "file system operations are disabled by configuration" in body, body


def test_sql_lab_cannot_reenable_file_access(admin_context, superset_server: SupersetServer):
    status, body = sql_lab(admin_context, superset_server, "SET enable_external_access = true")
    assert status != 200, body
    assert "configuration has been locked" in body or "Cannot change enable_external_access" in body, body


def test_sql_lab_cannot_write(admin_context, superset_server: SupersetServer):
    status, body = sql_lab(admin_context, superset_server, "CREATE TABLE intruder (a integer)")
    assert status != 200, body
    assert "DML_NOT_ALLOWED_ERROR" in body, body


SUPERSET_ENGINE_PROBE = textwrap.dedent(
    """
    import json, sys
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import db
        from superset.models.core import Database

        saved = db.session.query(Database).filter_by(database_name="citypeers").one()
        # A DuckDB connection an admin could add in the UI, without our engine parameters.
        bare = Database(database_name="bare", sqlalchemy_uri=saved.sqlalchemy_uri_decrypted)
        outcome = {}
        for label, database in (("saved", saved), ("bare", bare)):
            for statement in ("CREATE TABLE intruder (a integer)", "SELECT * FROM read_csv('/etc/passwd')"):
                with database.get_sqla_engine() as engine, engine.connect() as connection:
                    try:
                        connection.exec_driver_sql(statement)
                        outcome[f"{label}: {statement}"] = "succeeded"
                    except Exception as exc:
                        outcome[f"{label}: {statement}"] = str(exc).splitlines()[0]
        print(json.dumps(outcome))
    """
)


def test_every_superset_duckdb_connection_is_read_only_without_file_access(
    superset_server: SupersetServer, published_home: Path
):
    """Below Superset's own DML guard: DuckDB itself refuses, for any connection Superset opens."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SUPERSET_", "FLASK_"))}
    env |= {
        "CITYPEERS_HOME": str(published_home),
        "SUPERSET_HOME": str(superset_server.home),
        "SUPERSET_CONFIG_PATH": str(REPO_ROOT / "dashboards" / "superset_config.py"),
    }
    completed = subprocess.run(
        [str(SUPERSET_VENV / "bin" / "python"), "-c", SUPERSET_ENGINE_PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    for probe, result in outcome.items():
        if probe.endswith("CREATE TABLE intruder (a integer)"):
            assert "read-only mode" in result, f"{probe}: {result}"
        else:
            assert "file system operations are disabled" in result, f"{probe}: {result}"


def test_secret_key_and_admin_password_are_generated_and_private(superset_server: SupersetServer):
    """No default secret ships: both are generated on first run, readable only by their owner."""
    for name in ("secret_key", "admin_password", "official_password"):
        secret_file = superset_server.home / name
        assert secret_file.stat().st_mode & 0o777 == 0o600, f"{secret_file} must be mode 0600"
        assert len(secret_file.read_text().strip()) >= 16
    config = (superset_fixture.REPO_ROOT / "dashboards" / "superset_config.py").read_text()
    assert superset_server.password not in config
    assert (superset_server.home / "secret_key").read_text().strip() not in config
