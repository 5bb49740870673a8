"""The benchmark's three ways to the air-quality marts agree: the pipeline (CLI: ingest, GX gate,
dbt build, publish), the floor (one DuckDB script over the raw EEA files) and the pandas baseline
give the same city annual means, to 1e-9, and the same completeness flags. Otherwise a benchmark
would compare different computations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from benchmarks.baselines import floor_city_annual, pandas_city_annual, pipeline_city_annual

from citypeers.demo.feed_server import serve
from citypeers.runtime_env import stack_environment
from tests.e2e.pipeline import feeds_file_with_port

BIN = Path(sys.executable).parent
CITIES = ["madrid", "barcelona"]
YEARS = ["2024", "2025"]
UTC_START, UTC_END = "2024-01-01", "2026-01-01"


def cli(*args: str, env: dict[str, str]) -> None:
    completed = subprocess.run([str(BIN / "citypeers"), *args], env=env, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, f"citypeers {' '.join(args)}:\n{completed.stderr[-3000:]}"


@pytest.fixture(scope="module")
def pipeline_home(tmp_path_factory) -> Path:
    """The pipeline fetches demo_europe from the demo EEA download service (Parquet, over HTTP); the
    floor and pandas read the e-Reporting CSVs of the same readings: two layouts, one answer."""
    home = tmp_path_factory.mktemp("baselines_home")
    env = dict(os.environ) | stack_environment(home)
    cli("demo-data", "--cities", *CITIES, "--years", *YEARS, env=env)
    server = serve(home, 0, rate_limit_every=0)
    try:
        env["CITYPEERS_FEEDS"] = str(feeds_file_with_port(home, server.server_address[1]))
        for year in YEARS:
            cli("ingest", "demo_europe", "--start", f"{year}-01-01", "--end", f"{int(year) + 1}-01-01", env=env)
    finally:
        server.shutdown()
    cli("build", env=env)
    return home


@pytest.fixture(scope="module")
def raw(pipeline_home: Path) -> tuple[list[Path], Path]:
    feed = pipeline_home / "feeds" / "demo" / "eea_air"
    files = sorted(feed.glob("*/*.csv"))
    assert files, f"no raw EEA files in {feed}"
    return files, feed / "stations.csv"


def assert_same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left, right, check_dtype=False, check_exact=False, rtol=0, atol=1e-9)


def test_floor_and_pipeline_give_the_same_city_annual_means(pipeline_home, raw):
    floor = floor_city_annual(*raw, UTC_START, UTC_END)
    assert set(floor["city_id"]) == set(CITIES)
    assert len(floor) == len(CITIES) * 3 * len(YEARS)  # three pollutants
    assert_same(floor, pipeline_city_annual(pipeline_home / "warehouse" / "citypeers.duckdb", CITIES))


def test_pandas_and_floor_give_the_same_city_annual_means(raw):
    assert_same(pandas_city_annual(*raw, UTC_START, UTC_END), floor_city_annual(*raw, UTC_START, UTC_END))


def test_the_comparison_notices_a_different_rule(raw):
    """The check can fail: one annual mean off by 1e-6 is a difference."""
    floor = floor_city_annual(*raw, UTC_START, UTC_END)
    looser = floor.copy()
    looser.loc[0, "annual_mean"] += 1e-6
    with pytest.raises(AssertionError):
        assert_same(looser, floor)
