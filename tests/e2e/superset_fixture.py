"""A running Superset for browser tests, and a stand-in serving warehouse to develop against.

``superset_server`` (session scope) runs ``scripts/superset.sh bootstrap``, ``import`` and
``start`` against the ``published_home`` fixture (a CITYPEERS_HOME whose
``warehouse/citypeers.duckdb`` was published) on a free port, and stops the server at the end.
Test modules import it: ``from tests.e2e.superset_fixture import superset_server``.

Loaded as a plugin without the e2e conftest, this module also provides a fake
``published_home`` with the marts' contracted columns, so the dashboards can be developed and
tested in about a minute without running the pipeline::

    .venv/bin/pytest --noconftest -p tests.e2e.superset_fixture tests/e2e/test_superset_dashboard.py
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

REPO_ROOT = Path(__file__).resolve().parents[2]
SUPERSET_SH = REPO_ROOT / "scripts" / "superset.sh"
SUPERSET_VENV = Path(os.environ.get("SUPERSET_VENV", REPO_ROOT / ".venv-superset"))
CHROMIUM = Path(os.environ.get("CITYPEERS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS_DIR = REPO_ROOT / "tests" / "artifacts"
DASHBOARD_TITLE = "Air quality — cities against the WHO guideline"


@dataclass(frozen=True)
class SupersetServer:
    url: str
    username: str
    password: str
    home: Path
    timings: dict[str, float]


def require_superset_stack() -> None:
    """Fail (never skip) with the fix when the browser or the Superset environment is missing."""
    problems = []
    if not (SUPERSET_VENV / "bin" / "superset").is_file():
        problems.append(
            f"no Superset environment at {SUPERSET_VENV}: create it from requirements/superset.lock "
            "(uv venv .venv-superset && uv pip sync --compile-bytecode requirements/superset.lock)"
        )
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        problems.append(f"no Chromium at {CHROMIUM}: apt-get install chromium (never 'playwright install')")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright Python package is missing from the test environment")
    if problems:
        pytest.fail("Superset browser tests cannot run:\n- " + "\n- ".join(problems), pytrace=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_superset_sh(command: str, env: dict[str, str], timeout: int) -> float:
    started = time.monotonic()
    completed = subprocess.run(
        ["bash", str(SUPERSET_SH), command], env=env, capture_output=True, text=True, timeout=timeout
    )
    if completed.returncode != 0:
        pytest.fail(
            f"scripts/superset.sh {command} failed ({completed.returncode}):\n"
            f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}",
            pytrace=False,
        )
    return time.monotonic() - started


@pytest.fixture(scope="session")
def superset_server(request: pytest.FixtureRequest) -> Iterator[SupersetServer]:
    require_superset_stack()  # before published_home, which may run the whole pipeline first
    published_home: Path = request.getfixturevalue("published_home")
    serving_db = published_home / "warehouse" / "citypeers.duckdb"
    assert serving_db.is_file(), f"published_home has no serving warehouse at {serving_db}"
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SUPERSET_", "FLASK_")) and key != "CITYPEERS_SERVING_DB"
    }
    env |= {
        "CITYPEERS_HOME": str(published_home),
        "SUPERSET_PORT": str(port),
        "SUPERSET_VENV": str(SUPERSET_VENV),
    }
    timings = {
        "bootstrap": run_superset_sh("bootstrap", env, timeout=600),
        "import": run_superset_sh("import", env, timeout=300),
    }
    try:
        timings["start"] = run_superset_sh("start", env, timeout=400)
        password = (published_home / "superset" / "admin_password").read_text().strip()
        yield SupersetServer(
            url=f"http://127.0.0.1:{port}",
            username="admin",
            password=password,
            home=published_home / "superset",
            timings=timings,
        )
    finally:
        subprocess.run(["bash", str(SUPERSET_SH), "stop"], env=env, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def chromium_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Headless Debian Chromium with a fresh profile (playwright's launch() makes a temporary one).

    XDG_CONFIG_HOME and XDG_CACHE_HOME point into the test's temporary directory too, so
    Chromium leaves nothing in the home directory.
    """
    require_superset_stack()
    from playwright.sync_api import sync_playwright

    xdg = tmp_path_factory.mktemp("chromium_xdg")
    env = os.environ | {"XDG_CONFIG_HOME": str(xdg / "config"), "XDG_CACHE_HOME": str(xdg / "cache")}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=env)
        try:
            yield browser
        finally:
            browser.close()


def log_in(page: Page, server: SupersetServer) -> None:
    """Sign in through Superset's login form, as a person would."""
    page.goto(f"{server.url}/login/")
    page.locator("#username").fill(server.username)
    page.locator("#password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url, timeout=30_000)


@pytest.fixture(scope="module")
def admin_context(chromium_browser: Browser, superset_server: SupersetServer) -> Iterator[BrowserContext]:
    """A browser context logged in as admin; its cookies also authenticate context.request calls."""
    context = chromium_browser.new_context(viewport={"width": 1600, "height": 1200}, locale="en-GB")
    context.set_default_timeout(60_000)
    page = context.new_page()
    log_in(page, superset_server)
    page.close()
    try:
        yield context
    finally:
        context.close()


# --- a stand-in for the published warehouse (development only) ----------------------------

# The marts' contracted columns (docs/architecture.md), in order.
FAKE_MART_DDL = {
    "dim_city": """
        city_id varchar, city_name varchar, country_name varchar, country_iso3 varchar,
        region varchar, latitude double, longitude double, population bigint, population_year integer
    """,
    "dim_indicator": """
        indicator_code varchar, domain varchar, indicator_name varchar, pollutant varchar,
        canonical_unit varchar, direction varchar, iso37120_clause varchar, sdg11_indicator varchar,
        who_2021_guideline double, eu_2030_limit double
    """,
    "fct_city_indicator_annual": """
        city_id varchar, city_name varchar, country_name varchar, region varchar,
        indicator_code varchar, indicator_name varchar, year integer, year_start date, value double,
        unit varchar, station_count integer, stations_meeting_rule integer, valid_day_share double,
        meets_completeness_rule boolean, quality_flag varchar, quality_note varchar,
        highest_target_met varchar, highest_target_met_name varchar, next_target varchar,
        next_target_threshold double, gap_to_next_target double, who_2021_guideline double
    """,
}
# indicator_code: (name, pollutant, typical level, target ladder from loosest to strictest)
FAKE_INDICATORS = {
    "pm25_annual_mean": (
        "Annual mean PM2.5 concentration",
        "pm25",
        1.0,
        [
            ("who_2021_it1", "WHO 2021 interim target 1", 35),
            ("who_2021_it2", "WHO 2021 interim target 2", 25),
            ("who_2021_it3", "WHO 2021 interim target 3", 15),
            ("who_2021_it4", "WHO 2021 interim target 4", 10),
            ("eu_2030_limit", "EU 2030 annual limit value", 10),
            ("who_2021_aqg", "WHO 2021 air quality guideline", 5),
        ],
    ),
    "pm10_annual_mean": (
        "Annual mean PM10 concentration",
        "pm10",
        1.8,
        [
            ("who_2021_it1", "WHO 2021 interim target 1", 70),
            ("who_2021_it2", "WHO 2021 interim target 2", 50),
            ("who_2021_it3", "WHO 2021 interim target 3", 30),
            ("who_2021_it4", "WHO 2021 interim target 4", 20),
            ("eu_2030_limit", "EU 2030 annual limit value", 20),
            ("who_2021_aqg", "WHO 2021 air quality guideline", 15),
        ],
    ),
    "no2_annual_mean": (
        "Annual mean NO2 concentration",
        "no2",
        1.6,
        [
            ("who_2021_it1", "WHO 2021 interim target 1", 40),
            ("who_2021_it2", "WHO 2021 interim target 2", 30),
            ("who_2021_it3", "WHO 2021 interim target 3", 20),
            ("eu_2030_limit", "EU 2030 annual limit value", 20),
            ("who_2021_aqg", "WHO 2021 air quality guideline", 10),
        ],
    ),
}
FAKE_YEARS = (2023, 2024, 2025)
# PM2.5 levels by region, roughly as reported; enough to spread cities across the ladder.
FAKE_REGION_PM25 = {"Southern Asia": 60.0, "South-eastern Asia": 22.0, "Eastern Asia": 20.0}


def _unit_interval(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def fake_city_rows() -> list[dict[str, str]]:
    with (REPO_ROOT / "dbt_project" / "seeds" / "cities.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def fake_fact_rows(cities: list[dict[str, str]]) -> list[tuple]:
    rows = []
    for city in cities:
        base = FAKE_REGION_PM25.get(city["region"], 9.0) * (0.6 + 0.8 * _unit_interval(city["city_id"]))
        for code, (name, _pollutant, factor, ladder) in FAKE_INDICATORS.items():
            guideline = ladder[-1][2]
            for step, year in enumerate(FAKE_YEARS):
                value = round(base * factor * (1 - 0.04 * step) * (0.9 + 0.2 * _unit_interval(city, code, year)), 1)
                valid_day_share = round(0.62 + 0.37 * _unit_interval("days", city["city_id"], code, year), 3)
                meets_rule = valid_day_share >= 0.75
                met = [target for target in ladder if value <= target[2]]
                highest = met[-1] if met else None
                following = ladder[ladder.index(highest) + 1 :] if highest else ladder
                next_target = following[0] if following else None
                rows.append(
                    (
                        city["city_id"],
                        city["city_name"],
                        city["country_name"],
                        city["region"],
                        code,
                        name,
                        year,
                        f"{year}-01-01",
                        value,
                        "µg/m³",
                        3,
                        3 if meets_rule else 0,
                        valid_day_share,
                        meets_rule,
                        "ok" if meets_rule else "below_completeness_rule",
                        None
                        if meets_rule
                        else f"no station meets the completeness rule (0 of 3); "
                        f"best-covered station has {valid_day_share:.0%} valid days",
                        highest[0] if highest else None,
                        highest[1] if highest else None,
                        next_target[0] if next_target else None,
                        next_target[2] if next_target else None,
                        round(value - next_target[2], 1) if next_target else None,
                        float(guideline),
                    )
                )
    return rows


def build_fake_serving_warehouse(home: Path) -> Path:
    """Write home/warehouse/citypeers.duckdb with every city of the seed x 3 years x 3 indicators."""
    import duckdb

    target = home / "warehouse" / "citypeers.duckdb"
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_suffix(".building")
    building.unlink(missing_ok=True)
    cities = fake_city_rows()
    with duckdb.connect(str(building)) as con:
        for table, columns in FAKE_MART_DDL.items():
            con.execute(f"create table {table} ({columns})")
        con.executemany(
            "insert into dim_city values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [tuple(city.values()) for city in cities],
        )
        con.executemany(
            "insert into dim_indicator values (?, 'air_quality', ?, ?, 'µg/m³', 'lower_is_better', null, "
            "'11.6.2', ?, ?)",
            [
                (code, name, pollutant, ladder[-1][2], next(t[2] for t in ladder if t[0] == "eu_2030_limit"))
                for code, (name, pollutant, _factor, ladder) in FAKE_INDICATORS.items()
            ],
        )
        con.executemany(
            "insert into fct_city_indicator_annual values "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            fake_fact_rows(cities),
        )
    shutil.move(building, target)
    return home


@pytest.fixture(scope="session")
def published_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Development stand-in for the e2e conftest's fixture: a fake published warehouse."""
    return build_fake_serving_warehouse(tmp_path_factory.mktemp("citypeers_home"))
