#!/usr/bin/env bash
# Entry point of every container of the pipeline image.
#  - umask 002: files on the shared volumes stay writable by every Airflow container (group 0),
#    whatever uid AIRFLOW_UID makes them run as.
#  - The Airflow admin's password comes from docker/.env (AIRFLOW_ADMIN_PASSWORD, given only to the
#    api-server): it is written into the simple auth manager's password file, which the api-server
#    reads instead of generating a random password, and is then removed from the environment.
set -euo pipefail
umask 0002

if [[ -n "${AIRFLOW_ADMIN_PASSWORD:-}" ]]; then
  python - <<'PY'
import json
import os

path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
passwords = {"admin": os.environ["AIRFLOW_ADMIN_PASSWORD"]}  # the one user: admin:admin in docker-compose.yml
temporary = f"{path}.{os.getpid()}.tmp"
descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(descriptor, "w") as handle:
    handle.write(json.dumps(passwords) + "\n")
os.replace(temporary, path)
PY
  unset AIRFLOW_ADMIN_PASSWORD
fi

exec "$@"
