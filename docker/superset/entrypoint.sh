#!/usr/bin/env bash
# Entry point of the Superset image. dashboards/superset_config.py (the one config, local and in
# compose) reads Superset's secret key from $SUPERSET_HOME/secret_key; here that file is written
# from docker/.env (SUPERSET_SECRET_KEY), so the key is the team's, never one generated per
# volume, and superset-init and the web server agree on it. SUPERSET_ADMIN_PASSWORD (given only to
# superset-init) goes into the admin_password file that scripts/superset.sh bootstrap uses, and
# leaves the environment. The metadata database is SUPERSET__SQLALCHEMY_DATABASE_URI (Postgres),
# which Superset applies after the config file.
set -euo pipefail

: "${SUPERSET_HOME:?SUPERSET_HOME is not set}"
: "${SUPERSET_SECRET_KEY:?set SUPERSET_SECRET_KEY in docker/.env}"
if (( ${#SUPERSET_SECRET_KEY} < 32 )); then
  echo "citypeers: SUPERSET_SECRET_KEY in docker/.env must be at least 32 characters" >&2
  exit 1
fi

write_private() {  # <file> <value>: mode 0600, replaced atomically
  local temporary="$1.$$.tmp"
  (umask 077 && printf '%s\n' "$2" >"$temporary")
  mv -f "$temporary" "$1"
}

mkdir -p "$SUPERSET_HOME"
write_private "$SUPERSET_HOME/secret_key" "$SUPERSET_SECRET_KEY"
if [[ -n "${SUPERSET_ADMIN_PASSWORD:-}" ]]; then
  write_private "$SUPERSET_HOME/admin_password" "$SUPERSET_ADMIN_PASSWORD"
fi
unset SUPERSET_ADMIN_PASSWORD

exec "$@"
