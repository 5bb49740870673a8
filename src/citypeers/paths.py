"""Where things live below CITYPEERS_HOME (see docs/architecture.md)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def home() -> Path:
    """The data home: $CITYPEERS_HOME, or <repo>/var."""
    return Path(os.environ.get("CITYPEERS_HOME", REPO_ROOT / "var")).resolve()


def feeds_file() -> Path:
    """The feed registry: $CITYPEERS_FEEDS, or <repo>/feeds.yml."""
    return Path(os.environ.get("CITYPEERS_FEEDS", REPO_ROOT / "feeds.yml")).resolve()


def landing_dir(source: str, feed_id: str, period: str) -> Path:
    return home() / "landing" / source / feed_id / period


def candidates_file(source: str, feed_id: str, period: str) -> Path:
    return home() / "candidates" / source / feed_id / f"{period}.parquet"


def parsed_file(source: str, feed_id: str, period: str) -> Path:
    return home() / "parsed" / source / feed_id / f"{period}.parquet"


def published_record(source: str, feed_id: str, period: str) -> Path:
    """What the period's last successful publish was made from (payload hashes, rules), beside its
    partition: the skip-unchanged rule compares the latest fetch with it."""
    return home() / "parsed" / source / feed_id / f"{period}.published.json"


def parsed_from_record(source: str, feed_id: str, period: str) -> Path:
    """What the period's candidates were parsed from, beside them; validate publishes it."""
    return home() / "candidates" / source / feed_id / f"{period}.parsed-from.json"


def quarantine_file(source: str, feed_id: str, period: str) -> Path:
    return home() / "quarantine" / source / feed_id / f"{period}.parquet"


def notices_file(source: str, feed_id: str, period: str) -> Path:
    """Every validation notice of one ingest (citypeers.feeds.notices), beside the quarantine."""
    return home() / "notices" / source / feed_id / f"{period}.parquet"


def validation_dir(suite: str) -> Path:
    return home() / "validation" / suite


def warehouse_dir() -> Path:
    return home() / "warehouse"


def build_db() -> Path:
    return warehouse_dir() / "build.duckdb"


def serving_db() -> Path:
    return warehouse_dir() / "citypeers.duckdb"


def dbt_project_dir() -> Path:
    """The dbt project: <repo>/dbt_project, or $CITYPEERS_DBT_PROJECT (the benchmark tiers point
    it at a copy whose city registry seed holds their synthetic cities)."""
    return Path(os.environ.get("CITYPEERS_DBT_PROJECT") or REPO_ROOT / "dbt_project").resolve()


def expectations_dir() -> Path:
    return REPO_ROOT / "expectations"


def briefs_dir(year: int) -> Path:
    """The city briefs of one year and their index (report__city_briefs, `citypeers briefs`)."""
    return home() / "briefs" / str(year)


def brief_file(year: int, city_id: str, lang: str, file_format: str) -> Path:
    return briefs_dir(year) / f"{city_id}.{lang}.{file_format}"
