"""Run the DAGs for real with `airflow dags test`, interval by interval (demo and tests).

A scheduler would create the same runs; `airflow dags test` runs one DAG run in-process, which
is what a laptop demo and CI need. For production backfills use `airflow backfill create`.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from citypeers.intervals import interval_ends
from citypeers.registry import SOURCES, feed_schedules

log = logging.getLogger(__name__)

def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def dags_test(dag_id: str, run_date: datetime) -> None:
    """One real DAG run; raises with the tail of Airflow's output when any task failed."""
    started = time.monotonic()
    command = [_airflow(), "dags", "test", dag_id, run_date.strftime("%Y-%m-%dT%H:%M:%S+00:00")]
    completed = subprocess.run(command, capture_output=True, text=True)
    output = completed.stdout + completed.stderr
    failed = completed.returncode != 0 or "state=failed" in output.lower() or "dagrunstate.failed" in output.lower()
    log.info("%s %s %s in %.0f s", dag_id, run_date.date(), "FAILED" if failed else "ok",
             time.monotonic() - started)
    if failed:
        tail = "\n".join(output.splitlines()[-60:])
        raise RuntimeError(f"DAG run {dag_id} (interval ending {run_date:%Y-%m-%d}) failed:\n{tail}")


def run_all(until: str) -> list[tuple[str, datetime]]:
    """Every ingest DAG for every interval up to `until`, then the transform once, then the city briefs
    (a scheduler starts report__city_briefs on the transform's `citypeers://warehouse` update)."""
    runs = []
    for source in SOURCES:
        for feed_id, (schedule, start_date) in feed_schedules(source).items():
            for run_date in interval_ends(schedule, start_date, until):
                runs.append((f"ingest__{source}__{feed_id}", run_date))
    runs.append(("transform__warehouse", datetime.fromisoformat(until)))
    runs.append(("report__city_briefs", datetime.fromisoformat(until)))
    for number, (dag_id, run_date) in enumerate(runs, start=1):
        log.info("run %d of %d: %s, interval ending %s", number, len(runs), dag_id, run_date.date())
        dags_test(dag_id, run_date)
    return runs
