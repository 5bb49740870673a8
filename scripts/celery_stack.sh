#!/usr/bin/env bash
# Airflow on the CeleryExecutor as local processes, no Docker: Redis (broker), a throwaway Postgres
# cluster (Airflow's metadata and Celery's results), the API server, the scheduler, the DAG processor
# and CELERY_WORKERS Celery workers (worker1@<host>, worker2@<host>, ...) on the queues
# `ingest`, `transform` and `default`. Everything lives in $CITYPEERS_HOME/celery.
# CELERY_WORKERS=0 starts the same stack on the LocalExecutor (no Redis, no workers: the scheduler
# runs the tasks), the reference the Celery runs are compared with (tests, make bench).
#
#   scripts/celery_stack.sh start    start every process (idempotent), wait for the API's health
#   scripts/celery_stack.sh stop     stop them (workers first), keep the data
#   scripts/celery_stack.sh purge    stop them and delete the Postgres cluster (tests)
#   scripts/celery_stack.sh env      the exports for an Airflow CLI against this stack
#
# Environment: CITYPEERS_HOME (default <repo>/var), CELERY_WORKERS (2), CELERY_CONCURRENCY (tasks per
# worker, 1), CITYPEERS_REDIS_PORT (6379), CITYPEERS_PG_PORT (5433), AIRFLOW_PORT (8080).
# Postgres refuses to run as root: as root the cluster runs as the Debian user `postgres`.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
export CITYPEERS_HOME="$(realpath -m "${CITYPEERS_HOME:-$REPO_ROOT/var}")"
STACK="$CITYPEERS_HOME/celery"
WORKERS="${CELERY_WORKERS:-2}"
CONCURRENCY="${CELERY_CONCURRENCY:-1}"
START_TIMEOUT="${CELERY_START_TIMEOUT:-120}"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"

die() { echo "celery_stack.sh: $*" >&2; exit 1; }

stack_env() {
  if [[ "$WORKERS" == 0 ]]; then .venv/bin/citypeers env --executor local-scheduler
  else .venv/bin/citypeers env --executor celery; fi
}

as_postgres() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The cluster's directory: $STACK/postgres, or (as root, when user postgres cannot reach it, e.g. below
# pytest's 0700 temporary folders) a folder of its own under /tmp, linked from $STACK/postgres.
pg_data() {
  if [[ -e "$STACK/postgres" ]]; then realpath "$STACK/postgres"; return; fi
  if [[ "$(id -u)" == 0 ]] && ! runuser -u postgres -- test -x "$STACK"; then
    local dir; dir="$(mktemp -d /tmp/citypeers-pg.XXXXXX)"
    ln -s "$dir" "$STACK/postgres"; echo "$dir"
  else
    mkdir -p "$STACK/postgres"; echo "$STACK/postgres"
  fi
}

start_postgres() {
  [[ -x "$PG_BIN/initdb" ]] || die "no Postgres in /usr/lib/postgresql (make system-packages installs it)"
  local data port; data="$(pg_data)"; port="${CITYPEERS_PG_PORT:-5433}"
  [[ "$(id -u)" == 0 ]] && chown postgres: "$data" && chmod 700 "$data"
  if [[ ! -s "$data/PG_VERSION" ]]; then
    as_postgres "$PG_BIN/initdb" -D "$data" -U airflow --auth=trust -E UTF8 >"$STACK/logs/initdb.log"
  fi
  if ! as_postgres "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_postgres "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
      -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  fi
  as_postgres "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U airflow -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'airflow'" | grep -q 1 \
    || as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U airflow airflow
}

start_redis() {
  if [[ -s "$STACK/redis.pid" ]] && kill -0 "$(cat "$STACK/redis.pid")" 2>/dev/null; then return; fi
  command -v redis-server >/dev/null || die "no redis-server (make system-packages installs it)"
  redis-server --port "${CITYPEERS_REDIS_PORT:-6379}" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize yes --pidfile "$STACK/redis.pid" --logfile "$STACK/logs/redis.log" --dir "$STACK"
}

# start_process NAME COMMAND...: one background process, its pid in $STACK/NAME.pid.
start_process() {
  local name="$1"; shift
  if [[ -s "$STACK/$name.pid" ]] && kill -0 "$(cat "$STACK/$name.pid")" 2>/dev/null; then return; fi
  setsid nohup "$@" >"$STACK/logs/$name.log" 2>&1 &
  echo $! >"$STACK/$name.pid"
}

start() {
  mkdir -p "$STACK/logs"
  [[ "$WORKERS" == 0 ]] || start_redis
  start_postgres
  eval "$(stack_env)"
  mkdir -p "$AIRFLOW_HOME"
  .venv/bin/airflow db migrate >"$STACK/logs/migrate.log" 2>&1 || { tail -20 "$STACK/logs/migrate.log" >&2; die "airflow db migrate failed"; }
  .venv/bin/airflow pools set duckdb_writer 1 "one DuckDB writer at a time" >/dev/null
  start_process api-server .venv/bin/airflow api-server --port "$AIRFLOW__API__PORT"
  start_process scheduler .venv/bin/airflow scheduler
  start_process dag-processor .venv/bin/airflow dag-processor
  for n in $(seq 1 "$WORKERS"); do
    # Each worker names itself in the task instances it runs (hostname_callable, see runtime_env).
    CITYPEERS_WORKER_NAME="worker$n@$(hostname)" start_process "worker$n" \
      .venv/bin/airflow celery worker --queues ingest,transform,default --concurrency "$CONCURRENCY" \
      --celery-hostname "worker$n@%h" --skip-serve-logs
  done
  local url="http://127.0.0.1:$AIRFLOW__API__PORT/api/v2/monitor/health"
  for _ in $(seq 1 "$START_TIMEOUT"); do
    if curl -fsS "$url" 2>/dev/null | grep -q '"scheduler": *{"status": *"healthy"'; then
      echo "Airflow ($AIRFLOW__CORE__EXECUTOR, $WORKERS Celery workers) on http://127.0.0.1:$AIRFLOW__API__PORT, logs in $STACK/logs"
      return
    fi
    sleep 1
  done
  tail -n 5 "$STACK"/logs/*.log >&2
  die "the stack did not become healthy in $START_TIMEOUT s"
}

stop_pid() {
  local file="$STACK/$1.pid"
  [[ -s "$file" ]] || return 0
  local pid; pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

stop() {
  [[ -d "$STACK" ]] || return 0
  for file in "$STACK"/worker*.pid; do [[ -e "$file" ]] && stop_pid "$(basename "$file" .pid)"; done
  for name in scheduler dag-processor api-server; do stop_pid "$name"; done
  if [[ -s "$STACK/redis.pid" ]]; then kill "$(cat "$STACK/redis.pid")" 2>/dev/null || true; rm -f "$STACK/redis.pid"; fi
  if [[ -e "$STACK/postgres/PG_VERSION" ]]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$(realpath "$STACK/postgres")" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

purge() {
  stop
  if [[ -e "$STACK/postgres" ]]; then rm -rf "$(realpath "$STACK/postgres")" "$STACK/postgres"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  purge) purge ;;
  env) stack_env ;;
  *) echo "usage: $0 start | stop | purge | env" >&2; exit 2 ;;
esac
