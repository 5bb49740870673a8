"""The demo feed server's EEA Air Quality Download Service, under `/eea/`.

It answers the two calls `citypeers.feeds.eea_air` makes on the real service (the calls of the
maintained `airbase` client), from the Parquet files `citypeers demo-data` writes below
`feeds/demo/eea_air/download_service/` (one per dataset and sampling point, indexed in files.json):

- `POST /eea/ParquetFile/urls` with the JSON body `{"countries": [...], "cities": [...],
  "pollutants": [...], "dataset": 1 | 2 | 3, "dateTimeStart": "...Z", "dateTimeEnd": "...Z",
  "aggregationType": "hour" | "day" | "var", "source": "API"}` answers, as the service does, a
  CSV list: a UTF-8 byte order mark, the header `ParquetFileUrl`, then one absolute URL per line.
  An empty list means all countries, cities or pollutants; a pollutant is its notation (`PM2.5`),
  its vocabulary URL (`http://dd.eionet.europa.eu/vocabulary/aq/pollutant/6001`, what airbase
  sends) or its id. Dataset 1 is E2a (up to date, unverified), 2 is E1a (verified), 3 the Airbase
  history (none in the demo). A file is listed when the UTC hours it holds overlap
  [dateTimeStart, dateTimeEnd). A body the service could not take (not JSON, an unknown dataset,
  an unreadable date, the end before the start) gets 400 with a problem-details JSON message;
- `GET /eea/files/{E1a|E2a}/{country}/{sampling point}.parquet` serves a file's bytes
  (`application/octet-stream`, as blob storage does), with the router's ETag.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citypeers.demo.feed_server import DemoRequest, DemoResponse, HttpError, Route, file_response, json_response
from citypeers.demo.generator import DOWNLOAD_SERVICE_DIR, DOWNLOAD_SERVICE_INDEX, demo_dir

DATASETS = {1: "E2a", 2: "E1a", 3: "Airbase"}
AGGREGATION_TYPES = ("hour", "day", "var")
_VOCABULARY_ID = re.compile(r"/(\d+)/?$")


def service_dir(home: Path) -> Path:
    return demo_dir(home) / "eea_air" / DOWNLOAD_SERVICE_DIR


def _index(home: Path) -> list[dict[str, Any]]:
    index = service_dir(home) / DOWNLOAD_SERVICE_INDEX
    if not index.exists():
        raise HttpError(404, f"no demo download service files in {index.parent}; run `citypeers demo-data` first")
    return json.loads(index.read_text(encoding="utf-8"))


def _rejected(message: str, field: str) -> DemoResponse:
    """A 400 shaped like the service's (ASP.NET) validation problem details."""
    return json_response(
        {"title": "One or more validation errors occurred.", "status": 400, "errors": {field: [message]}}, 400
    )


def _moment(body: dict[str, Any], field: str) -> datetime | None:
    text = body.get(field)
    if text in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{field} {text!r} is not a date-time (yyyy-mm-ddTHH:MM:SSZ)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _texts(body: dict[str, Any], field: str) -> set[str]:
    values = body.get(field) or []
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise ValueError(f"{field} must be a list of strings")
    return {value.strip() for value in values if value.strip()}


def _matches_pollutant(entry: dict[str, Any], wanted: set[str]) -> bool:
    """A pollutant asked for by notation, vocabulary URL or id."""
    if not wanted:
        return True
    ids = {value for value in wanted if value.isdigit()} | {
        found.group(1) for value in wanted if "/" in value and (found := _VOCABULARY_ID.search(value))
    }
    return entry["pollutant"] in wanted or str(entry["pollutant_id"]) in ids


def _hours(entry: dict[str, Any], field: str) -> datetime:
    return datetime.fromisoformat(entry[field].replace("Z", "+00:00"))


def parquet_urls(request: DemoRequest, match: re.Match[str]) -> DemoResponse:
    try:
        body = json.loads(request.body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return _rejected(f"the request body is not JSON: {error}", "$")
    if not isinstance(body, dict):
        return _rejected("the request body must be a JSON object", "$")
    dataset = body.get("dataset")
    if isinstance(dataset, bool) or dataset not in DATASETS:
        return _rejected(
            f"dataset {dataset!r} is not 1 (E2a, up to date), 2 (E1a, verified) or 3 (Airbase, historical)",
            "dataset",
        )
    aggregation = body.get("aggregationType") or "hour"
    if aggregation not in AGGREGATION_TYPES:
        return _rejected(f"aggregationType {aggregation!r} is not one of {', '.join(AGGREGATION_TYPES)}",
                         "aggregationType")
    try:
        countries, cities, pollutants = (_texts(body, name) for name in ("countries", "cities", "pollutants"))
        start, end = _moment(body, "dateTimeStart"), _moment(body, "dateTimeEnd")
    except ValueError as error:
        return _rejected(str(error), "$")
    if start and end and end <= start:
        return _rejected(f"dateTimeEnd {body['dateTimeEnd']} is not after dateTimeStart {body['dateTimeStart']}",
                         "dateTimeEnd")
    listed = [
        f"{request.base_url}/eea/files/{entry['file']}"
        for entry in _index(request.home)
        if entry["dataset"] == DATASETS[dataset]
        and aggregation == "hour"  # the demo's files are all hourly
        and (not countries or entry["country"] in countries)
        and (not cities or entry["city"] in cities)
        and _matches_pollutant(entry, pollutants)
        and (end is None or _hours(entry, "first_hour_utc") < end)
        and (start is None or _hours(entry, "last_hour_utc") >= start)
    ]
    text = "\ufeffParquetFileUrl\r\n" + "".join(f"{url}\r\n" for url in sorted(listed))
    return DemoResponse(200, text.encode("utf-8"), "text/csv; charset=utf-8")


def parquet_file(request: DemoRequest, match: re.Match[str]) -> DemoResponse:
    path = service_dir(request.home) / match["dataset"] / match["country"] / match["name"]
    return file_response(path, "application/octet-stream")


ROUTES: list[Route] = [
    ("POST", re.compile(r"/eea/ParquetFile/urls"), parquet_urls),
    (
        "GET",
        re.compile(r"/eea/files/(?P<dataset>E1a|E2a)/(?P<country>[A-Z]{2})/(?P<name>[A-Za-z0-9._-]+\.parquet)"),
        parquet_file,
    ),
]
