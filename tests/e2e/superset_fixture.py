"""A running Superset for browser tests, and a headless Chromium to drive it.

``superset_server`` (session scope) runs ``scripts/superset.sh bootstrap``, ``import`` and
``start`` against the ``published_home`` fixture (a CITYPEERS_HOME whose
``warehouse/citypeers.duckdb`` was published) on a free port, and stops the server at the end.
Test modules import it: ``from tests.e2e.superset_fixture import superset_server``.

To work on the dashboards without rerunning the DAGs each time, point ``CITYPEERS_E2E_HOME`` at
a home an earlier run published (tests/e2e/conftest.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from citypeers.dashboard_check import CHROMIUM, launch_chromium, log_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

REPO_ROOT = Path(__file__).resolve().parents[2]
SUPERSET_SH = REPO_ROOT / "scripts" / "superset.sh"
SUPERSET_VENV = Path(os.environ.get("SUPERSET_VENV", REPO_ROOT / ".venv-superset"))
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

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, tmp_path_factory.mktemp("chromium_xdg"))
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def admin_context(chromium_browser: Browser, superset_server: SupersetServer) -> Iterator[BrowserContext]:
    """A browser context logged in as admin; its cookies also authenticate context.request calls."""
    context = chromium_browser.new_context(viewport={"width": 1600, "height": 1200}, locale="en-GB")
    context.set_default_timeout(60_000)
    page = context.new_page()
    log_in(page, superset_server.url, superset_server.username, superset_server.password)
    page.close()
    try:
        yield context
    finally:
        context.close()
