#!/usr/bin/env bash
# Run the citypeers Superset locally: metadata, secrets, logs and pid file in $CITYPEERS_HOME/superset.
#
#   scripts/superset.sh bootstrap   create/upgrade the metadata DB, the admin user, roles (idempotent)
#   scripts/superset.sh import      render dashboards/ for this machine and import it (overwrites by UUID),
#                                   then sync the read-only "Official" role and its demo user
#   scripts/superset.sh start       serve on http://127.0.0.1:$SUPERSET_PORT in the background
#   scripts/superset.sh stop | status
#
# Environment: CITYPEERS_HOME (default <repo>/var), SUPERSET_PORT (8088),
# SUPERSET_VENV (<repo>/.venv-superset), CITYPEERS_SERVING_DB
# (default $CITYPEERS_HOME/warehouse/citypeers.duckdb), SUPERSET_START_TIMEOUT (seconds, 180),
# SUPERSET_WORKERS (gunicorn workers, 2).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CITYPEERS_HOME="$(realpath -m "${CITYPEERS_HOME:-$REPO_ROOT/var}")"
SUPERSET_HOME="$CITYPEERS_HOME/superset"
SUPERSET_PORT="${SUPERSET_PORT:-8088}"
SUPERSET_VENV="$(realpath -m "${SUPERSET_VENV:-$REPO_ROOT/.venv-superset}")"
CITYPEERS_SERVING_DB="$(realpath -m "${CITYPEERS_SERVING_DB:-$CITYPEERS_HOME/warehouse/citypeers.duckdb}")"
SUPERSET_START_TIMEOUT="${SUPERSET_START_TIMEOUT:-180}"
SUPERSET_WORKERS="${SUPERSET_WORKERS:-2}"

ADMIN_USER="admin"
PASSWORD_FILE="$SUPERSET_HOME/admin_password"
OFFICIAL_PASSWORD_FILE="$SUPERSET_HOME/official_password"
PID_FILE="$SUPERSET_HOME/superset.pid"
LOG_FILE="$SUPERSET_HOME/logs/superset.log"
ACCESS_LOG_FILE="$SUPERSET_HOME/logs/access.log"
BUNDLE_DIR="$SUPERSET_HOME/bundle"
URL="http://127.0.0.1:$SUPERSET_PORT"

export CITYPEERS_HOME SUPERSET_HOME CITYPEERS_SERVING_DB
export SUPERSET_CONFIG_PATH="$REPO_ROOT/dashboards/superset_config.py"
export FLASK_APP=superset
export SCARF_ANALYTICS=false DO_NOT_TRACK=1
# Superset's CLI imports hundreds of modules; without .pyc files every command is ~2x slower.
unset PYTHONDONTWRITEBYTECODE

PY="$SUPERSET_VENV/bin/python"
SUPERSET="$SUPERSET_VENV/bin/superset"

die() { echo "superset.sh: $*" >&2; exit 1; }

require_venv() {
  [[ -x "$SUPERSET" && -x "$PY" ]] || die "no Superset environment at $SUPERSET_VENV
  (create it from requirements/superset.lock, or point SUPERSET_VENV at one)"
}

require_bootstrap() {
  [[ -s "$SUPERSET_HOME/secret_key" && -s "$PASSWORD_FILE" ]] \
    || die "Superset is not bootstrapped in $SUPERSET_HOME: run 'scripts/superset.sh bootstrap' first"
}

# True when the pid file names a live gunicorn that was started with this pid file (a stale
# file after a reboot may name an unrelated process, which 'stop' must never signal).
pid_alive() {
  [[ -s "$PID_FILE" ]] || return 1
  local pid cmdline
  pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *gunicorn*"--pid $PID_FILE"* ]]
}

health_ok() {
  "$PY" - "$URL/health" <<'EOF' 2>/dev/null
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
try:
    with opener.open(sys.argv[1], timeout=2) as response:
        sys.exit(0 if response.status == 200 and response.read().strip() == b"OK" else 1)
except Exception:
    sys.exit(1)
EOF
}

admin_exists() {
  local users
  users="$("$SUPERSET" fab list-users 2>/dev/null)" || die "superset fab list-users failed"
  grep -q "username:$ADMIN_USER " <<<"$users"
}

print_access() {
  echo "Superset:  $URL  (user: $ADMIN_USER, password in $PASSWORD_FILE)"
  echo "           read-only city official: user official, password in $OFFICIAL_PASSWORD_FILE"
}

# Write a random password into $1 (mode 0600) unless it holds one; true when one was generated.
generate_password() {
  local file="$1"
  if [[ -s "$file" ]]; then
    chmod 600 "$file"
    return 1
  fi
  (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(18))' >"$file.tmp")
  mv "$file.tmp" "$file"
  echo "generated a password in $file"
}

cmd_bootstrap() {
  require_venv
  mkdir -p "$SUPERSET_HOME/logs"
  chmod 700 "$SUPERSET_HOME"
  # Loading the config creates $SUPERSET_HOME/secret_key (0600) if it is absent.
  "$SUPERSET" db upgrade
  [[ "$(stat -c %a "$SUPERSET_HOME/secret_key")" == 600 ]] \
    || die "$SUPERSET_HOME/secret_key must be mode 0600"

  local generated=no
  if generate_password "$PASSWORD_FILE"; then
    generated=yes
  fi
  # The read-only "official" user (scripts/superset_roles.py, run by 'import') uses this one.
  generate_password "$OFFICIAL_PASSWORD_FILE" || true
  # Passwords go through stdin (click prompts), never on a command line that ps shows.
  local password
  password="$(cat "$PASSWORD_FILE")"
  if ! admin_exists; then
    printf '%s\n%s\n' "$password" "$password" | "$SUPERSET" fab create-admin \
      --username "$ADMIN_USER" --firstname citypeers --lastname admin --email admin@citypeers.invalid
    admin_exists || die "could not create the admin user (see the output above)"
  elif [[ $generated == yes ]]; then
    # The metadata DB outlived its password file: the file is the truth, so reset to it.
    printf '%s\n%s\n' "$password" "$password" | "$SUPERSET" fab reset-password --username "$ADMIN_USER"
  else
    echo "admin user exists; its password is the one in $PASSWORD_FILE"
  fi
  "$SUPERSET" init
  echo "bootstrap done in $SUPERSET_HOME"
  print_access
}

cmd_import() {
  require_venv
  require_bootstrap
  [[ -f "$CITYPEERS_SERVING_DB" ]] || echo "note: $CITYPEERS_SERVING_DB does not exist yet;" \
    "the dashboards will show errors until the pipeline publishes it" >&2
  local staging="$BUNDLE_DIR/citypeers_dashboards" bundle="$BUNDLE_DIR/citypeers_dashboards.zip"
  rm -rf "$staging" "$bundle"
  mkdir -p "$BUNDLE_DIR"
  "$PY" "$REPO_ROOT/scripts/superset_bundle.py" "$REPO_ROOT/dashboards" "$staging" \
    --set "CITYPEERS_SERVING_DB=$CITYPEERS_SERVING_DB"
  (cd "$BUNDLE_DIR" && "$PY" -m zipfile -c "$bundle" citypeers_dashboards)
  # Not 'superset import-dashboards': it keeps existing charts, datasets and the database
  # connection unchanged on re-import (see scripts/superset_import.py).
  "$PY" "$REPO_ROOT/scripts/superset_import.py" "$bundle" --username "$ADMIN_USER"
  echo "imported $bundle (database uri duckdb:///$CITYPEERS_SERVING_DB)"
  # The Official role reads the imported database, so it is synced after every import.
  "$PY" "$REPO_ROOT/scripts/superset_roles.py"
}

cmd_start() {
  require_venv
  require_bootstrap
  if pid_alive; then
    echo "already running (pid $(cat "$PID_FILE"))"
    print_access
    return 0
  fi
  if health_ok; then
    die "something else already answers on $URL; stop it or set SUPERSET_PORT"
  fi
  mkdir -p "$SUPERSET_HOME/logs"
  rm -f "$PID_FILE"
  # setsid: the server outlives this shell. Errors before gunicorn's logging is set up (an
  # import error, say) go to stderr, so that is appended to the same log.
  # shellcheck disable=SC2094
  setsid "$SUPERSET_VENV/bin/gunicorn" \
    --bind "127.0.0.1:$SUPERSET_PORT" \
    --workers "$SUPERSET_WORKERS" --worker-class gthread --threads 4 \
    --timeout 120 --graceful-timeout 20 \
    --limit-request-line 0 --limit-request-field_size 0 \
    --pid "$PID_FILE" --no-control-socket \
    --access-logfile "$ACCESS_LOG_FILE" --error-logfile "$LOG_FILE" --capture-output \
    "superset.app:create_app()" </dev/null >>"$LOG_FILE" 2>&1 &
  local launcher=$! waited=0
  echo "starting Superset on $URL (log: $LOG_FILE)"
  until health_ok; do
    if ! kill -0 "$launcher" 2>/dev/null; then
      echo "superset.sh: Superset exited during startup; last lines of $LOG_FILE:" >&2
      tail -n 40 "$LOG_FILE" >&2
      exit 1
    fi
    if ((waited >= SUPERSET_START_TIMEOUT)); then
      echo "superset.sh: $URL/health did not answer within ${SUPERSET_START_TIMEOUT}s;" \
        "last lines of $LOG_FILE:" >&2
      tail -n 40 "$LOG_FILE" >&2
      kill -TERM "$launcher" 2>/dev/null || true
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "Superset is up after ${waited}s (pid $(cat "$PID_FILE"))"
  print_access
}

cmd_stop() {
  if ! pid_alive; then
    rm -f "$PID_FILE"
    echo "Superset is not running"
    return 0
  fi
  local pid
  pid="$(cat "$PID_FILE")"
  kill -TERM "$pid"
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "Superset (pid $pid) ignored TERM for 30s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  echo "Superset stopped"
}

cmd_status() {
  if pid_alive; then
    if health_ok; then
      echo "running (pid $(cat "$PID_FILE")), healthy"
    else
      echo "running (pid $(cat "$PID_FILE")), but $URL/health does not answer; see $LOG_FILE"
    fi
    print_access
  else
    echo "not running"
    return 3
  fi
}

case "${1:-}" in
  bootstrap) cmd_bootstrap ;;
  import) cmd_import ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
