"""Session fixtures for the end-to-end tests: one real pipeline run shared by every e2e test.

To iterate on the e2e tests without rerunning the DAGs, point CITYPEERS_E2E_HOME at a home that
an earlier run published (its path is printed in the session's temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.pipeline import build_published_home

# One Superset and one Chromium for the whole session, shared by every module that asks for them
# (defined here, not per module: two session fixtures of the same name would start two servers on
# one home and two Playwright drivers in one thread).
from tests.e2e.superset_fixture import admin_context, chromium_browser, superset_server  # noqa: F401,E402


@pytest.fixture(scope="session")
def published_home(tmp_path_factory) -> Path:
    """A CITYPEERS_HOME whose warehouse/citypeers.duckdb was published by the real DAGs."""
    reused = os.environ.get("CITYPEERS_E2E_HOME")
    if reused:
        home = Path(reused)
        assert (home / "warehouse" / "citypeers.duckdb").exists(), f"{home} holds no published warehouse"
        return home
    return build_published_home(tmp_path_factory.mktemp("citypeers_home"))
