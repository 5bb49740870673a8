#!/usr/bin/env bash
# superset-init: the one-shot setup the Superset web server waits for. It goes through the
# repository's scripts/superset.sh, so compose and a local setup bootstrap and import the same way:
#   bootstrap  metadata schema (Postgres here), the admin user, roles   (idempotent)
#   import     dashboards/ rendered with CITYPEERS_SERVING_DB, imported (overwrites by UUID)
# It runs again on each `docker-compose up`, so a changed dashboards/ tree is re-imported.
set -euo pipefail

script="${CITYPEERS_APP:-/opt/citypeers/app}/scripts/superset.sh"
: "${CITYPEERS_SERVING_DB:?CITYPEERS_SERVING_DB is not set}"

"$script" bootstrap
"$script" import
