"""Airflow ingest DAGs for the `gbfs` source (GBFS station snapshots): one DAG per feed in
feeds.yml (ingest__gbfs__<feed_id>)."""

from citypeers.dag_factories.ingest import build_ingest_dags

globals().update(build_ingest_dags("gbfs"))
