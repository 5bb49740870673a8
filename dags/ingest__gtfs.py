"""Airflow ingest DAGs for the `gtfs` source (GTFS static schedules): one DAG per feed in
feeds.yml (ingest__gtfs__<feed_id>)."""

from citypeers.dag_factories.ingest import build_ingest_dags

globals().update(build_ingest_dags("gtfs"))
