"""Open the Superset dashboards in headless Chromium and check that every chart shows data.

``make demo`` ends with this check (``citypeers check-dashboards``), logged in as the read-only
``official`` user, and the browser tests use the same functions. For each dashboard it waits
until every chart has received its data (``/api/v1/chart/data``, or ``/superset/explore_json``
for legacy charts such as the world map) and has drawn it, looks for error messages, and saves a
full-page screenshot.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Error as PlaywrightError

log = logging.getLogger(__name__)

CHROMIUM = Path(os.environ.get("CITYPEERS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHART_DATA_TIMEOUT_S = 120
STABLE_DRAW_S = 3.0  # charts must stay drawn this long (ECharts animates for about a second)
DRAW_ATTEMPTS, DRAW_ATTEMPT_TIMEOUT_S = 3, 40.0  # page loads, and how long each may take to draw
SCREENSHOT_VIEWPORT = {"width": 1600, "height": 2200}
# The top row of every dashboard (dashboards/charts/demo_data_notice.yaml) while the warehouse holds
# values of a feed marked `demo: true`.
DEMO_NOTICE_CHART = "About this data"
DEMO_DATA_NOTICE = "demo data: synthetic values for real city names"
CHART_ERRORS_JS = """
() => Array.from(document.querySelectorAll("[data-test='chart-grid-component']")).map((holder) => {
  const alert = holder.querySelector("[role='alert'], .ant-alert-error, [data-test='error-message']");
  return alert ? alert.innerText : "";
})
"""
CHARTS_DRAWN_JS = """
() => Array.from(document.querySelectorAll("[data-test='chart-grid-component']")).map((holder) =>
  !holder.querySelector("[data-test='loading-indicator'], .loading")
  && !!holder.querySelector("canvas, svg path, tbody tr, .header-line"))
"""


@dataclass
class ChartData:
    """What the browser fetched for each chart (by slice id) while a dashboard was open."""

    rows: dict[int, list[dict]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def record(self, response) -> None:
        parsed = urlparse(response.url)
        path = parsed.path.rstrip("/")
        if path not in ("/api/v1/chart/data", "/superset/explore_json"):
            return
        query = parse_qs(parsed.query)
        form_data = json.loads(query["form_data"][0]) if "form_data" in query else {}
        if path == "/superset/explore_json":  # legacy charts post their form data
            posted = parse_qs(response.request.post_data or "")
            form_data |= json.loads(posted["form_data"][0]) if "form_data" in posted else {}
        slice_id = form_data.get("slice_id")
        if slice_id is None:
            return
        try:
            if response.status != 200:
                self.failures.append(f"chart {slice_id}: HTTP {response.status} {response.text()[:500]}")
                return
            body = response.json()
        except PlaywrightError as error:  # the page was closed before this late response arrived
            log.debug("chart %s: response body gone: %s", slice_id, error)
            return
        results = body["result"] if "result" in body else [body]
        self.rows[slice_id] = [row for result in results for row in (result.get("data") or [])]


@dataclass
class DashboardCheck:
    slug: str
    charts: dict[int, str]  # slice id -> name
    data: ChartData
    errors: list[str]
    screenshot: Path
    seconds: float

    @property
    def charts_without_data(self) -> list[str]:
        return sorted(name for chart_id, name in self.charts.items() if not self.data.rows.get(chart_id))

    @property
    def ok(self) -> bool:
        return not (self.data.failures or self.errors or self.charts_without_data)


def log_in(page, url: str, username: str, password: str) -> None:
    """Sign in through Superset's login form, as a person would."""
    page.goto(f"{url}/login/")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda current: "/login" not in current, timeout=30_000)


def dashboard_charts(context, url: str, slug: str) -> dict[int, str]:
    response = context.request.get(f"{url}/api/v1/dashboard/{slug}/charts")
    if not response.ok:
        raise RuntimeError(f"dashboard {slug!r} is not in Superset: HTTP {response.status} {response.text()[:300]}")
    return {chart["id"]: chart["slice_name"] for chart in response.json()["result"]}


def wait_for_data(page, data: ChartData, charts: dict[int, str]) -> None:
    """Until every chart has its data, or one request failed."""
    deadline = time.monotonic() + CHART_DATA_TIMEOUT_S
    while set(charts) - set(data.rows) and not data.failures:
        if time.monotonic() > deadline:
            missing = sorted(charts[chart_id] for chart_id in set(charts) - set(data.rows))
            raise TimeoutError(f"no data within {CHART_DATA_TIMEOUT_S}s for: {missing}")
        page.wait_for_timeout(250)


def wait_for_charts(page, data: ChartData, charts: dict[int, str]) -> None:
    """Until every chart has its data (or one request failed) and has drawn it."""
    wait_for_data(page, data, charts)
    wait_until_drawn_for(page, len(charts), STABLE_DRAW_S)


def wait_until_drawn_for(page, expected: int, seconds: float, timeout_s: float = CHART_DATA_TIMEOUT_S) -> None:
    """Until `expected` charts have all been drawn, without interruption, for `seconds`.

    Checked with the grid as it is: a dashboard whose filters resolve their defaults late mounts
    its grid again, and a screenshot taken in between shows an empty page."""
    deadline = time.monotonic() + timeout_s
    drawn_since = None
    while True:
        drawn = page.evaluate(CHARTS_DRAWN_JS)
        now = time.monotonic()
        if len(drawn) >= expected and all(drawn):
            drawn_since = drawn_since or now
            if now - drawn_since >= seconds:
                return
        else:
            drawn_since = None
        if now > deadline:
            raise TimeoutError(f"charts not drawn for {seconds:.0f}s in a row within {timeout_s:.0f}s "
                               f"({sum(drawn)} of {expected} drawn at the end)")
        page.wait_for_timeout(250)


def reload_until_drawn(page, expected: int, label: str) -> None:
    """Until the charts stay drawn, reloading the page if they do not: Superset 6 now and then
    leaves a dashboard's grid empty although every chart received its data (a person would press
    reload). Each reload is logged; after DRAW_ATTEMPTS page loads the TimeoutError stands."""
    for attempt in range(1, DRAW_ATTEMPTS + 1):
        try:
            wait_until_drawn_for(page, expected, STABLE_DRAW_S, DRAW_ATTEMPT_TIMEOUT_S)
            return
        except TimeoutError as error:
            if attempt == DRAW_ATTEMPTS:
                raise
            log.warning("%s: %s; reloading the page (load %d of %d)", label, error, attempt + 1, DRAW_ATTEMPTS)
            page.reload()


def open_dashboard(context, url: str, slug: str, screenshot: Path):
    """Open one dashboard in a new page; returns (page, DashboardCheck). The caller closes the page."""
    charts = dashboard_charts(context, url, slug)
    page = context.new_page()
    # Tall enough for a whole dashboard: a full-page screenshot would resize the viewport, and
    # Superset redraws its grid on a resize (a screenshot caught it empty, mid-redraw).
    page.set_viewport_size(SCREENSHOT_VIEWPORT)
    data = ChartData()
    page.on("response", data.record)
    started = time.monotonic()
    page.goto(f"{url}/superset/dashboard/{slug}/")
    try:
        wait_for_data(page, data, charts)
        if not data.failures:
            reload_until_drawn(page, len(charts), f"dashboard {slug}")
    finally:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot))
    errors = [error for error in page.evaluate(CHART_ERRORS_JS) if error]
    return page, DashboardCheck(slug, charts, data, errors, screenshot, time.monotonic() - started)


def launch_chromium(playwright, profile_dir: Path):
    """Debian's Chromium, headless, with its config and cache kept in profile_dir."""
    env = os.environ | {"XDG_CONFIG_HOME": str(profile_dir / "config"), "XDG_CACHE_HOME": str(profile_dir / "cache")}
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=env)


def check_dashboards(url: str, username: str, password: str, slugs: list[str], out_dir: Path) -> list[DashboardCheck]:
    """Open every dashboard as `username`; one DashboardCheck each, screenshots in out_dir."""
    from playwright.sync_api import sync_playwright

    checks = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, out_dir / ".chromium")
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1200}, locale="en-GB")
            context.set_default_timeout(60_000)
            page = context.new_page()
            log_in(page, url, username, password)
            page.close()
            for slug in slugs:
                page, check = open_dashboard(context, url, slug, out_dir / f"{slug}.png")
                page.close()
                log.info("%s: %d charts, %s in %.0f s", slug, len(check.charts), "ok" if check.ok else "PROBLEMS",
                         check.seconds)
                checks.append(check)
        finally:
            browser.close()
    return checks


def dashboard_slugs(tree: Path) -> list[str]:
    """The slugs of the dashboards kept in git (dashboards/dashboards/*.yaml)."""
    import yaml

    return [yaml.safe_load(path.read_text(encoding="utf-8"))["slug"] for path in sorted(tree.glob("*.yaml"))]


# --- chart-data requests without a browser page (publishing test, benchmarks) ------------------

# (dataset, grouping column, saved metric): the marts and virtual datasets the dashboards read most.
CHART_QUERIES = (
    ("fct_city_benchmark", "city_name", "value"),
    ("fct_city_scores", "city_name", "score"),
    ("trend_lines", "series", "value"),
    ("fct_feed_health", "feed_id", "count"),
)


def dataset_ids(context, url: str) -> dict[str, int]:
    response = context.request.get(f"{url}/api/v1/dataset/?q=(page_size:100)")
    if not response.ok:
        raise RuntimeError(f"cannot list datasets: HTTP {response.status} {response.text()[:300]}")
    return {dataset["table_name"]: dataset["id"] for dataset in response.json()["result"]}


def chart_data_payloads(context, url: str) -> list[dict]:
    """One /api/v1/chart/data body per CHART_QUERIES entry; ``force`` skips Superset's cache."""
    ids = dataset_ids(context, url)
    return [
        {
            "datasource": {"id": ids[name], "type": "table"},
            "force": True,
            "queries": [{"columns": [column], "metrics": [metric], "row_limit": 1000, "filters": [], "orderby": []}],
            "result_format": "json",
            "result_type": "full",
        }
        for name, column, metric in CHART_QUERIES
    ]


def cached_payloads(payloads: list[dict]) -> list[dict]:
    """The same chart-data bodies without ``force``: Superset answers from its data cache when it can."""
    return [payload | {"force": False} for payload in payloads]


def time_chart_requests(context, url: str, payloads: list[dict], rounds: int) -> dict:
    """p50/p95 (ms) of ``rounds`` passes of chart-data POSTs over ``payloads``, failures counted."""
    headers = api_headers(context, url)
    latencies, failures = [], 0
    for _ in range(rounds):
        for payload in payloads:
            started = time.perf_counter()
            response = context.request.post(f"{url}/api/v1/chart/data", headers=headers, data=json.dumps(payload))
            latencies.append(1000 * (time.perf_counter() - started))
            failures += not response.ok
    return {"requests": len(latencies), "failures": failures,
            "p50_ms": round(percentile(latencies, 0.50), 1), "p95_ms": round(percentile(latencies, 0.95), 1)}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def api_headers(context, url: str) -> dict[str, str]:
    """Headers for POSTs to Superset's API from a logged-in (admin) context."""
    token = context.request.get(f"{url}/api/v1/security/csrf_token/").json()["result"]
    return {"X-CSRFToken": token, "Referer": f"{url}/", "Content-Type": "application/json"}
