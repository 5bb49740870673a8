#!/usr/bin/env bash
# airflow-init: the one-shot setup that every other Airflow service waits for
# (depends_on: service_completed_successfully). Every step is idempotent, so it simply runs again
# on each `docker-compose up`.
set -euo pipefail

app="${CITYPEERS_APP:-/opt/citypeers/app}"
project="$app/dbt_project"

echo "== migrating the Airflow metadata database"
airflow db migrate

echo "== pool duckdb_writer (1 slot): one writer at a time for the DuckDB warehouse files"
airflow pools set duckdb_writer 1 \
  "Every task that writes a DuckDB warehouse file, and the publish task (docs/architecture.md)"

# The demo feeds in feeds.yml read files below $CITYPEERS_HOME/feeds/demo, and the demo OpenAQ
# server serves them. They are deterministic, so they are written once, never overwritten under a
# running pipeline. CITYPEERS_DEMO_DATA=false skips them (a team with real feeds only).
if [[ "${CITYPEERS_DEMO_DATA:-true}" == "true" ]]; then
  if [[ -d "$CITYPEERS_HOME/feeds/demo" ]]; then
    echo "== demo feeds already in $CITYPEERS_HOME/feeds/demo"
  else
    echo "== writing the demo feeds into $CITYPEERS_HOME/feeds/demo"
    citypeers demo-data
  fi
fi

# `dbt parse` checks the dbt project before any DAG runs (a broken project fails here, not in the
# first transform). It reads no data; the profile still needs CITYPEERS_BUILD_DB (docker-compose.yml).
echo "== parsing the dbt project"
if [[ -f "$project/packages.yml" || -f "$project/dependencies.yml" ]]; then
  dbt deps --project-dir "$project" --profiles-dir "$project"
fi
dbt parse --project-dir "$project" --profiles-dir "$project"
test -s "$project/target/manifest.json"

echo "== airflow-init done"
