"""The demo's GBFS systems over HTTP, as routes of the demo feed server (`citypeers.demo.feed_server`).

- Archive, one system per city and year: `GET /gbfs/{year}/{city_id}/gbfs.json` serves the snapshot
  `citypeers demo-data` wrote (`citypeers.demo.gbfs`), its feed URLs rewritten to this server
  (`/gbfs/{year}/{city_id}/[en/]{name}.json`, the `en/` of GBFS 1.x/2.x kept), so that the yearly
  ingest of `demo_gbfs` auto-discovers every past year as it would a live system.
- Live, one system per city: `GET /gbfs/live/{city_id}/gbfs.json` (GBFS 3.0) and the files it lists.
  Stations and capacities are the city's latest archived ones; station_status has
  `last_updated` = now and counts drawn from the city's request number (the n-th request of a city
  always gets the same counts), so it changes between requests as a real system does, and the
  snapshot DAG has something to follow.
"""

from __future__ import annotations

import json
import random
import re
import threading
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

from citypeers.demo import gbfs as demo_gbfs
from citypeers.demo.feed_server import DemoRequest, DemoResponse, HttpError, Route, file_response, json_response
from citypeers.demo.generator import demo_dir

LIVE_VERSION = "3.0"
LIVE_FILES = ("system_information", "station_information", "station_status")
# Seconds a client may keep each live file (GBFS `ttl`): station_status changes, the rest hardly.
LIVE_TTL = {"gbfs": 3600, "system_information": 3600, "station_information": 3600, "station_status": 60}
_CONTENT_TYPE = "application/json; charset=utf-8"
_requests: dict[str, count] = {}
_lock = threading.Lock()


def _archive_folder(request: DemoRequest, year: str, city_id: str) -> Path:
    folder = demo_dir(request.home) / "gbfs" / year / city_id
    if not folder.is_dir():
        raise HttpError(404, f"no GBFS system {city_id} in {year}: run `citypeers demo-data` first "
                             f"(or the city is not in the demo)")
    return folder


def archive(request: DemoRequest, match: re.Match[str]) -> DemoResponse:
    """One archived file; gbfs.json with its feed URLs pointing at this server."""
    year, city_id, name = match["year"], match["city_id"], match["name"]
    path = _archive_folder(request, year, city_id) / f"{name}.json"
    if name != "gbfs":
        return file_response(path, _CONTENT_TYPE)
    response = file_response(path, _CONTENT_TYPE)
    here = f"{request.base_url}/gbfs/{year}/{city_id}/"
    body = response.body.decode().replace(f"{demo_gbfs.BASE_URL}/{city_id}/", here)
    return DemoResponse(200, body.encode(), _CONTENT_TYPE, response.headers)


def _latest_archive(request: DemoRequest, city_id: str) -> Path:
    years = sorted((demo_dir(request.home) / "gbfs").glob(f"*/{city_id}/station_information.json"))
    if not years:
        raise HttpError(404, f"no live GBFS system {city_id}: run `citypeers demo-data` first")
    return years[-1].parent


def _stations(request: DemoRequest, city_id: str) -> list[dict]:
    document = json.loads((_latest_archive(request, city_id) / "station_information.json").read_text("utf-8"))
    stations = []
    for station in document["data"]["stations"]:
        name = station["name"]
        stations.append({**station, "name": name if isinstance(name, list) else [{"text": name, "language": "en"}]})
    return stations


def _envelope(role: str, moment: datetime, data: dict) -> dict:
    return {"last_updated": moment.isoformat(timespec="seconds"), "ttl": LIVE_TTL[role], "version": LIVE_VERSION,
            "data": data}


def _status(stations: list[dict], city_id: str, number: int) -> list[dict]:
    """Counts of the city's `number`-th station_status request: deterministic, different each time."""
    rng = random.Random(f"live|{city_id}|{number}")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    rows = []
    for station in stations:
        disabled = rng.choice((0, 0, 0, 1))
        bikes = rng.randint(0, station["capacity"] - disabled)
        rows.append({"station_id": station["station_id"], "num_vehicles_available": bikes,
                     "num_vehicles_disabled": disabled, "num_docks_available": station["capacity"] - disabled - bikes,
                     "num_docks_disabled": 0, "is_installed": True, "is_renting": True, "is_returning": True,
                     "last_reported": now})
    return rows


def live(request: DemoRequest, match: re.Match[str]) -> DemoResponse:
    """The live system's gbfs.json, system_information, station_information or station_status."""
    city_id, role = match["city_id"], match["name"]
    stations = _stations(request, city_id)
    now = datetime.now(UTC).replace(microsecond=0)
    hour = now.replace(minute=0, second=0)
    if role == "gbfs":
        here = f"{request.base_url}/gbfs/live/{city_id}"
        feeds = [{"name": name, "url": f"{here}/{name}.json"} for name in LIVE_FILES]
        return json_response(_envelope(role, hour, {"feeds": feeds}))
    if role == "system_information":
        archived = json.loads((_latest_archive(request, city_id) / "system_information.json").read_text("utf-8"))
        name = archived["data"]["name"]
        return json_response(_envelope(role, hour, {
            "system_id": f"citypeers_demo_live_{city_id}", "languages": ["en"],
            "name": name if isinstance(name, list) else [{"text": name, "language": "en"}],
            "opening_hours": "24/7", "feed_contact_email": "demo@citypeers.invalid",
            "timezone": archived["data"]["timezone"]}))
    if role == "station_information":
        return json_response(_envelope(role, hour, {"stations": stations}))
    with _lock:
        number = next(_requests.setdefault(city_id, count(1)))
    return json_response(_envelope(role, now, {"stations": _status(stations, city_id, number)}))


_NAMES = "gbfs|system_information|station_information|station_status"
ROUTES: list[Route] = [
    ("GET", re.compile(rf"/gbfs/(?P<year>\d{{4}})/(?P<city_id>[a-z0-9_]+)/(?:[a-z]{{2}}/)?(?P<name>{_NAMES})\.json"),
     archive),
    ("GET", re.compile(rf"/gbfs/live/(?P<city_id>[a-z0-9_]+)/(?P<name>{_NAMES})\.json"), live),
]
