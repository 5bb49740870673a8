"""Runs the real pipeline for the end-to-end tests: demo feeds → Airflow DAG runs → serving file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from citypeers import paths
from citypeers.airflow_api import AirflowApi
from citypeers.runtime_env import stack_environment

# A small but real slice of the demo: European cities through EEA files, Asian ones through the API.
# The benchmark's tier S is the first six. Rome, Paris and Berlin are in Barcelona's peer group, so its
# demo low-emission zone has enough donors with data for a synthetic control (at least 5).
TIER_S_CITIES = ["madrid", "barcelona", "valencia", "seoul", "delhi", "tokyo"]
E2E_CITIES = [*TIER_S_CITIES, "rome", "paris", "berlin"]
E2E_YEARS = ["2023", "2024", "2025"]
UNTIL = "2026-01-01"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(home: Path, feeds_file: Path) -> dict[str, str]:
    return os.environ | stack_environment(home) | {"CITYPEERS_FEEDS": str(feeds_file)}


def run(command: list[str], env: dict[str, str], timeout: int = 1800) -> subprocess.CompletedProcess:
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {completed.returncode}\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
        )
    return completed


def feeds_file_with_port(home: Path, port: int) -> Path:
    """The project's feeds.yml, with the demo feed server on this run's port."""
    text = paths.feeds_file().read_text(encoding="utf-8").replace("127.0.0.1:8765", f"127.0.0.1:{port}")
    target = home / "feeds.yml"
    target.write_text(text, encoding="utf-8")
    return target


def start_feed_server(env: dict[str, str], port: int, log_file: Path) -> subprocess.Popen:
    """The demo feed server as `make demo` runs it (scripts/feed_server.sh): 429 every 50 requests,
    SDMX flaky; returns once `/health` answers."""
    server = subprocess.Popen(
        [str(BIN / "citypeers"), "feeds-serve", "--port", str(port), "--flaky", "/sdmx/"],
        env=env, stdout=log_file.open("w"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return server
        except OSError:
            if server.poll() is not None:
                raise AssertionError(f"demo feed server exited: {log_file.read_text()}") from None
            time.sleep(0.2)
    server.kill()
    raise AssertionError(f"demo feed server did not answer on {port}: {log_file.read_text()}")


def build_published_home(home: Path) -> Path:
    """Generate the demo slice, run every DAG under Airflow, and return CITYPEERS_HOME."""
    port = free_port()
    env = environment(home, feeds_file_with_port(home, port))
    run([str(BIN / "citypeers"), "demo-data", "--cities", *E2E_CITIES, "--years", *E2E_YEARS], env)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    run([str(BIN / "airflow"), "db", "migrate"], env)
    run([str(BIN / "airflow"), "pools", "set", "duckdb_writer", "1", "one DuckDB writer at a time"], env)
    server = start_feed_server(env, port, home / "feed_server.log")
    try:
        run([str(BIN / "citypeers"), "run-dags", "--until", UNTIL], env, timeout=3000)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return home


@contextmanager
def airflow_stack(env: dict[str, str], workers: int) -> Iterator[AirflowApi]:
    """scripts/celery_stack.sh on free ports with `workers` Celery workers (0: the LocalExecutor), its
    REST API while it runs; stopped and its Postgres deleted after. Updates `env` with the ports."""
    env |= {"CITYPEERS_REDIS_PORT": str(free_port()), "CITYPEERS_PG_PORT": str(free_port()),
            "AIRFLOW_PORT": str(free_port()), "CELERY_WORKERS": str(workers)}
    stack = [str(paths.REPO_ROOT / "scripts" / "celery_stack.sh")]
    try:
        run([*stack, "start"], env, timeout=300)
        yield AirflowApi.from_environment({"AIRFLOW_HOME": env["AIRFLOW_HOME"],
                                           "AIRFLOW__API__PORT": env["AIRFLOW_PORT"]})
    finally:
        subprocess.run([*stack, "purge"], env=env, capture_output=True, timeout=300)
