"""The demo feed server's OpenAQ API v3 routes, serving the demo dataset.

They answer the calls `citypeers.feeds.openaq_air` makes, with the real response shapes
(`{"meta": {...}, "results": [...]}`, measurements with period, value, parameter, flagInfo,
coverage and summary), so the demo and the tests exercise the same code a real OpenAQ feed runs:

- `GET /v3/locations?limit&page`, `GET /v3/locations/{id}`, `GET /v3/locations/{id}/sensors`
- `GET /v3/sensors/{id}`, `GET /v3/sensors/{id}/measurements?datetime_from&datetime_to&limit&page`
  (hours whose start is in [datetime_from, datetime_to), oldest first)

Unknown ids get a 404 JSON body, bad parameters a 422. Measurements are read from the dataset's
Parquet with DuckDB on every request. The rate limit the real API has (429 with `Retry-After`) is
the feed server's, for every route (`citypeers.demo.feed_server`); `serve` starts these routes alone.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from citypeers import paths
from citypeers.demo.feed_server import DEFAULT_PORT, DemoRequest, DemoResponse, FeedServer, HttpError, Route
from citypeers.demo.generator import demo_dir
from citypeers.errors import ConfigError

_MAX_LIMIT = 1000
# "2023-10-16T06:00:00-06:00" from the local wall time and the UTC time of the same moment.
_LOCAL_TEXT_MACRO = """
CREATE MACRO local_text(local_moment, utc_moment) AS
    strftime(local_moment, '%Y-%m-%dT%H:%M:%S')
    || printf('%s%02d:%02d',
        CASE WHEN local_moment < utc_moment THEN '-' ELSE '+' END,
        abs(datediff('minute', utc_moment, local_moment)) // 60,
        abs(datediff('minute', utc_moment, local_moment)) % 60)
"""


class DemoDataset:
    """The demo OpenAQ dataset: locations from locations.json, measurements from Parquet."""

    def __init__(self, home: Path):
        root = demo_dir(home) / "openaq_air"
        self.measurements = root / "measurements.parquet"
        locations_file = root / "locations.json"
        if not locations_file.exists() or not self.measurements.exists():
            raise ConfigError(f"no demo OpenAQ dataset in {root}; run `citypeers demo-data` first")
        self.locations = {loc["id"]: loc for loc in json.loads(locations_file.read_text(encoding="utf-8"))}
        self.sensors = {
            sensor["id"]: (location, sensor)
            for location in self.locations.values()
            for sensor in location["sensors"]
        }
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute(_LOCAL_TEXT_MACRO)
        self._cursor_lock = threading.Lock()
        self._local = threading.local()
        self.sensor_details = self._sensor_details()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """One DuckDB cursor per server thread (a connection must not be shared across threads)."""
        if not hasattr(self._local, "cursor"):
            with self._cursor_lock:
                self._local.cursor = self._con.cursor()
        return self._local.cursor

    def _sensor_details(self) -> dict[int, dict]:
        """The per-sensor summary fields of `/locations/{id}/sensors`, computed once at start."""
        zones = ", ".join(
            f"({sensor_id}, '{location['timezone']}')" for sensor_id, (location, _) in self.sensors.items()
        )
        rows = self._con.execute(
            f"""
            WITH stats AS (
                SELECT sensor_id, min(datetime_utc) AS first, max(datetime_utc) AS last, count(*) AS observed,
                    -- an exact (DECIMAL) sum: a parallel float sum differs in its last bits from one
                    -- server start to the next, which would change the page's bytes (and its ETag)
                    min(value) AS low, max(value) AS high, round(avg(value::DECIMAL(38, 6)), 6) AS mean,
                    arg_max(value, datetime_utc) AS latest
                FROM read_parquet(?) GROUP BY sensor_id
            )
            SELECT stats.*,
                local_text(timezone(zones.zone, first::TIMESTAMPTZ), first),
                local_text(timezone(zones.zone, last::TIMESTAMPTZ), last)
            FROM stats JOIN (VALUES {zones}) AS zones(sensor_id, zone) USING (sensor_id)
            """,
            [str(self.measurements)],
        ).fetchall()
        details = {}
        for sensor_id, first, last, observed, low, high, mean, latest, first_local, last_local in rows:
            location, sensor = self.sensors[sensor_id]
            expected = int((last - first).total_seconds() // 3600) + 1
            complete = round(100 * observed / expected, 1)
            details[sensor_id] = {
                **sensor,
                "datetimeFirst": {"utc": f"{first:%Y-%m-%dT%H:%M:%S}Z", "local": first_local},
                "datetimeLast": {"utc": f"{last:%Y-%m-%dT%H:%M:%S}Z", "local": last_local},
                "coverage": {
                    "expectedCount": expected,
                    "expectedInterval": f"{expected}:00:00",
                    "observedCount": observed,
                    "observedInterval": f"{observed}:00:00",
                    "percentComplete": complete,
                    "percentCoverage": complete,
                    "datetimeFrom": None,
                    "datetimeTo": None,
                },
                "latest": {
                    "datetime": {"utc": f"{last:%Y-%m-%dT%H:%M:%S}Z", "local": last_local},
                    "value": latest,
                    "coordinates": location["coordinates"],
                },
                "summary": {
                    "min": low,
                    "q02": None,
                    "q25": None,
                    "median": None,
                    "q75": None,
                    "q98": None,
                    "max": high,
                    "avg": mean,
                    "sd": None,
                },
            }
        return details

    def measurements_page(self, sensor_id: int, start: datetime, end: datetime, limit: int, page: int):
        location, sensor = self.sensors[sensor_id]
        parameter = sensor["parameter"]
        where = "sensor_id = ? AND datetime_utc >= ? AND datetime_utc < ?"
        arguments = [str(self.measurements), sensor_id, start, end]
        cursor = self.cursor()
        found = cursor.execute(f"SELECT count(*) FROM read_parquet(?) WHERE {where}", arguments).fetchone()[0]
        rows = cursor.execute(
            """
            WITH page AS (
                SELECT datetime_utc, value, has_flags, datetime_utc + INTERVAL 1 HOUR AS end_utc
                FROM read_parquet($file)
                WHERE sensor_id = $sensor AND datetime_utc >= $start AND datetime_utc < $end
                ORDER BY datetime_utc
                LIMIT $limit OFFSET $offset
            ),
            moments AS (
                SELECT value, has_flags, datetime_utc,
                    {'utc': strftime(datetime_utc, '%Y-%m-%dT%H:%M:%S+00:00'),
                     'local': local_text(timezone($zone, datetime_utc::TIMESTAMPTZ), datetime_utc)}
                        AS from_moment,
                    {'utc': strftime(end_utc, '%Y-%m-%dT%H:%M:%S+00:00'),
                     'local': local_text(timezone($zone, end_utc::TIMESTAMPTZ), end_utc)} AS to_moment
                FROM page
            )
            SELECT to_json({
                'period': {'label': '1hour', 'interval': '01:00:00',
                           'datetimeFrom': from_moment, 'datetimeTo': to_moment},
                'flagInfo': {'hasFlags': has_flags},
                'value': value,
                'parameter': {'id': $parameter_id::INTEGER, 'name': $name, 'units': $units,
                              'displayName': $display},
                'coordinates': NULL,
                'summary': {'min': value, 'q02': value, 'q25': value, 'median': value, 'q75': value,
                            'q98': value, 'max': value, 'sd': NULL},
                'coverage': {'expectedCount': 1, 'expectedInterval': '01:00:00', 'observedCount': 1,
                             'observedInterval': '01:00:00', 'percentComplete': 100, 'percentCoverage': 100,
                             'datetimeFrom': from_moment, 'datetimeTo': to_moment}
            })::VARCHAR
            FROM moments
            ORDER BY datetime_utc
            """,
            {
                "file": str(self.measurements),
                "sensor": sensor_id,
                "start": start,
                "end": end,
                "zone": location["timezone"],
                "parameter_id": parameter["id"],
                "name": parameter["name"],
                "units": parameter["units"],
                "display": parameter["displayName"],
                "limit": limit,
                "offset": (page - 1) * limit,
            },
        ).fetchall()
        return found, [row[0] for row in rows]


def _meta(page: int, limit: int, found: int) -> str:
    return json.dumps({"name": "openaq-api", "website": "/", "page": page, "limit": limit, "found": found})


def _page(results: list, page: int, limit: int) -> bytes:
    chosen = results[(page - 1) * limit : page * limit]
    body = json.dumps(chosen, ensure_ascii=False)
    return f'{{"meta": {_meta(page, limit, len(results))}, "results": {body}}}'.encode()


def _int_param(query: dict, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, [str(default)])[-1]
    if not re.fullmatch(r"\d+", raw) or not low <= int(raw) <= high:
        raise HttpError(422, [{"loc": ["query", name], "msg": f"must be an integer from {low} to {high}"}])
    return int(raw)


def _time_param(query: dict, name: str, default: datetime) -> datetime:
    if name not in query:
        return default
    raw = query[name][-1]
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as exc:
        raise HttpError(422, [{"loc": ["query", name], "msg": "not an ISO 8601 date-time"}]) from exc
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


_datasets: dict[Path, tuple[tuple[int, ...], DemoDataset]] = {}
_datasets_lock = threading.Lock()


def _dataset(request: DemoRequest) -> DemoDataset:
    """The home's dataset, loaded on first use and again when `citypeers demo-data` rewrote it."""
    root = demo_dir(request.home) / "openaq_air"
    files = (root / "locations.json", root / "measurements.parquet")
    if not all(file.exists() for file in files):
        raise HttpError(404, f"no demo OpenAQ dataset in {root}; run `citypeers demo-data` first")
    version = tuple(file.stat().st_mtime_ns for file in files)
    with _datasets_lock:
        if root not in _datasets or _datasets[root][0] != version:
            _datasets[root] = (version, DemoDataset(request.home))
        return _datasets[root][1]


def _json(body: bytes) -> DemoResponse:
    return DemoResponse(200, body, "application/json; charset=utf-8")


def _paging(request: DemoRequest) -> tuple[int, int]:
    return (
        _int_param(request.query, "limit", 100, 1, _MAX_LIMIT),
        _int_param(request.query, "page", 1, 1, 1_000_000),
    )


def locations(request: DemoRequest, _: re.Match[str]) -> DemoResponse:
    limit, page = _paging(request)
    dataset = _dataset(request)
    return _json(_page(sorted(dataset.locations.values(), key=lambda loc: loc["id"]), page, limit))


def location(request: DemoRequest, match: re.Match[str]) -> DemoResponse:
    limit, page = _paging(request)
    dataset = _dataset(request)
    found = dataset.locations.get(int(match["location_id"]))
    if found is None:
        raise HttpError(404, f"location {match['location_id']} not found")
    if not match["sensors"]:
        return _json(_page([found], 1, 100))
    sensors = [dataset.sensor_details.get(s["id"], s) for s in found["sensors"]]
    return _json(_page(sensors, page, limit))


def sensor(request: DemoRequest, match: re.Match[str]) -> DemoResponse:
    limit, page = _paging(request)
    dataset = _dataset(request)
    sensor_id = int(match["sensor_id"])
    if sensor_id not in dataset.sensors:
        raise HttpError(404, f"sensor {sensor_id} not found")
    if not match["measurements"]:
        return _json(_page([dataset.sensor_details.get(sensor_id, dataset.sensors[sensor_id][1])], 1, 100))
    start = _time_param(request.query, "datetime_from", datetime(1970, 1, 1))
    end = _time_param(request.query, "datetime_to", datetime(2100, 1, 1))
    found, rows = dataset.measurements_page(sensor_id, start, end, limit, page)
    return _json(f'{{"meta": {_meta(page, limit, found)}, "results": [{",".join(rows)}]}}'.encode())


ROUTES: list[Route] = [
    ("GET", re.compile(r"/v3/locations/?"), locations),
    ("GET", re.compile(r"/v3/locations/(?P<location_id>\d+)(?P<sensors>/sensors)?/?"), location),
    ("GET", re.compile(r"/v3/sensors/(?P<sensor_id>\d+)(?P<measurements>/measurements)?/?"), sensor),
]


class OpenAQDemoServer(FeedServer):
    """The feed server with only the OpenAQ routes, its `base_url` the API's root (`.../v3`)."""

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v3"


def serve(home: Path | None = None, port: int = DEFAULT_PORT, *, rate_limit_every: int = 50) -> OpenAQDemoServer:
    """Start the OpenAQ routes alone in a background thread and return the server (port 0 picks a
    free port; see `base_url`). Call `shutdown()` to stop it."""
    server = OpenAQDemoServer(
        Path(home) if home else paths.home(), port, rate_limit_every=rate_limit_every, modules=(__name__,)
    )
    threading.Thread(target=server.serve_forever, name="openaq-demo-server", daemon=True).start()
    return server
