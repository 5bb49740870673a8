"""Airflow ingest DAGs for the `sdmx_csv` source (SDMX-CSV 1.0 and 2.0 files): one DAG per feed in
feeds.yml (ingest__sdmx_csv__<feed_id>)."""

from citypeers.dag_factories.ingest import build_ingest_dags

globals().update(build_ingest_dags("sdmx_csv"))
