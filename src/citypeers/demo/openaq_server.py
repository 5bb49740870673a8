"""A local server shaped like the OpenAQ API v3, serving the demo dataset.

It answers the calls `citypeers.feeds.openaq_air` makes, with the real response shapes
(`{"meta": {...}, "results": [...]}`, measurements with period, value, parameter, flagInfo,
coverage and summary), so the demo and the tests exercise the same code a real OpenAQ feed runs:

- `GET /v3/locations?limit&page`, `GET /v3/locations/{id}`, `GET /v3/locations/{id}/sensors`
- `GET /v3/sensors/{id}`, `GET /v3/sensors/{id}/measurements?datetime_from&datetime_to&limit&page`
  (hours whose start is in [datetime_from, datetime_to), oldest first)

Like the real API it rate-limits: every `rate_limit_every`-th request (50 by default) gets HTTP
429 with `Retry-After: 1`, deterministically, so clients must honour it. Unknown ids get a 404
JSON body, bad parameters a 422. Measurements are read from the dataset's Parquet with DuckDB on
every request.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import duckdb

from citypeers import paths
from citypeers.demo.generator import demo_dir
from citypeers.errors import ConfigError

DEFAULT_PORT = 8765
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


class ApiError(Exception):
    def __init__(self, status: int, detail: Any):
        super().__init__(detail)
        self.status = status
        self.detail = detail


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
                    min(value) AS low, max(value) AS high, avg(value) AS mean,
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
        raise ApiError(422, [{"loc": ["query", name], "msg": f"must be an integer from {low} to {high}"}])
    return int(raw)


def _time_param(query: dict, name: str, default: datetime) -> datetime:
    if name not in query:
        return default
    raw = query[name][-1]
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as exc:
        raise ApiError(422, [{"loc": ["query", name], "msg": "not an ISO 8601 date-time"}]) from exc
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: OpenAQDemoServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Quiet: requests are kept in server.request_log instead of printed."""

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.server.request_log.append((time.monotonic(), self.path, status))

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.server.is_rate_limited():
            self._send(429, b'{"detail": "Too Many Requests"}', {"Retry-After": "1"})
            return
        try:
            self._send(200, self._route())
        except ApiError as exc:
            self._send(exc.status, json.dumps({"detail": exc.detail}).encode())
        except Exception as exc:  # a bug or a damaged dataset: answer like an API would, and keep serving
            self._send(500, json.dumps({"detail": f"{exc.__class__.__name__}: {exc}"}).encode())

    def _route(self) -> bytes:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        dataset = self.server.dataset
        limit = _int_param(query, "limit", 100, 1, _MAX_LIMIT)
        page = _int_param(query, "page", 1, 1, 1_000_000)
        if url.path.rstrip("/") == "/v3/locations":
            return _page(sorted(dataset.locations.values(), key=lambda loc: loc["id"]), page, limit)
        if match := re.fullmatch(r"/v3/locations/(\d+)(/sensors)?/?", url.path):
            location = dataset.locations.get(int(match.group(1)))
            if location is None:
                raise ApiError(404, f"location {match.group(1)} not found")
            if not match.group(2):
                return _page([location], 1, 100)
            sensors = [dataset.sensor_details.get(s["id"], s) for s in location["sensors"]]
            return _page(sensors, page, limit)
        if match := re.fullmatch(r"/v3/sensors/(\d+)(/measurements)?/?", url.path):
            sensor_id = int(match.group(1))
            if sensor_id not in dataset.sensors:
                raise ApiError(404, f"sensor {sensor_id} not found")
            if not match.group(2):
                return _page([dataset.sensor_details.get(sensor_id, dataset.sensors[sensor_id][1])], 1, 100)
            start = _time_param(query, "datetime_from", datetime(1970, 1, 1))
            end = _time_param(query, "datetime_to", datetime(2100, 1, 1))
            found, rows = dataset.measurements_page(sensor_id, start, end, limit, page)
            return f'{{"meta": {_meta(page, limit, found)}, "results": [{",".join(rows)}]}}'.encode()
        raise ApiError(404, f"no route {url.path}")


class OpenAQDemoServer(ThreadingHTTPServer):
    """The demo API. `shutdown()` stops it and frees the port."""

    daemon_threads = True

    def __init__(self, home: Path, address: tuple[str, int], rate_limit_every: int = 50):
        self.dataset = DemoDataset(home)
        self.rate_limit_every = rate_limit_every
        self.request_log: collections.deque = collections.deque(maxlen=100_000)
        self._counter_lock = threading.Lock()
        self._requests = 0
        super().__init__(address, _Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v3"

    def is_rate_limited(self) -> bool:
        """True for every `rate_limit_every`-th request (never when it is 0)."""
        with self._counter_lock:
            self._requests += 1
            return bool(self.rate_limit_every) and self._requests % self.rate_limit_every == 0

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()


def serve(
    home: Path | None = None, port: int = DEFAULT_PORT, *, host: str = "127.0.0.1", rate_limit_every: int = 50
) -> OpenAQDemoServer:
    """Start the server in a background thread and return it (port 0 picks a free port; see
    `base_url`). Call `shutdown()` to stop it."""
    server = OpenAQDemoServer(Path(home) if home else paths.home(), (host, port), rate_limit_every)
    threading.Thread(target=server.serve_forever, name="openaq-demo-server", daemon=True).start()
    return server


def main(
    home: Path | None = None, port: int = DEFAULT_PORT, *, host: str = "127.0.0.1", rate_limit_every: int = 50
) -> int:
    """Serve the demo OpenAQ API until interrupted (what `citypeers openaq-serve` runs)."""
    home = Path(home) if home else paths.home()
    server = OpenAQDemoServer(home, (host, port), rate_limit_every)
    print(f"demo OpenAQ API on {server.base_url} (data: {demo_dir(home) / 'openaq_air'})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _command_line(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m citypeers.demo.openaq_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--home", type=Path, default=None, help="default: $CITYPEERS_HOME or <repo>/var")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--rate-limit-every", type=int, default=50, help="every Nth request gets 429 (0: never)"
    )
    args = parser.parse_args(argv)
    return main(args.home, args.port, host=args.host, rate_limit_every=args.rate_limit_every)


if __name__ == "__main__":
    raise SystemExit(_command_line())
