#!/usr/bin/env bash
# What `make demo` ends with: where to look, how to log in, how to stop.
set -euo pipefail
home="${CITYPEERS_HOME:?}"
port="${SUPERSET_PORT:-8088}"
cat <<TXT

citypeers demo is ready.

  Dashboard    http://127.0.0.1:${port}/superset/dashboard/air-quality-who/
  Superset     http://127.0.0.1:${port}/   user: admin   password: in ${home}/superset/admin_password (only you can read it)
  Warehouse    ${home}/warehouse/citypeers.duckdb   (open read-only: duckdb -readonly, or duckdb.connect(path, read_only=True))
  Landing zone ${home}/landing/   quarantine: ${home}/quarantine/   GX results: ${home}/validation/
  Airflow      AIRFLOW_HOME=${home}/airflow; the DAG runs are in its metadata and logs.
               To watch them in the UI: eval "\$(.venv/bin/citypeers env)" && airflow standalone

Stop the servers with:  make stop
TXT
.venv/bin/python - <<PY
import duckdb
con = duckdb.connect("${home}/warehouse/citypeers.duckdb", read_only=True)
for table in ("dim_city", "dim_indicator", "fct_city_indicator_annual"):
    print(f"  {table:<28}{con.execute(f'select count(*) from {table}').fetchone()[0]:>8} rows")
PY
