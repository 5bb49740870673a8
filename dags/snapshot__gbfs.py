"""Airflow snapshot DAGs for the `gbfs` source: one per live GBFS feed in feeds.yml
(snapshot__gbfs__<feed_id>, options.snapshot_schedule, default hourly)."""

from citypeers.dag_factories.snapshot import build_snapshot_dags

globals().update(build_snapshot_dags("gbfs"))
