"""SDMX REST data queries for the `sdmx_csv` source: the OECD Data Explorer and Eurostat syntax.

A feed whose `location` is an http(s) URL of the form `.../data/<flow>/<key>` is a data query:

- OECD Data Explorer: `https://sdmx.oecd.org/public/rest/data/<agency>,<dsd>@<flow>,<version>/<key>`
  (the API asks for `format=csvfilewithlabels`: SDMX-CSV 2.0 with a label column after each code
  column, or `csvfile` without the labels);
- Eurostat SDMX 2.1: `https://ec.europa.eu/eurostat/api/dissemination/sdmx/2.1/data/<flow>/<key>`
  (`format=SDMX-CSV`: SDMX-CSV 1.0, the flat format).

The key is the dot-separated dimension codes (`A.AUT+DEU..`, an empty part is every code, `all`
everything). The fetch adds the data interval as `startPeriod` / `endPeriod` (inclusive, so the
2024 interval asks for `startPeriod=2024&endPeriod=2024`; whole months as `2024-03`, other
intervals as dates) and the format: `options.format`, else the one each service documents
(`SDMX-CSV` for a URL under `/eurostat/`, `csvfilewithlabels` otherwise, the .Stat Suite default
the OECD runs). A query copied from the Data Explorer keeps its other parameters (such as
`dimensionAtObservation=AllDimensions`); its own `startPeriod` / `endPeriod` give way to the
interval's, and its `format` to `options.format`. `options.params` adds query parameters.

Answers (the SDMX REST guidelines' error codes, which both services follow):
- 200 with SDMX-CSV: landed unchanged and parsed by citypeers.feeds.sdmx_csv (a header without
  rows is a period without figures).
- "No results found" (SDMX error 100; the OECD answers 404 `NoResultsFound`, Eurostat 404 (or 400)
  with an SDMX error message `No Results Found`): the query is valid and the agency has nothing
  for the period. That is **an empty period** by default: annual city statistics arrive a year
  or two late, and a yearly run for a year not yet published must not fail every January. It is
  logged as a warning naming the URL and the service's message, nothing is landed and no figure is
  published. `options.empty_period: error` makes it a FeedError instead (for a feed that must have
  data every period). A mistyped code in the key also gives "no results": the warning says so.
- Any other 4xx (400 syntax or semantic error, 404 unknown dataflow, 406 unsupported format, 413
  too large, ...) is a FeedError naming the feed, the URL, the HTTP status and the service's own
  message (from an SDMX-ML error, an SOAP fault, SDMX-JSON `errors` or plain text).
"""

from __future__ import annotations

import html
import json
import logging
import re
from datetime import time, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from citypeers.errors import FeedError
from citypeers.intervals import Interval
from citypeers.registry import Feed

log = logging.getLogger(__name__)

OECD_FORMAT = "csvfilewithlabels"
EUROSTAT_FORMAT = "SDMX-CSV"
EMPTY_PERIOD = ("empty", "error")
# The data resource of an SDMX REST 2.x query: /data/<flow>[/<key>[/<provider>]]
_DATA_PATH = re.compile(r"/data/(?P<flow>[^/]+)(?:/(?P<key>[^/]*)(?:/(?P<provider>[^/]+))?)?/?$")
_PERIOD_PARAMS = ("startPeriod", "endPeriod")
_NO_RESULTS = re.compile(r"no\s*results?\s*found|no\s*records?\s*found|no\s*data\s*found", re.IGNORECASE)
# SDMX-ML 2.1 <mes:ErrorMessage code="..."><com:Text>...</com:Text>, or a SOAP fault's <faultstring>.
_XML_MESSAGE = re.compile(r"<(?:\w+:)?ErrorMessage\b(?P<attributes>[^>]*)>(?P<body>.*?)</(?:\w+:)?ErrorMessage>",
                          re.DOTALL)
_XML_CODE = re.compile(r"\bcode\s*=\s*[\"'](?P<code>[^\"']*)[\"']")
_XML_TEXT = re.compile(r"<(?:\w+:)?(?:Text|faultstring)\b[^>]*>(?P<text>.*?)</(?:\w+:)?(?:Text|faultstring)>",
                       re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_MESSAGE_CHARS = 300


def is_data_query(url: str) -> bool:
    return bool(_DATA_PATH.search(urlsplit(url).path))


def default_format(url: str) -> str:
    """The SDMX-CSV format parameter the service at `url` documents."""
    return EUROSTAT_FORMAT if "/eurostat/" in urlsplit(url).path.lower() else OECD_FORMAT


def periods(interval: Interval) -> tuple[str, str]:
    """startPeriod and endPeriod (both inclusive) of the interval, in the coarsest SDMX period form
    that is exact: years, months, else dates."""
    start, end = interval.start, interval.end
    last = end - timedelta(days=1)
    midnight = start.time() == end.time() == time()
    if midnight and (start.month, start.day) == (end.month, end.day) == (1, 1):
        return f"{start:%Y}", f"{last:%Y}"
    if midnight and start.day == end.day == 1:
        return f"{start:%Y-%m}", f"{last:%Y-%m}"
    return f"{start:%Y-%m-%d}", f"{(end - timedelta(microseconds=1)):%Y-%m-%d}"


def query(feed: Feed, interval: Interval) -> tuple[str, dict[str, str]]:
    """The data query's URL (without its query string) and parameters for the interval."""
    location = feed.resolved_location(year=interval.start.year)
    parts = urlsplit(location)
    if not _DATA_PATH.search(parts.path):
        raise FeedError(feed.feed_id, "the location is not an SDMX REST data query: its path does not end in "
                        "/data/<flow>/<key>", where=location,
                        action="copy the data query URL from the OECD Data Explorer ('Developer API') or Eurostat "
                        "(…/sdmx/2.1/data/<flow>/<key>); see docs/adding_feeds.md (SDMX REST)")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    replaced = [name for name in _PERIOD_PARAMS if name in params]
    if replaced:
        log.info("feed %s: the location's %s give way to the data interval's", feed.feed_id, " and ".join(replaced))
    extra = {str(name): str(value) for name, value in (feed.options.get("params") or {}).items()}
    start, end = periods(interval)
    chosen = feed.options.get("format") or params.get("format") or default_format(location)
    params = {**params, **extra, "startPeriod": start, "endPeriod": end, "format": str(chosen)}
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), params


def service_message(body: bytes, content_type: str = "") -> str:
    """The service's own words in an error answer: an SDMX-ML error message (with its code), a SOAP
    fault, SDMX-JSON `errors`, or the text itself (HTML tags dropped), shortened."""
    text = body[:65536].decode("utf-8", errors="replace").strip()
    messages = []
    for match in _XML_MESSAGE.finditer(text):
        words = " ".join(_clean(m["text"]) for m in _XML_TEXT.finditer(match["body"])) or _clean(match["body"])
        code = _XML_CODE.search(match["attributes"])
        messages.append(f"{words} (SDMX error {code['code']})" if code else words)
    if not messages:
        messages = [_clean(m["text"]) for m in _XML_TEXT.finditer(text)]
    if not messages and ("json" in content_type.lower() or text.startswith("{")):
        messages = _json_messages(text)
    message = "; ".join(m for m in messages if m) or _clean(text)
    return message[:_MESSAGE_CHARS] + ("…" if len(message) > _MESSAGE_CHARS else "") if message else "(empty body)"


def _clean(fragment: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).split())


def _json_messages(text: str) -> list[str]:
    try:
        document = json.loads(text)
    except ValueError:
        return []
    errors = document.get("errors") or document.get("error") if isinstance(document, dict) else None
    found = []
    for error in errors if isinstance(errors, list) else [errors] if errors else []:
        if isinstance(error, dict):
            words = " — ".join(str(error[k]) for k in ("title", "label", "message", "detail") if error.get(k))
            code = error.get("code") or error.get("id")
            found.append(f"{words} (SDMX error {code})" if code and words else words or json.dumps(error))
        else:
            found.append(str(error))
    return found


def is_no_results(status: int, message: str) -> bool:
    """The SDMX "no results found" answer (error 100): a valid query that matches no observation."""
    return status in (400, 404) and bool(_NO_RESULTS.search(message) or re.search(r"SDMX error 100\)", message))


def rejected(feed: Feed, url: str, status: int, body: bytes, content_type: str = "", kept: str = "") -> FeedError:
    """The FeedError of a query the service rejected, with the service's message."""
    message = service_message(body, content_type)
    where = f"{url}" + (f" (the answer is kept at {kept})" if kept else "")
    if status == 406:
        action = "set options.format to a format the service offers (OECD: csvfilewithlabels or csvfile; Eurostat: " \
                 "SDMX-CSV)"
    elif status == 404:
        action = "check the dataflow id, agency and version in the location (the service does not know the flow)"
    elif status == 413:
        action = "narrow the key (fewer codes per dimension) or use a shorter interval"
    else:
        action = "fix the key or parameters of the query in feeds.yml (the service's message says what it rejects)"
    return FeedError(feed.feed_id, f"the SDMX service rejected the query: HTTP {status}: {message}", where=where,
                     action=action)


def no_results(feed: Feed, interval: Interval, url: str, status: int, body: bytes, content_type: str = "") -> None:
    """An empty period (logged) or, with `options.empty_period: error`, a FeedError."""
    policy = feed.options.get("empty_period", "empty")
    if policy not in EMPTY_PERIOD:
        raise FeedError(feed.feed_id, f"options.empty_period {policy!r} is not one of {', '.join(EMPTY_PERIOD)}",
                        where="feeds.yml", action="use empty (the default) or error")
    message = service_message(body, content_type)
    if policy == "error":
        raise FeedError(feed.feed_id, f"the SDMX service has no results for {interval.label}: HTTP {status}: "
                        f"{message}", where=url, action="check the key's codes; if the agency has not published the "
                        "period yet, rerun it later (or set options.empty_period: empty)")
    log.warning("feed %s: the SDMX service has no results for %s (HTTP %s: %s) at %s; an empty period, nothing "
                "is published. If no period of the feed has data, check the codes of the key.",
                feed.feed_id, interval.label, status, message, url)


def rejected_answer(error: FeedError) -> tuple[int, bytes, str, str] | None:
    """(status, body, content type, where the body is kept) of a 4xx answer the fetch layer refused,
    read back from its `rejected/` copy; None for every other failure (rate limits, refused
    credentials, server errors and network faults keep the fetch layer's own error)."""
    status = getattr(error, "status", None)
    if not isinstance(status, int) or not 400 <= status < 500 or status in (401, 403, 429):
        return None
    kept = getattr(error, "kept", None)
    if kept is None:
        return status, b"", "", ""
    path = Path(kept)
    note = path.with_name(f"{path.name.split('.', 1)[0]}.json")
    content_type = ""
    if note.exists():
        content_type = json.loads(note.read_text(encoding="utf-8")).get("content_type") or ""
    return status, path.read_bytes(), content_type, str(path)
