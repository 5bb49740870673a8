"""Builds one snapshot DAG per live feed of a source (`snapshot__<source>__<feed_id>`). Wiring only:
the task calls citypeers.feeds.gbfs_http.take_snapshot."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, dag, task

from citypeers.registry import snapshot_schedules

DOC = """
### Snapshot `{feed_id}` ({source})
A live system cannot be backfilled: every run keeps one snapshot of each system of feed
`{feed_id}` (see `feeds.yml`, `options.snapshot_schedule`) in
`$CITYPEERS_HOME/landing/{source}/{feed_id}/<run period>/`: gbfs.json, found by auto-discovery, the
files it lists (a file is not asked for again before its `ttl` expired) and `snapshot.json`, which
records per system its files or the error when it did not answer. The yearly ingest
`ingest__{source}__{feed_id}` turns the year's snapshots into the annual figures (the median of the
snapshots).

**Triage a failure**
- One system did not answer: the run succeeds, the failure is recorded in `snapshot.json` and as a
  `system_not_answering` notice (data-health dashboard, feed validation notices); the year's
  figures leave it out, never as a zero.
- The run failed: no system answered (the error names each URL and HTTP status). Check the URLs
  in `feeds.yml`; a missed snapshot cannot be taken later, the year's median is of the others.

Same step by hand: `citypeers snapshot {feed_id}`.
"""

DEFAULT_ARGS = {"retries": 1, "retry_delay": timedelta(minutes=2)}


def build_snapshot_dag(source: str, feed_id: str, schedule: str, start_date: str):
    @dag(
        dag_id=f"snapshot__{source}__{feed_id}",
        schedule=CronDataIntervalTimetable(schedule, timezone="UTC"),
        start_date=datetime.fromisoformat(start_date),
        catchup=False,  # a snapshot is of now: a missed run cannot be taken later
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["citypeers", "snapshot", source],
        doc_md=DOC.format(source=source, feed_id=feed_id),
    )
    def snapshot():
        @task
        def take(data_interval_start=None, data_interval_end=None):
            from citypeers.feeds import gbfs_http

            return gbfs_http.take_snapshot(feed_id, data_interval_start, data_interval_end)

        take()

    return snapshot()


def build_snapshot_dags(source: str) -> dict:
    """One snapshot DAG per live feed of `source` in feeds.yml, keyed by dag_id for the DAG file's globals."""
    dags = {}
    for feed_id, (schedule, start_date) in snapshot_schedules(source).items():
        built = build_snapshot_dag(source, feed_id, schedule, start_date)
        dags[built.dag_id] = built
    return dags
