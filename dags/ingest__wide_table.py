"""Airflow ingest DAGs for the `wide_table` source (wide statistical tables mapped to indicators
declaratively in feeds.yml): one DAG per feed in feeds.yml (ingest__wide_table__<feed_id>)."""

from citypeers.dag_factories.ingest import build_ingest_dags

globals().update(build_ingest_dags("wide_table"))
