"""Superset configuration for citypeers (loaded through ``SUPERSET_CONFIG_PATH``).

Everything Superset writes lives in ``$SUPERSET_HOME`` (default ``$CITYPEERS_HOME/superset``):
the SQLite metadata, the secret key, the file cache and the logs. Nothing here talks to the
internet: no telemetry, no map tiles, no web fonts, and a Content-Security-Policy that lets the
browser load only what this server serves (that is also what stops the frontend's built-in
Scarf usage pixel, which cannot be switched off at runtime otherwise).

The DuckDB serving warehouse is opened read-only with external access disabled. The database
connection in ``dashboards/databases/citypeers.yaml`` asks for that, and
``DB_CONNECTION_MUTATOR`` below enforces it for every DuckDB connection, so an admin cannot
add a writable or file-reading DuckDB connection through the UI either.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import importlib.util
import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

_REPO_ROOT = Path(__file__).resolve().parent.parent
CITYPEERS_HOME = Path(os.environ.get("CITYPEERS_HOME") or _REPO_ROOT / "var").resolve()
SUPERSET_HOME = Path(os.environ.get("SUPERSET_HOME") or CITYPEERS_HOME / "superset").resolve()
SUPERSET_HOME.mkdir(parents=True, exist_ok=True)


def _read_or_create_secret(path: Path) -> str:
    """Return the key stored in ``path``; create it (mode 0600) on first use.

    ``O_EXCL`` makes concurrent first starts (several gunicorn workers, a CLI command) agree on
    one key: whoever loses the race reads the winner's file.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable secret key; delete it to generate a new one")
    return key


SECRET_KEY = _read_or_create_secret(SUPERSET_HOME / "secret_key")


def _derived_secret(purpose: str) -> str:
    """A secret for one purpose, derived from SECRET_KEY, so no shipped default is ever used."""
    return hmac.new(SECRET_KEY.encode(), purpose.encode(), hashlib.sha256).hexdigest()


GUEST_TOKEN_JWT_SECRET = _derived_secret("guest-token-jwt")
GLOBAL_ASYNC_QUERIES_JWT_SECRET = _derived_secret("global-async-queries-jwt")

# SQLite in SUPERSET_HOME locally; a team deployment (docker-compose) passes its Postgres URI.
SQLALCHEMY_DATABASE_URI = (
    os.environ.get("SUPERSET_METADATA_DB_URI") or f"sqlite:///{SUPERSET_HOME / 'superset.db'}?check_same_thread=false"
)
SQLALCHEMY_EXAMPLES_URI = None
UPLOAD_FOLDER = str(SUPERSET_HOME / "uploads")

APP_NAME = "citypeers"

# --- caching -------------------------------------------------------------------------------
# A file cache is shared by all gunicorn workers and needs no server. Query results are keyed
# to the published warehouse file (superset_serving.PublishKeyedCache): a publish replaces the
# file, which makes every cached result unreachable at once, so results can be kept for a week
# and a dashboard never shows the previous build after a publish.
_CACHE_DIR = SUPERSET_HOME / "cache"
CITYPEERS_SERVING_DB = Path(
    os.environ.get("CITYPEERS_SERVING_DB") or CITYPEERS_HOME / "warehouse" / "citypeers.duckdb"
).resolve()


def _load_serving_module():
    """dashboards/superset_serving.py as ``citypeers_superset_serving`` (this file is loaded by
    path, not from a package), so CACHE_TYPE can name its factory by import path."""
    name = "citypeers_superset_serving"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("superset_serving.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_serving = _load_serving_module()
_serving.ask_duckdb_for_reserved_words_once()

CACHE_CONFIG = {
    "CACHE_TYPE": "FileSystemCache",
    "CACHE_DIR": str(_CACHE_DIR / "objects"),
    "CACHE_DEFAULT_TIMEOUT": int(timedelta(days=1).total_seconds()),
    "CACHE_KEY_PREFIX": "citypeers_objects_",
}
DATA_CACHE_CONFIG = {
    "CACHE_TYPE": "citypeers_superset_serving.publish_keyed_filesystem_cache",
    "CACHE_DIR": str(_CACHE_DIR / "data"),
    "CACHE_DEFAULT_TIMEOUT": int(timedelta(days=7).total_seconds()),
    "CITYPEERS_WATCHED_FILE": str(CITYPEERS_SERVING_DB),
}
# FILTER_STATE_CACHE_CONFIG and EXPLORE_FORM_DATA_CACHE_CONFIG keep Superset's default
# (SupersetMetastoreCache, in the SQLite metadata); it needs flask-caching < 2.5, pinned in
# requirements/superset.in.
RATELIMIT_STORAGE_URI = "memory://"

# --- event log -----------------------------------------------------------------------------
# Superset's default event logger inserts a row into the metadata database for every request
# (a SQLite commit per chart-data call: ~20 ms of a ~70 ms median, measured at tier S). The
# events go to the server log (--capture-output, $SUPERSET_HOME/logs/superset.log) as JSON lines
# instead; Superset's "Action log" page stays empty.
from superset.utils.log import StdOutEventLogger  # noqa: E402  (config is read by a running superset)

EVENT_LOGGER = StdOutEventLogger()

# --- features ------------------------------------------------------------------------------
FEATURE_FLAGS = {
    # The dashboard is small; render every chart at once so that full-page screenshots and
    # browser tests see all charts, not only the ones in the viewport.
    "DASHBOARD_VIRTUALIZATION": False,
    "ALERT_REPORTS": False,
    "THUMBNAILS": False,
    "PLAYWRIGHT_REPORTS_AND_THUMBNAILS": False,
    "ENABLE_DASHBOARD_SCREENSHOT_ENDPOINTS": False,
    "ENABLE_DASHBOARD_DOWNLOAD_WEBDRIVER_SCREENSHOT": False,
    "GLOBAL_ASYNC_QUERIES": False,
    "ENABLE_TEMPLATE_PROCESSING": False,
    "ALLOW_ADHOC_SUBQUERY": False,
    "ENABLE_SUPERSET_META_DB": False,
    "SSH_TUNNELING": False,
    "DYNAMIC_PLUGINS": False,
    "ENABLE_EXTENSIONS": False,
    "SLACK_ENABLE_AVATARS": False,
    "EMBEDDED_SUPERSET": False,
}

# --- nothing reaches the internet ----------------------------------------------------------
MAPBOX_API_KEY = ""
ENABLE_CORS = False
CORS_OPTIONS: dict[str, Any] = {}
BUG_REPORT_URL = None
DOCUMENTATION_URL = None
TROUBLESHOOTING_LINK = ""
PERMISSION_INSTRUCTIONS_LINK = ""
THEME_FONT_URL_ALLOWED_DOMAINS: list[str] = []

TALISMAN_ENABLED = True
CONTENT_SECURITY_POLICY_WARNING = False
_LOCAL_ONLY_CSP = {
    "base-uri": ["'self'"],
    "default-src": ["'self'"],
    "img-src": ["'self'", "blob:", "data:"],
    "worker-src": ["'self'", "blob:"],
    "connect-src": ["'self'"],
    "object-src": "'none'",
    # Superset's UI styles components at runtime (emotion), so inline styles are needed.
    "style-src": ["'self'", "'unsafe-inline'"],
    "font-src": ["'self'", "data:"],
    "script-src": ["'self'", "'strict-dynamic'"],
    "frame-ancestors": ["'self'"],
}
TALISMAN_CONFIG = {
    "content_security_policy": _LOCAL_ONLY_CSP,
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
TALISMAN_DEV_CONFIG = TALISMAN_CONFIG

# --- databases -----------------------------------------------------------------------------
PREVENT_UNSAFE_DB_CONNECTIONS = True
SQLLAB_TIMEOUT = 60
SUPERSET_WEBSERVER_TIMEOUT = 60

# DuckDB settings every Superset connection gets, whatever its saved engine parameters say.
DUCKDB_ENFORCED_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}


def DB_CONNECTION_MUTATOR(uri, params, username, security_manager, source):  # noqa: N802
    """Open every DuckDB database read-only, without file or network access, settings locked.

    ``read_only`` also means Superset never holds a write lock on the serving file, so the
    pipeline's atomic publish (a rename) is never blocked by the dashboards. A database file
    is read through one shared instance per process and published file
    (superset_serving.ServingWarehouse) instead of being opened for every query.
    """
    if uri.drivername.split("+", 1)[0] == "duckdb":
        connect_args = params.setdefault("connect_args", {})
        connect_args["read_only"] = True
        connect_args.setdefault("config", {}).update(DUCKDB_ENFORCED_CONFIG)
        if uri.database and os.path.isabs(uri.database):
            params["creator"] = _serving.duckdb_engine_creator(uri.database, DUCKDB_ENFORCED_CONFIG)
            # A read-only connection has nothing to roll back when the pool lets it go (DuckDB's
            # rollback without a transaction costs an exception: ~2.5 ms, twice per chart query).
            params["pool_reset_on_return"] = None
    return uri, params
