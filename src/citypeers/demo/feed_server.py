"""One local HTTP server for every demo feed, on 127.0.0.1 only.

Route modules (`ROUTE_MODULES`) each export `ROUTES`, a list of `(method, pattern, handler)`: the
handler gets a `DemoRequest` and the pattern's match and returns a `DemoResponse`. They only shape
their source's answers (OpenAQ's `/v3/...`, GTFS zips, GBFS, SDMX REST, the EEA download service).
What a client must cope with on any real endpoint lives here, once, so every feed meets it:

- a strong `ETag` (hash of the body) on every 200, and `If-None-Match` → 304; `Last-Modified` when
  the route gives one, and `If-Modified-Since` → 304 when no `If-None-Match` was sent;
- every `rate_limit_every`-th request (50 by default, deterministic) gets 429 with `Retry-After: 1`;
- paths under a `flaky` prefix answer 500 to the first request of each URL, then succeed;
- unknown paths get a 404 JSON body, a known path with another method 405, a route's
  `HttpError` its status with a JSON body, a route's bug a 500 JSON body (the server keeps serving).

`GET /health` answers 200 without counting towards the rate limit. Each request is logged as one
line (method, path, status, milliseconds) and kept in `request_log` for tests.
"""

from __future__ import annotations

import collections
import email.utils
import hashlib
import importlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from requests.structures import CaseInsensitiveDict

from citypeers import paths

DEFAULT_PORT = 8765
DEFAULT_RATE_LIMIT_EVERY = 50
HOST = "127.0.0.1"
# One line per module: each source's helper adds its own.
ROUTE_MODULES: tuple[str, ...] = (
    "citypeers.demo.openaq_server",
    "citypeers.demo.serve_gtfs",
    "citypeers.demo.serve_sdmx",
    "citypeers.demo.serve_files",
    "citypeers.demo.serve_eea",
    "citypeers.demo.serve_gbfs",
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoRequest:
    method: str
    path: str  # without the query string, not percent-decoded
    query: dict[str, list[str]]
    headers: Mapping[str, str]  # case-insensitive names
    body: bytes
    base_url: str  # "http://127.0.0.1:8765"
    home: Path  # CITYPEERS_HOME; demo files under citypeers.demo.generator.demo_dir(home)


@dataclass(frozen=True)
class DemoResponse:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


Route = tuple[str, re.Pattern[str], Callable[[DemoRequest, re.Match[str]], DemoResponse]]


class HttpError(Exception):
    """Raised by a route to answer `status` with `{"detail": detail}`."""

    def __init__(self, status: int, detail: Any):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Logged(NamedTuple):
    at: float  # time.monotonic()
    path: str  # with the query string
    status: int


def json_response(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> DemoResponse:
    body = json.dumps(document, ensure_ascii=False).encode()
    return DemoResponse(status, body, "application/json; charset=utf-8", dict(headers or {}))


def http_date(moment: float | datetime) -> str:
    """An HTTP date (`Last-Modified`) from a POSIX timestamp or an aware datetime."""
    if isinstance(moment, datetime):
        moment = moment.timestamp()
    return email.utils.formatdate(moment, usegmt=True)


def file_response(path: Path, content_type: str) -> DemoResponse:
    """A file's bytes with its modification time as `Last-Modified`; 404 JSON when it is missing."""
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise HttpError(404, f"{path.name} not found") from None
    return DemoResponse(200, body, content_type, {"Last-Modified": http_date(path.stat().st_mtime)})


def load_routes(modules: tuple[str, ...] = ROUTE_MODULES) -> list[Route]:
    """Every module's `ROUTES`, in order; a module without a usable ROUTES list fails at start."""
    routes: list[Route] = []
    for name in modules:
        module_routes = getattr(importlib.import_module(name), "ROUTES", None)
        if not module_routes or not all(_is_route(route) for route in module_routes):
            raise TypeError(f"{name}.ROUTES must be a non-empty list of (method, compiled pattern, callable)")
        routes.extend(module_routes)
    return routes


def _is_route(route: Any) -> bool:
    return (
        isinstance(route, tuple)
        and len(route) == 3
        and isinstance(route[0], str)
        and route[0] == route[0].upper()
        and isinstance(route[1], re.Pattern)
        and callable(route[2])
    )


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _not_modified(headers: Mapping[str, str], etag: str, last_modified: str | None) -> bool:
    """RFC 9110 13.1: If-None-Match (weak comparison) wins; If-Modified-Since only without it."""
    if "If-None-Match" in headers:
        tags = [tag.strip().removeprefix("W/") for tag in headers["If-None-Match"].split(",")]
        return "*" in tags or etag in tags
    since = headers.get("If-Modified-Since")
    if since and last_modified:
        try:
            return email.utils.parsedate_to_datetime(last_modified) <= email.utils.parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FeedServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Quiet: `_send` logs one line per request instead."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._answer()

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer()

    def do_POST(self) -> None:  # noqa: N802
        self._answer()

    def do_PUT(self) -> None:  # noqa: N802
        self._answer()

    def do_DELETE(self) -> None:  # noqa: N802
        self._answer()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailer fields, up to the empty line
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self) -> None:
        started = time.monotonic()
        body = self._read_body()
        url = urlsplit(self.path)
        request = DemoRequest(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers=CaseInsensitiveDict(self.headers.items()),
            body=body,
            base_url=self.server.root_url,
            home=self.server.home,
        )
        response = self.server.respond(request, self.path)
        self._send(response, started)

    def _send(self, response: DemoResponse, started: float) -> None:
        # logged before the answer leaves, so a client that has its answer finds the request logged
        # (in request_log and in the log file, even if the server is stopped right after)
        self.server.request_log.append(Logged(time.monotonic(), self.path, response.status))
        log.info("%s %s %d %.0f ms", self.command, self.path, response.status, 1000 * (time.monotonic() - started))
        self.send_response(response.status)
        if response.status != 304:
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and response.status != 304:
            self.wfile.write(response.body)


class FeedServer(ThreadingHTTPServer):
    """The demo feed server on 127.0.0.1 (port 0 picks a free one). `shutdown()` stops it and frees
    the port."""

    daemon_threads = True

    def __init__(
        self,
        home: Path,
        port: int = DEFAULT_PORT,
        *,
        rate_limit_every: int = DEFAULT_RATE_LIMIT_EVERY,
        flaky: tuple[str, ...] = (),
        modules: tuple[str, ...] = ROUTE_MODULES,
    ):
        self.home = Path(home)
        self.routes = load_routes(modules)
        self.rate_limit_every = rate_limit_every
        self.flaky = tuple(flaky)
        self.request_log: collections.deque[Logged] = collections.deque(maxlen=100_000)
        self._lock = threading.Lock()
        self._requests = 0
        self._flaked: set[tuple[str, str]] = set()
        super().__init__((HOST, port), _Handler)

    @property
    def root_url(self) -> str:
        """What routes get as `DemoRequest.base_url`, e.g. "http://127.0.0.1:8765"."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.root_url

    def respond(self, request: DemoRequest, target: str) -> DemoResponse:
        """The generic behaviour around the route's answer; `target` is the path with its query."""
        if request.path == "/health":
            return self._conditional(request, json_response({"status": "ok", "routes": len(self.routes)}))
        if self._is_rate_limited():
            return json_response({"detail": "Too Many Requests"}, 429, {"Retry-After": "1"})
        if self._flakes(request.method, target, request.path):
            return json_response({"detail": "flaky demo endpoint: the first request of each URL fails"}, 500)
        allowed = set()
        for method, pattern, handler in self.routes:
            if not (match := pattern.fullmatch(request.path)):
                continue
            if method != request.method and not (method == "GET" and request.method == "HEAD"):
                allowed.add(method)
                continue
            try:
                response = handler(request, match)
            except HttpError as error:
                return json_response({"detail": error.detail}, error.status)
            except Exception as error:  # a route's bug or a damaged file: answer like an API, keep serving
                log.exception("%s %s failed", request.method, target)
                return json_response({"detail": f"{error.__class__.__name__}: {error}"}, 500)
            return self._conditional(request, response)
        if allowed:
            return json_response({"detail": f"{request.method} not allowed on {request.path}"}, 405,
                                 {"Allow": ", ".join(sorted(allowed))})
        return json_response({"detail": f"no route {request.path}"}, 404)

    def _conditional(self, request: DemoRequest, response: DemoResponse) -> DemoResponse:
        if response.status != 200:
            return response
        etag = _etag(response.body)
        headers = {**response.headers, "ETag": etag}
        if request.method in ("GET", "HEAD") and _not_modified(
            request.headers, etag, response.headers.get("Last-Modified")
        ):
            kept = {name: value for name, value in headers.items() if name in ("ETag", "Last-Modified")}
            return DemoResponse(304, b"", response.content_type, kept)
        return DemoResponse(200, response.body, response.content_type, headers)

    def _is_rate_limited(self) -> bool:
        """True for every `rate_limit_every`-th request (never when it is 0)."""
        with self._lock:
            self._requests += 1
            return bool(self.rate_limit_every) and self._requests % self.rate_limit_every == 0

    def _flakes(self, method: str, target: str, path: str) -> bool:
        """True the first time a URL under a flaky prefix is asked for (per method)."""
        if not any(path.startswith(prefix) for prefix in self.flaky):
            return False
        with self._lock:
            if (method, target) in self._flaked:
                return False
            self._flaked.add((method, target))
            return True

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()


def serve(home: Path | None = None, port: int = DEFAULT_PORT, **options: Any) -> FeedServer:
    """Start the server in a background thread and return it (port 0 picks a free port; see
    `base_url`). Call `shutdown()` to stop it. `options` are FeedServer's."""
    server = FeedServer(Path(home) if home else paths.home(), port, **options)
    threading.Thread(target=server.serve_forever, name="demo-feed-server", daemon=True).start()
    return server


def main(
    home: Path | None = None,
    port: int = DEFAULT_PORT,
    *,
    rate_limit_every: int = DEFAULT_RATE_LIMIT_EVERY,
    flaky: tuple[str, ...] = (),
) -> int:
    """Serve every demo feed until interrupted (what `citypeers feeds-serve` runs)."""
    home = Path(home) if home else paths.home()
    server = FeedServer(home, port, rate_limit_every=rate_limit_every, flaky=flaky)
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    limit = f"429 every {rate_limit_every} requests" if rate_limit_every else "no 429"
    print(
        f"{started} demo feed server on {server.base_url} ({len(server.routes)} routes from "
        f"{', '.join(ROUTE_MODULES)}; {limit}; flaky: {', '.join(flaky) or 'none'})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
