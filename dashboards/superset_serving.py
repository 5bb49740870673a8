"""How Superset reads the published DuckDB warehouse fast without ever serving a previous build.

The pipeline publishes by renaming a new file over the serving path (citypeers/warehouse.py).
Two things make chart-data requests fast, and both are keyed to *which* file is published:

* ``ServingWarehouse``: one read-only DuckDB instance per process and published file. Each
  query gets a cheap connection (a cursor) to it instead of opening the file again (~40 ms on
  a 12 MB warehouse). When the serving path names a new file, the next connection opens it; queries
  still running on the previous file finish on it, and its instance is freed with their
  connections. The file is ATTACHed read-only into a fresh in-memory instance rather than
  opened with ``duckdb.connect(path)``: DuckDB caches instances by path, so a second
  ``connect(path)`` while any connection to the old file is alive returns the *old* file.
* ``PublishKeyedCache``: Superset's data cache with the published file's identity (device,
  inode, mtime, size) in every key, so a publish makes every cached result unreachable at once
  and results can be kept for days. A result is stored under the identity of the file the
  query read (recorded when its connection was made), never the newer one that a publish during
  the query put in place.

Loaded by superset_config.py under the module name ``citypeers_superset_serving``. Only the
standard library and duckdb are imported at the top, so the unit tests run without Superset.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import duckdb

ABSENT = "absent"

# The identity of the oldest published file a connection made in this thread reads since a result
# was last stored. Superset runs a chart's queries and stores its result in the request's thread
# (GLOBAL_ASYNC_QUERIES off); a request may connect more than once, and a publish may come between.
_read = threading.local()


def file_identity(path: str | os.PathLike[str]) -> str:
    """Which file ``path`` names now: a publish (a rename of a new file) changes the inode and
    mtime; the device and size guard against an inode number being reused."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return ABSENT
    return f"{stat.st_dev:x}-{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}"


def oldest_identity_read_by_this_thread() -> str | None:
    return getattr(_read, "identity", None)


def forget_identity_read_by_this_thread() -> None:
    _read.identity = None


def _note_identity_read(identity: str) -> None:
    if oldest_identity_read_by_this_thread() is None:
        _read.identity = identity


class _Published:
    """One DuckDB instance holding one published file, read-only, locked down."""

    def __init__(self, path: str, identity: str, settings: dict[str, Any]) -> None:
        self.identity = identity
        self._lock = threading.Lock()
        # The identity was taken before the file is opened here, so what this instance reads is
        # that file or a newer one, never an older one.
        self.root = duckdb.connect(":memory:")
        quoted = path.replace("'", "''")
        self.root.execute(f"attach '{quoted}' as serving (read_only)")
        self.root.execute("use serving")
        self.root.execute("detach memory")  # nothing writable is left but each connection's temp schema
        for name, value in settings.items():  # after the ATTACH: external access off ends file access
            if name != "lock_configuration":
                self.root.execute(f"set {name} = {_sql_literal(value)}")
        if settings.get("lock_configuration"):
            self.root.execute("set lock_configuration = true")

    def connect(self) -> duckdb.DuckDBPyConnection:
        with self._lock:  # a connection object is not thread-safe, and this one is shared
            connection = self.root.cursor()
        connection.execute("use serving")
        return connection


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


class ServingWarehouse:
    """Connections to whatever file ``path`` names now, sharing one instance per published file."""

    def __init__(self, path: str, settings: dict[str, Any]) -> None:
        self.path = path
        self.settings = dict(settings)
        self._lock = threading.Lock()
        self._current: _Published | None = None

    def connect(self) -> tuple[duckdb.DuckDBPyConnection, _Published]:
        """A read-only connection and the published file it reads (keep that object alive as
        long as the connection: it owns the instance)."""
        identity = file_identity(self.path)
        with self._lock:
            if self._current is None or self._current.identity != identity:
                self._current = _Published(self.path, identity, self.settings)
            published = self._current
        connection = published.connect()
        _note_identity_read(published.identity)
        return connection, published


_WAREHOUSES: dict[tuple[str, tuple[tuple[str, Any], ...]], ServingWarehouse] = {}
_WAREHOUSES_LOCK = threading.Lock()


def serving_warehouse(path: str, settings: dict[str, Any]) -> ServingWarehouse:
    """This process's ServingWarehouse for ``path`` (gunicorn forks before loading the app, so
    every worker has its own instances)."""
    key = (os.path.abspath(path), tuple(sorted(settings.items())))
    with _WAREHOUSES_LOCK:
        if key not in _WAREHOUSES:
            _WAREHOUSES[key] = ServingWarehouse(key[0], settings)
        return _WAREHOUSES[key]


def ask_duckdb_for_reserved_words_once() -> None:
    """duckdb_engine 0.17 asks DuckDB for its reserved words (to quote identifiers) each time it
    builds a dialect, and Superset builds about five per chart-data request: ~4 ms each. The words
    belong to the DuckDB version, so this asks once per process and adds the same words as before
    (they go into a class-level set, so the original's repeated updates changed nothing)."""
    import duckdb_engine
    from sqlalchemy.dialects.postgresql.base import PGIdentifierPreparer

    preparer = duckdb_engine.DuckDBIdentifierPreparer
    if duckdb_engine.__version__ != "0.17.0" or getattr(preparer, "citypeers_reserved_words", None):
        return  # another version: its own behaviour, until someone checks this still holds
    with duckdb.connect() as con:
        reserved = frozenset(name for (name,) in con.execute(
            "select keyword_name from duckdb_keywords() where keyword_category = 'reserved'").fetchall())

    def __init__(self, dialect, **kwargs) -> None:  # noqa: N807
        PGIdentifierPreparer.__init__(self, dialect, **kwargs)
        self.reserved_words.update(reserved)

    preparer.__init__ = __init__
    preparer.citypeers_reserved_words = reserved


def duckdb_engine_creator(path: str, settings: dict[str, Any]):
    """An SQLAlchemy ``creator`` for duckdb_engine: connections from the shared instance."""
    from duckdb_engine import ConnectionWrapper

    warehouse = serving_warehouse(path, settings)

    def create() -> ConnectionWrapper:
        connection, published = warehouse.connect()
        wrapper = ConnectionWrapper(connection)
        wrapper.citypeers_published = published  # the instance lives as long as its connections
        return wrapper

    return create


class PublishKeyedCache:
    """A cachelib-style cache whose keys start with the published file's identity.

    ``get`` looks under the file published now. ``set`` stores under the file the query read
    (the oldest identity its connections recorded in this thread; the file published now when no
    connection was made), so a result read from a file that a publish replaced during the query
    is never found under the new file's identity. It wraps the backend rather than subclassing
    it: cachelib's FileSystemCache keeps its own bookkeeping entries through the same methods.
    """

    def __init__(self, backend: Any, watched_file: str | os.PathLike[str]) -> None:
        self.backend = backend
        self.watched_file = watched_file

    def __getattr__(self, name: str) -> Any:  # default_timeout and the like
        return getattr(self.backend, name)

    def _key(self, key: str, identity: str | None = None) -> str:
        return f"{identity or file_identity(self.watched_file)}:{key}"

    def _key_for_result(self, key: str) -> str:
        identity = oldest_identity_read_by_this_thread()
        forget_identity_read_by_this_thread()
        return self._key(key, identity)

    def get(self, key: str) -> Any:
        # A lookup starts what may end in a store: forget connections made before it (a cache
        # hit may connect without storing anything), so a miss stores under the file read after.
        forget_identity_read_by_this_thread()
        return self.backend.get(self._key(key))

    def has(self, key: str) -> bool:
        return self.backend.has(self._key(key))

    def delete(self, key: str) -> bool:
        return self.backend.delete(self._key(key))

    def set(self, key: str, value: Any, timeout: int | None = None) -> Any:
        return self.backend.set(self._key_for_result(key), value, timeout)

    def add(self, key: str, value: Any, timeout: int | None = None) -> Any:
        return self.backend.add(self._key_for_result(key), value, timeout)

    def get_many(self, *keys: str) -> list[Any]:
        return [self.get(key) for key in keys]

    def get_dict(self, *keys: str) -> dict[str, Any]:
        return dict(zip(keys, self.get_many(*keys), strict=True))

    def set_many(self, mapping: dict[str, Any], timeout: int | None = None) -> list[Any]:
        return [key for key, value in mapping.items() if self.set(key, value, timeout)]

    def delete_many(self, *keys: str) -> list[Any]:
        return [key for key in keys if self.delete(key)]

    def clear(self) -> bool:
        return self.backend.clear()


def publish_keyed_filesystem_cache(app, config: dict[str, Any], args: list[Any], options: dict[str, Any]):
    """flask-caching factory (``CACHE_TYPE`` is this function's import path): a FileSystemCache
    whose keys follow the file named by ``config["CITYPEERS_WATCHED_FILE"]``."""
    from flask_caching.backends.filesystemcache import FileSystemCache

    return PublishKeyedCache(FileSystemCache.factory(app, config, args, options), config["CITYPEERS_WATCHED_FILE"])
