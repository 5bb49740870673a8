"""Trigger DAG runs on a running Airflow (any executor) through its REST API, wait for them, and read
their task instances: what `make demo-celery` and its test need from a scheduler that runs the
tasks elsewhere (on Celery workers), where `airflow dags test` would run them in-process."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

from citypeers.registry import SOURCES, feed_schedules

log = logging.getLogger(__name__)

FINISHED = {"success", "failed"}


@dataclass(frozen=True)
class Run:
    dag_id: str
    run_id: str


class AirflowApi:
    """The Airflow 3 REST API (/api/v2) as the simple auth manager's admin."""

    def __init__(self, url: str, username: str, password: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        answer = self.session.post(f"{self.url}/auth/token", json={"username": username, "password": password},
                                   timeout=30)
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AirflowApi:
        """The API of the stack in $AIRFLOW_HOME on $AIRFLOW__API__PORT, with its generated admin password."""
        environ = os.environ if environ is None else environ
        passwords = Path(environ["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
        username, password = next(iter(json.loads(passwords.read_text(encoding="utf-8")).items()))
        return cls(f"http://127.0.0.1:{environ.get('AIRFLOW__API__PORT', '8080')}", username, password)

    def _call(self, method: str, path: str, **kwargs) -> dict:
        answer = self.session.request(method, f"{self.url}/api/v2{path}", timeout=60, **kwargs)
        if not answer.ok:
            raise RuntimeError(f"{method} {path}: HTTP {answer.status_code} {answer.text[:500]}")
        return answer.json()

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 300) -> None:
        """Until the DAG processor has serialized every DAG (a fresh stack parses them first)."""
        deadline = time.monotonic() + timeout
        missing = set(dag_ids)
        while missing:
            missing -= {dag["dag_id"] for dag in self._pages("/dags", "dags")}
            if missing and time.monotonic() > deadline:
                raise TimeoutError(f"DAGs not parsed after {timeout:.0f} s: {sorted(missing)}")
            if missing:
                time.sleep(2)

    def trigger(self, dag_id: str, logical_date: datetime, conf: dict | None = None) -> Run:
        """Unpause the DAG and start one run; the timetable infers the data interval ending at
        `logical_date`, as `airflow dags test <dag> <date>` does."""
        self._call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        body = {"logical_date": logical_date.strftime("%Y-%m-%dT%H:%M:%SZ"), "conf": conf or {}}
        return Run(dag_id, self._call("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def wait(self, runs: list[Run], timeout: float = 3600) -> dict[Run, str]:
        """Each run's final state (success or failed); raises after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        states: dict[Run, str] = {}
        while len(states) < len(runs):
            for run in runs:
                if run not in states:
                    state = self._call("GET", f"/dags/{run.dag_id}/dagRuns/{run.run_id}")["state"]
                    if state in FINISHED:
                        states[run] = state
                        log.info("%s %s: %s", run.dag_id, run.run_id, state)
            if len(states) < len(runs):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"runs unfinished after {timeout:.0f} s: "
                                       f"{[run for run in runs if run not in states]}")
                time.sleep(2)
        return states

    def task_instances(self, run: Run) -> list[dict]:
        """The run's task instances: task_id, state, hostname, pool, queue, start_date, end_date, ..."""
        return self._pages(f"/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances", "task_instances")

    def _pages(self, path: str, key: str) -> list[dict]:
        """Every item of a list endpoint: the API caps `limit` ([api] maximum_page_limit, 100)."""
        items: list[dict] = []
        while True:
            page = self._call("GET", path, params={"limit": 100, "offset": len(items)})
            items += page[key]
            if not page[key] or len(items) >= page["total_entries"]:
                return items


def ingest_dag_ids() -> list[str]:
    """Every ingest DAG of feeds.yml ($CITYPEERS_FEEDS)."""
    return [f"ingest__{source}__{feed_id}" for source in SOURCES for feed_id in feed_schedules(source)]


def trigger_and_wait(api: AirflowApi, dag_ids: list[str], ends: list[datetime], timeout: float = 3600) -> list[Run]:
    """Every DAG for every interval ending at one of `ends`, all at once (the workers share them);
    waits for all of them and raises naming the runs that failed."""
    api.wait_for_dags(dag_ids)
    runs = [api.trigger(dag_id, end) for end in ends for dag_id in dag_ids]
    failed = [run for run, state in api.wait(runs, timeout).items() if state != "success"]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(runs)} runs failed: {failed[:5]} (logs below $AIRFLOW_HOME/logs)")
    # A run for an interval before the DAG's start_date gets no task instances and succeeds at once.
    empty = [run for run in runs if not api.task_instances(run)]
    if empty:
        raise RuntimeError(f"{len(empty)} of {len(runs)} runs ran no task: {empty[:5]}; is their interval before the "
                           "feed's start_date in feeds.yml?")
    return runs


def run_interval(api: AirflowApi, until: datetime, timeout: float = 3600, transform: bool = True) -> list[Run]:
    """Every ingest DAG for the interval ending at `until`, then the transform once (unless `transform`
    is false). Returns the runs; raises naming the runs that failed."""
    ingests = trigger_and_wait(api, ingest_dag_ids(), [until], timeout)
    if not transform:
        return ingests
    return [*ingests, *trigger_and_wait(api, ["transform__warehouse"], [until], timeout)]
