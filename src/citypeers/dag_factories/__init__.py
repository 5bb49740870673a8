"""Airflow DAG builders. The only part of the package that imports Airflow: the DAG files in
dags/ call these, and every task they build calls one domain function of the package."""
