"""Airflow ingest DAGs for the `indicator_template` source (the citypeers long CSV): one DAG per feed in
feeds.yml (ingest__indicator_template__<feed_id>)."""

from citypeers.dag_factories.ingest import build_ingest_dags

globals().update(build_ingest_dags("indicator_template"))
