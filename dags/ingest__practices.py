"""Airflow ingest DAGs for the `practices` source (a registry of practices, CSV or YAML): one DAG per feed in
feeds.yml (ingest__practices__<feed_id>)."""

from citypeers.dag_factories.ingest import build_ingest_dags

globals().update(build_ingest_dags("practices"))
