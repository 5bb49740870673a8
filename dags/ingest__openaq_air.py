"""Airflow ingest DAGs for the `openaq_air` source: one DAG per feed in feeds.yml (ingest__openaq_air__<feed_id>)."""

from citypeers.dag_factories.ingest import build_ingest_dags

globals().update(build_ingest_dags("openaq_air"))
