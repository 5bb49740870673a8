"""The fetch layer every HTTP source uses: one request → one payload streamed into the landing zone.

Built on requests and urllib3's `Retry` (not hand-rolled loops): timeouts, retries with backoff
on connection errors and 5xx, 429 and 503 honouring `Retry-After`, a size cap, the body streamed
into the period's landing folder with its SHA-256 computed while writing, conditional GET
(`If-None-Match` / `If-Modified-Since` from the period's previous fetch of the same request, so a
304 hands back the file already landed), and content checks that say what arrived ("an HTML page
arrived where a zip was expected"). Every failure is a FeedError naming the feed, the URL, the
HTTP status and what to do; a body that arrived but was rejected is kept in the period's
`rejected/` folder and the error says where.

Feed options (feeds.yml `options:`): `timeout_seconds` (60, per connect and per read),
`max_retries` (6), `backoff_factor` (0.5: urllib3 waits 0, 1, 2, 4 ... s), `max_bytes` (2 GiB),
`connection` (an Airflow Connection id: credentials never live in feeds.yml).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.exceptions import IncompleteRead, ProtocolError
from urllib3.util.retry import Retry

from citypeers import __version__, landing
from citypeers.errors import FeedError
from citypeers.feeds.payloads import Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_MAX_RETRIES = 6
DEFAULT_BACKOFF_FACTOR = 0.5
DEFAULT_MAX_BYTES = 2 * 1024**3
MAX_REDIRECTS = 10
RETRY_STATUSES = (429, 500, 502, 503, 504)
# An error page is kept for triage up to this size (a 404 page, a 500's stack trace).
ERROR_BODY_BYTES = 1024 * 1024
CHUNK_BYTES = 1024 * 1024
EXPECTS = {"zip": ".zip", "json": ".json", "csv": ".csv", "parquet": ".parquet", "any": ".bin"}
_SNIFF_BYTES = 512


def is_url(location: str) -> bool:
    """Whether a feed location is fetched over HTTP (else it is a path or glob on disk)."""
    return str(location).strip().lower().startswith(("http://", "https://"))


def session(feed: Feed) -> requests.Session:
    """A session for one feed: retries with backoff on connection errors and 429/5xx (waiting as
    long as Retry-After asks), GET and POST (query APIs such as the EEA download service post their
    query), a `citypeers/<version>` User-Agent, and the credentials of the feed's Airflow
    Connection (`options.connection`) when it names one."""
    return _new_session(feed)


def _new_session(feed: Feed) -> requests.Session:
    retry = Retry(
        total=_option(feed, "max_retries", DEFAULT_MAX_RETRIES, int),
        backoff_factor=_option(feed, "backoff_factor", DEFAULT_BACKOFF_FACTOR, float),
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD", "POST"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    http_session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    http_session.mount("http://", adapter)
    http_session.mount("https://", adapter)
    http_session.max_redirects = MAX_REDIRECTS
    http_session.headers["User-Agent"] = f"citypeers/{__version__}"
    if "api_key_env" in feed.options:
        raise FeedError(
            feed.feed_id,
            "options.api_key_env is no longer read: credentials come from an Airflow Connection",
            where="feeds.yml options",
            action="replace api_key_env with `connection: <conn_id>` and define the connection in Airflow, or "
            "for the command line export AIRFLOW_CONN_<CONN_ID>='{\"conn_type\": \"http\", \"password\": \"<key>\"}'",
            retryable=False,
        )
    conn_id = feed.options.get("connection")
    if conn_id:
        _apply_connection(http_session, feed, str(conn_id))
    return http_session


def _option(feed: Feed, name: str, default: Any, kind: type) -> Any:
    raw = feed.options.get(name, default)
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or value < 0:
        raise FeedError(feed.feed_id, f"options.{name} {raw!r} is not a non-negative {kind.__name__}",
                        where="feeds.yml options", action=f"set options.{name} to e.g. {default}", retryable=False)
    return value


def _apply_connection(http_session: requests.Session, feed: Feed, conn_id: str) -> None:
    """Credentials from the Airflow Connection `conn_id`: extra `headers` as given; an API key
    (extra `api_key`, else the password of a connection without login) in the header extra
    `api_key_header` names (default X-API-Key, as OpenAQ v3 wants); login + password as basic auth.
    Airflow also reads AIRFLOW_CONN_<CONN_ID> from the environment, which is how the CLI gets it."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = Connection.get(conn_id)
    except AirflowNotFoundException as exc:
        raise FeedError(
            feed.feed_id,
            f"the Airflow Connection '{conn_id}' (options.connection) is not defined",
            where="Airflow Connections",
            action=f"add it in Airflow (Admin → Connections), or for the command line export "
            f"AIRFLOW_CONN_{conn_id.upper()}='{{\"conn_type\": \"http\", \"password\": \"<api key>\"}}'",
            retryable=False,
        ) from exc
    extra = connection.extra_dejson
    http_session.headers.update({str(k): str(v) for k, v in (extra.get("headers") or {}).items()})
    api_key = extra.get("api_key") or (connection.password if not connection.login else None)
    if api_key:
        http_session.headers[str(extra.get("api_key_header", "X-API-Key"))] = str(api_key)
    elif connection.login:
        http_session.auth = (connection.login, connection.password or "")


def request_key(url: str, *, params: dict | None = None, method: str = "GET", json_body: Any = None) -> str:
    """The request as the landing zone records it: the full URL with its query (a GET), or the
    method, URL and JSON body (a POST). A rerun of the same request finds its previous response."""
    prepared = requests.Request(method.upper(), url, params=params).prepare().url
    if method.upper() == "GET" and json_body is None:
        return prepared
    body = json.dumps(json_body, sort_keys=True, separators=(",", ":")) if json_body is not None else ""
    return f"{method.upper()} {prepared} {body}".rstrip()


def get(
    feed: Feed,
    interval: Interval,
    url: str,
    *,
    expect: str,
    params: dict | None = None,
    method: str = "GET",
    json_body: Any = None,
    session: requests.Session | None = None,
    suffix: str | None = None,
) -> Payload:
    """One request of the feed for the interval, streamed into the period's landing folder.

    `expect` is "zip", "json", "csv", "parquet" or "any" (no content check). The payload comes back
    hashed with its `http` record; `landing.keep` renames it into place. A 304 to the conditional
    request hands back the file the previous fetch landed (unchanged). Raises FeedError otherwise.
    """
    if expect not in EXPECTS:
        raise ValueError(f"expect must be one of {sorted(EXPECTS)}, not {expect!r}")
    suffix = suffix or (_url_suffix(url) if expect == "any" else EXPECTS[expect])
    key = request_key(url, params=params, method=method, json_body=json_body)
    previous = landing.previous_response(feed, interval, key)
    headers = {}
    if previous is not None:
        if previous.http.get("etag"):
            headers["If-None-Match"] = previous.http["etag"]
        if previous.http.get("last_modified"):
            headers["If-Modified-Since"] = previous.http["last_modified"]
    http_session = session or _new_session(feed)
    try:
        return _fetch(feed, interval, http_session, key, url, expect=expect, params=params, method=method,
                      json_body=json_body, headers=headers, suffix=suffix, previous=previous)
    finally:
        if session is None:
            http_session.close()


def _fetch(feed, interval, http_session, key, url, *, expect, params, method, json_body, headers, suffix,
           previous) -> Payload:
    timeout = _option(feed, "timeout_seconds", DEFAULT_TIMEOUT_SECONDS, float)
    fetched_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    shown = key if method.upper() == "GET" else f"{method.upper()} {url}"
    try:
        response = http_session.request(method.upper(), url, params=params, json=json_body, headers=headers,
                                        timeout=timeout, stream=True)
    except requests.TooManyRedirects as exc:
        last = exc.response
        raise FeedError(
            feed.feed_id,
            f"redirect loop: more than {http_session.max_redirects} redirects "
            f"(last HTTP {last.status_code if last is not None else '?'} to "
            f"{last.headers.get('Location') if last is not None else '?'})",
            where=shown,
            action="the server redirects in a circle: open the URL in a browser and put the final URL in feeds.yml",
            retryable=False,
        ) from exc
    except requests.RequestException as exc:
        slow = _timed_out(exc)
        what = f"no answer within the timeout of {timeout:g} s ({_reason(exc)})" if slow else _reason(exc)
        raise FeedError(
            feed.feed_id,
            f"no HTTP status: {what}, after {_option(feed, 'max_retries', DEFAULT_MAX_RETRIES, int)} retries",
            where=shown,
            action="raise options.timeout_seconds if the server is just slow, else rerun later" if slow else
            "check that the server is up and reachable from here and the host in feeds.yml (for the demo feeds "
            "start the demo feed server)",
        ) from exc
    with response:
        status = response.status_code
        if status == 304 and previous is not None:
            log.info("%s: 304 Not Modified, the landed %s is current", shown, previous.path.name)
            return Payload(
                content=None, suffix=suffix, request=key, file=previous.path, sha256=previous.sha256,
                http={**previous.http, "url": response.url, "status": 304,
                      "etag": response.headers.get("ETag") or previous.http.get("etag"),
                      "last_modified": response.headers.get("Last-Modified") or previous.http.get("last_modified"),
                      "bytes": previous.path.stat().st_size, "fetched_at": fetched_at,
                      "elapsed_ms": round((time.monotonic() - started) * 1000)},
            )
        if status not in (200, 203):
            kept = _keep_error_body(feed, interval, response, suffix)
            raise _status_error(feed, response, shown, kept)
        return _stream(feed, interval, response, key, shown, expect=expect, suffix=suffix,
                       fetched_at=fetched_at, started=started)


def _stream(feed, interval, response, key, shown, *, expect, suffix, fetched_at, started) -> Payload:
    max_bytes = _option(feed, "max_bytes", DEFAULT_MAX_BYTES, int)
    status = f"HTTP {response.status_code}"
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FeedError(
            feed.feed_id,
            f"{status} with Content-Length {int(declared):,} bytes, above options.max_bytes {max_bytes:,}; "
            "the body was not downloaded",
            where=shown,
            action="raise options.max_bytes if the file is really that large, or ask for a smaller extract",
            retryable=False,
        )
    incoming = landing.incoming_dir(feed, interval)
    incoming.mkdir(parents=True, exist_ok=True)
    temporary = incoming / f"{uuid.uuid4().hex}.part"
    digest, size, head, tail = hashlib.sha256(), 0, b"", b""
    # keep what arrived of a truncated body (urllib3 would drop the last read): the length is
    # checked below against the bytes read from the wire
    response.raw.enforce_content_length = False
    try:
        with temporary.open("wb") as out:
            for chunk in response.iter_content(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise _TooLarge
                digest.update(chunk)
                out.write(chunk)
                if len(head) < _SNIFF_BYTES:
                    head += chunk[: _SNIFF_BYTES - len(head)]
                tail = (tail + chunk)[-4:]
    except _TooLarge:
        temporary.unlink()
        raise FeedError(
            feed.feed_id,
            f"{status}: the body passed options.max_bytes ({max_bytes:,} bytes) and was cut off; nothing kept",
            where=shown,
            action="raise options.max_bytes if the file is really that large, or ask for a smaller extract",
            retryable=False,
        ) from None
    except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError, ProtocolError,
            IncompleteRead) as exc:
        raise _truncated(feed, interval, temporary, digest.hexdigest(), suffix, response, key, shown,
                         f"{size:,} bytes ({_reason(exc)})") from exc
    sha256 = digest.hexdigest()
    wire_bytes = response.raw.tell()
    if declared and declared.isdigit() and int(declared) != wire_bytes:
        raise _truncated(feed, interval, temporary, sha256, suffix, response, key, shown,
                         f"{wire_bytes:,} of {int(declared):,} bytes (Content-Length)")
    content_type = response.headers.get("Content-Type", "")
    problem = content_problem(expect, content_type, head, tail, size)
    if problem:
        kept = _reject(feed, interval, temporary, sha256, suffix, response, key, problem)
        raise FeedError(
            feed.feed_id,
            f"{status}: {problem}; the body is kept in {kept}",
            where=shown,
            action="check the URL in feeds.yml (a login page, an error page or a moved file often "
            "answers with 200); open the kept body to see what the server sent",
        )
    http = {
        "url": response.url, "status": response.status_code, "etag": response.headers.get("ETag"),
        "last_modified": response.headers.get("Last-Modified"), "content_type": content_type or None,
        "bytes": size, "fetched_at": fetched_at, "elapsed_ms": round((time.monotonic() - started) * 1000),
    }
    log.info("%s: HTTP %d, %d bytes, sha256 %s", shown, response.status_code, size, sha256[:12])
    return Payload(content=None, suffix=suffix, request=key, file=temporary, sha256=sha256, http=http)


def _truncated(feed, interval, temporary, sha256, suffix, response, key, shown, arrived) -> FeedError:
    kept = _reject(feed, interval, temporary, sha256, suffix, response, key, f"cut off after {arrived}")
    return FeedError(
        feed.feed_id,
        f"HTTP {response.status_code} but the body was cut off after {arrived}; what arrived is kept in {kept}",
        where=shown,
        action="the connection dropped mid-transfer: rerun the interval (the task retries do); if it "
        "persists the server or a proxy truncates the file",
    )


class _TooLarge(Exception):
    pass


def _mime(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:15].lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


def content_problem(expect: str, content_type: str, head: bytes, tail: bytes, size: int) -> str | None:
    """Why a body is not what the feed expects ("an HTML page arrived where a zip was expected",
    "JSON expected, got text/csv"), from its Content-Type and first and last bytes; None if it fits."""
    if expect == "any":
        return None
    mime = _mime(content_type)
    got = mime or "no Content-Type"
    what = {"zip": "a zip", "json": "JSON", "csv": "CSV", "parquet": "a Parquet file"}[expect]
    if size == 0:
        return f"an empty body arrived where {what} was expected"
    if _looks_like_html(head) or (mime in ("text/html", "application/xhtml+xml") and expect != "zip"):
        return f"an HTML page arrived where {what} was expected"
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if expect == "zip":
        if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            return None
        return f"a zip was expected, got {got} starting with {head[:24]!r}"
    if expect == "parquet":
        if head.startswith(b"PAR1") and tail == b"PAR1":
            return None
        return f"a Parquet file was expected, got {got} starting with {head[:24]!r}"
    if expect == "json":
        foreign = any(word in mime for word in ("csv", "xml", "zip", "parquet", "html"))
        if foreign:
            return f"JSON expected, got {got}"
        if first not in (b"{", b"["):
            return f"JSON expected, got {got} starting with {head[:24]!r}"
        return None
    # csv
    foreign = any(word in mime for word in ("json", "xml", "zip", "parquet", "html"))
    if foreign and "csv" not in mime:
        return f"CSV expected, got {got}"
    if first in (b"<", b"{", b"[") or head.startswith((b"PK\x03\x04", b"PAR1")):
        return f"CSV expected, got {got} starting with {head[:24]!r}"
    return None


def _reject(feed: Feed, interval: Interval, temporary: Path, sha256: str, suffix: str,
            response: requests.Response, key: str, reason: str) -> Path:
    """Keep a rejected body under rejected/ (by hash) with a note of the request and the reason."""
    folder = landing.rejected_dir(feed, interval)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{sha256}{suffix}"
    temporary.replace(target)
    note = {"request": key, "url": response.url, "status": response.status_code, "reason": reason,
            "content_type": response.headers.get("Content-Type"), "bytes": target.stat().st_size,
            "rejected_at": datetime.now(UTC).isoformat(timespec="seconds")}
    target.with_name(f"{target.name}.request.json").write_text(json.dumps(note, indent=2), encoding="utf-8")
    return target


def reject(feed: Feed, interval: Interval, payload: Payload, reason: str) -> Path:
    """Set aside a payload `get` returned that the source found unusable (a JSON error document,
    an SDMX error message): it goes to rejected/ with a note, and the path is for the FeedError.
    A payload already landed (a 304's file) is copied, never moved out of the landing zone."""
    folder = landing.rejected_dir(feed, interval)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{payload.sha256}{payload.suffix}"
    if payload.file.parent == landing.incoming_dir(feed, interval) or payload.file.name.endswith(".part"):
        payload.file.replace(target)
    elif not target.exists():
        shutil.copyfile(payload.file, target)
    note = {"request": payload.request, **(payload.http or {}), "reason": reason,
            "rejected_at": datetime.now(UTC).isoformat(timespec="seconds")}
    target.with_name(f"{target.name}.request.json").write_text(json.dumps(note, indent=2), encoding="utf-8")
    return target


def _keep_error_body(feed: Feed, interval: Interval, response: requests.Response, suffix: str) -> Path | None:
    """An error response's body (its first MiB), kept under rejected/; None when it had none."""
    body = b""
    try:
        for chunk in response.iter_content(64 * 1024):
            body += chunk
            if len(body) >= ERROR_BODY_BYTES:
                break
    except (requests.RequestException, ProtocolError):
        pass
    if not body:
        return None
    incoming = landing.incoming_dir(feed, interval)
    incoming.mkdir(parents=True, exist_ok=True)
    temporary = incoming / f"{uuid.uuid4().hex}.part"
    temporary.write_bytes(body[:ERROR_BODY_BYTES])
    return _reject(feed, interval, temporary, hashlib.sha256(body[:ERROR_BODY_BYTES]).hexdigest(),
                   _error_suffix(response, body, suffix), response, response.url,
                   f"HTTP {response.status_code}")


def _error_suffix(response: requests.Response, body: bytes, suffix: str) -> str:
    if _looks_like_html(body) or "html" in _mime(response.headers.get("Content-Type", "")):
        return ".html"
    return ".json" if "json" in _mime(response.headers.get("Content-Type", "")) else suffix


def _status_error(feed: Feed, response: requests.Response, shown: str, kept: Path | None) -> FeedError:
    status = response.status_code
    retries = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
    after = f" after {len(retries)} retries" if retries else ""
    body = f"; the response body is kept in {kept}" if kept else ""
    label = f"HTTP {status} {response.reason or ''}".rstrip()
    if status in (404, 410):
        gone = "the file is gone for good (410)" if status == 410 else "nothing at this URL (404)"
        action = ("the publisher moved or removed it: find the current URL (for GTFS the Mobility Database "
                  "catalog lists it) and update feeds.yml; for a period the source does not cover, drop the "
                  "interval from the backfill")
        return FeedError(feed.feed_id, f"{label}: {gone}{body}", where=shown, action=action, retryable=False)
    if status == 429:
        return FeedError(feed.feed_id, f"{label}: rate limited{after}{body}", where=shown,
                         action="the source still rate limits: rerun later, lower the schedule's frequency, "
                         "or use an API key (options.connection)")
    if status in (401, 403):
        return FeedError(feed.feed_id, f"{label}: access refused{body}", where=shown,
                         action="check the credentials of the feed's Airflow Connection (options.connection)",
                         retryable=False)
    if status >= 500:
        return FeedError(feed.feed_id, f"{label}: server error{after}{body}", where=shown,
                         action="the source is failing: rerun the interval later (the task retries do)")
    if status == 304:
        return FeedError(feed.feed_id, f"{label} but no earlier payload of this request is landed", where=shown,
                         action="rerun the interval: the fetch will ask without a condition")
    return FeedError(feed.feed_id, f"{label}: the request was not accepted{body}", where=shown,
                     action="check the URL and the query parameters in feeds.yml; the kept body often says why",
                     retryable=status == 408)


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests error, in one line."""
    cause: BaseException = exc
    while True:
        inner = getattr(cause, "reason", None) or cause.__cause__ or cause.__context__
        if not isinstance(inner, BaseException) or inner is cause:
            break
        cause = inner
        if isinstance(cause, (IncompleteRead, TimeoutError)):
            break
    text = str(cause).replace("\n", " ")
    return f"{type(cause).__name__}: {text[:200]}"


def _timed_out(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None or isinstance(cause, urllib3.exceptions.NewConnectionError):  # a ConnectTimeoutError subclass
            return False
        if isinstance(cause, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
            return True
        cause = getattr(cause, "reason", None) or cause.__cause__ or cause.__context__
        if not isinstance(cause, BaseException):
            return False
    return False


def _url_suffix(url: str) -> str:
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    return suffix if 1 < len(suffix) <= 9 and suffix[1:].isalnum() else ".bin"
