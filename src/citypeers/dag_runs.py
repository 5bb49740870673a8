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

from citypeers import paths
from citypeers.intervals import Interval, schedule_intervals
from citypeers.registry import SOURCES, Feed, feed_schedules, get_feed

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


def run_all(until: str) -> tuple[list[tuple[str, datetime]], int]:
    """Every ingest DAG for every interval up to `until`, then the transform once, then the city briefs
    (a scheduler starts report__city_briefs on the transform's `citypeers://warehouse` update).
    Returns the runs and how many ingest intervals were skipped as unchanged (see `_skipped`)."""
    runs: list[tuple[str, datetime, Feed | None, Interval | None]] = []
    for source in SOURCES:
        for feed_id, (schedule, start_date) in feed_schedules(source).items():
            feed = get_feed(feed_id)
            for interval in schedule_intervals(schedule, start_date, until):
                runs.append((f"ingest__{source}__{feed_id}", interval.end, feed, interval))
    runs.append(("transform__warehouse", datetime.fromisoformat(until), None, None))
    runs.append(("report__city_briefs", datetime.fromisoformat(until), None, None))
    skipped = 0
    for number, (dag_id, run_date, feed, interval) in enumerate(runs, start=1):
        log.info("run %d of %d: %s, interval ending %s", number, len(runs), dag_id, run_date.date())
        before = _publish_record(feed, interval)
        dags_test(dag_id, run_date)
        if before is not None and _publish_record(feed, interval) == before:
            skipped += 1
            log.info("%s %s: unchanged since its last publish, parse and validate skipped", dag_id, interval.label)
    return [(dag_id, run_date) for dag_id, run_date, *_ in runs], skipped


def _publish_record(feed: Feed | None, interval: Interval | None) -> tuple[int, bytes] | None:
    """The period's publish record as it is on disk. A successful ingest run either publishes
    (rewriting it) or skips an unchanged period (leaving it untouched): same record after the
    run, the run was skipped."""
    if feed is None:
        return None
    record = paths.published_record(feed.source, feed.feed_id, interval.label)
    if not record.exists():
        return None
    return record.stat().st_mtime_ns, record.read_bytes()
