#!/usr/bin/env bash
# What `make demo` ends with: where to look, how to log in, how to stop.
set -euo pipefail
home="${CITYPEERS_HOME:?}"
port="${SUPERSET_PORT:-8088}"
cat <<TXT

citypeers demo is ready.

  Dashboards   http://127.0.0.1:${port}/superset/dashboard/city-scorecard/
               http://127.0.0.1:${port}/superset/dashboard/peer-comparison/
               http://127.0.0.1:${port}/superset/dashboard/learn-from-peers/
               http://127.0.0.1:${port}/superset/dashboard/trends/
               http://127.0.0.1:${port}/superset/dashboard/city-map/
               http://127.0.0.1:${port}/superset/dashboard/data-health/
               http://127.0.0.1:${port}/superset/dashboard/air-quality-who/
               http://127.0.0.1:${port}/superset/dashboard/what-worked-where/
  Superset     http://127.0.0.1:${port}/   read-only city official: user official, password in ${home}/superset/official_password
               admin: user admin, password in ${home}/superset/admin_password (only you can read either file)
  Warehouse    ${home}/warehouse/citypeers.duckdb   (open read-only: duckdb.connect(path, read_only=True))
  Landing zone ${home}/landing/   quarantine: ${home}/quarantine/   GX results: ${home}/validation/
  Airflow      AIRFLOW_HOME=${home}/airflow; the DAG runs are in its metadata and logs.
               To watch them in the UI: eval "\$(.venv/bin/citypeers env)" && airflow standalone
  Try          eval "\$(.venv/bin/citypeers env)"; citypeers values msw_recycled_share
               citypeers peers madrid; citypeers learn madrid pm25_annual_mean
               citypeers brief tokyo --lang es --format pdf

Stop the servers with:  make stop
TXT
.venv/bin/python - <<PY
import duckdb
con = duckdb.connect("${home}/warehouse/citypeers.duckdb", read_only=True)
for table in ("dim_city", "dim_indicator", "fct_city_indicator_annual", "fct_city_context_annual",
              "fct_city_peers", "fct_city_benchmark", "fct_learning_opportunities", "fct_city_scores",
              "fct_feed_health"):
    print(f"  {table:<28}{con.execute(f'select count(*) from {table}').fetchone()[0]:>8} rows")
print("\n  fct_city_indicator_annual by domain: cities, indicators, years")
for domain, cities, indicators, years in con.execute("""
        select domain, count(distinct city_id), count(distinct indicator_code), count(distinct year)
        from fct_city_indicator_annual group by domain order by domain""").fetchall():
    print(f"  {domain:<28}{cities:>8}{indicators:>8}{years:>8}")
PY
briefs_index="$(ls -d "${home}"/briefs/*/index.html 2>/dev/null | sort | tail -n 1)"
if [ -n "${briefs_index}" ]; then
  briefs_dir="$(dirname "${briefs_index}")"
  echo; echo "  City briefs  ${briefs_index}"
  echo "               $(ls "${briefs_dir}"/*.en.pdf 2>/dev/null | wc -l) cities in English and $(ls "${briefs_dir}"/*.es.pdf 2>/dev/null | wc -l) in Spanish (HTML and PDF), rendered by report__city_briefs"
else
  echo "  City briefs  none rendered: see the report__city_briefs DAG run in Airflow"
fi
