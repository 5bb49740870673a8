"""Builds one ingest DAG per feed of a source. Wiring only: every task calls citypeers.ingest."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task

from citypeers.registry import feed_schedules
from citypeers.runtime_env import INGEST_QUEUE

DOC = """
### Ingest `{feed_id}` ({source})
Fetches the data interval of feed `{feed_id}` (see `feeds.yml`), keeps every payload unchanged in
the landing zone, parses it, and runs the Great Expectations gate `parsed__{source}`. Rows that
fail an expectation are quarantined with the reason; the rest become this period's Parquet
partition and the Asset `citypeers://parsed/{source}` is updated, which triggers the transform.

**Triage a failure**
- `land` failed: the feed could not be reached or answered with errors; retries back off and honour
  `Retry-After`. The error names the URL, the HTTP status and what to do; a body that arrived but was
  rejected is kept in the period's `rejected/` folder. Check the location in `feeds.yml`. Errors a
  retry cannot fix (404/410, 401/403, a redirect loop, a body above `max_bytes`) fail at once.
- `parse` and `validate` **skipped**: not a failure. The period's payloads are those of its last
  publish (an HTTP 304 or identical bytes), so nothing was parsed and the transform is not triggered.
- `parse` failed: the payload is malformed. The error names the payload file in
  `$CITYPEERS_HOME/landing/{source}/{feed_id}/<period>/` and the field; fix the feed and clear the task.
- `validate` failed: the feed broke its contract (the message names the expectation, column and an
  example). Nothing was published; quarantined rows are in `$CITYPEERS_HOME/quarantine/{source}/`.

Rerun or backfill any interval: each run rewrites only its own period.
Same step by hand: `citypeers ingest {feed_id} --start <date> --end <date>`.
"""

DEFAULT_ARGS = {
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "queue": INGEST_QUEUE,  # CeleryExecutor only: the workers listening on `ingest`
}


def _skip_if_unchanged(result: dict) -> dict:
    """An unchanged period ends the task as skipped: validate's Asset gets no event, so the
    transform is not triggered for nothing."""
    if result.get("unchanged"):
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(
            f"feed {result['feed_id']} period {result['period']}: the landed payloads are those of the "
            "period's last publish (same hashes, same rules): nothing to parse or publish")
    return result


def build_ingest_dag(source: str, feed_id: str, schedule: str, start_date: str):
    parsed = Asset(f"citypeers://parsed/{source}")

    @dag(
        dag_id=f"ingest__{source}__{feed_id}",
        schedule=CronDataIntervalTimetable(schedule, timezone="UTC"),
        start_date=datetime.fromisoformat(start_date),
        catchup=False,
        max_active_runs=2,
        default_args=DEFAULT_ARGS,
        tags=["citypeers", "ingest", source],
        doc_md=DOC.format(source=source, feed_id=feed_id),
    )
    def ingest():
        @task
        def land(data_interval_start=None, data_interval_end=None):
            from citypeers import ingest
            from citypeers.errors import FeedError

            try:
                return ingest.land(feed_id, data_interval_start, data_interval_end)
            except FeedError as error:
                if error.retryable:
                    raise
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(str(error)) from error  # a 404 stays a 404: no task retries

        @task
        def parse(data_interval_start=None, data_interval_end=None):
            from citypeers import ingest

            return _skip_if_unchanged(ingest.parse(feed_id, data_interval_start, data_interval_end))

        @task(outlets=[parsed])
        def validate(data_interval_start=None, data_interval_end=None):
            from citypeers import ingest

            return _skip_if_unchanged(ingest.validate(feed_id, data_interval_start, data_interval_end))

        land() >> parse() >> validate()

    return ingest()


def build_ingest_dags(source: str) -> dict:
    """One DAG per feed of `source` in feeds.yml, keyed by dag_id for the DAG file's globals."""
    dags = {}
    for feed_id, (schedule, start_date) in feed_schedules(source).items():
        built = build_ingest_dag(source, feed_id, schedule, start_date)
        dags[built.dag_id] = built
    return dags
