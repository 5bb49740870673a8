"""Session fixtures for the end-to-end tests: one real pipeline run shared by every e2e test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.pipeline import build_published_home


@pytest.fixture(scope="session")
def published_home(tmp_path_factory) -> Path:
    """A CITYPEERS_HOME whose warehouse/citypeers.duckdb was published by the real DAGs."""
    return build_published_home(tmp_path_factory.mktemp("citypeers_home"))
