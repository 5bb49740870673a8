#!/usr/bin/env bash
# Creates the two metadata databases on the first start of an empty Postgres volume (the official
# image runs /docker-entrypoint-initdb.d/* only then): `airflow` and `superset`, each owned by its
# own login role, neither reachable by the other role. The passwords come from docker/.env;
# changing them later needs `ALTER ROLE ... PASSWORD` (or a fresh postgres-data volume).
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD in docker/.env}"
: "${SUPERSET_DB_PASSWORD:?set SUPERSET_DB_PASSWORD in docker/.env}"

# psql's :'name' quotes the value as an SQL literal, so any character is safe in a password.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
  -v airflow_password="$AIRFLOW_DB_PASSWORD" \
  -v superset_password="$SUPERSET_DB_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;
REVOKE ALL ON DATABASE airflow FROM PUBLIC;

CREATE ROLE superset LOGIN PASSWORD :'superset_password';
CREATE DATABASE superset OWNER superset;
REVOKE ALL ON DATABASE superset FROM PUBLIC;
SQL
echo "created the metadata databases airflow and superset"
