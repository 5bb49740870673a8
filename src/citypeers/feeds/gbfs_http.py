"""GBFS over HTTP: auto-discovery from `gbfs.json`, `ttl`, snapshots of live systems, and the year's
snapshot index that the yearly ingest parses.

A *system* is one `gbfs.json` URL: the feed's `location`, or each URL of `options.urls`
(`{url: city_key}`) / `options.urls_file` (CSV `url,city_key`), relative to `location` where they
are relative. Discovery reads gbfs.json (GBFS 1.x/2.x: `data.<language>.feeds`, `options.language`,
default the first; 3.x: `data.feeds`) and follows the listed system_information,
station_information and station_status URLs with the fetch layer (`citypeers.feeds.http.get`,
`expect="json"`). Within one fetch a URL is not asked for again before its `ttl` expired (several
systems often share one operator file); each file's `ttl` and `last_updated` are recorded.

Live systems cannot be backfilled, so they are followed by a snapshot DAG
(`snapshot__gbfs__<feed_id>`, `options.snapshot_schedule`, default hourly): every run lands one
snapshot of every system in the landing zone (`landing/gbfs/<feed_id>/<run period>/`, with
`snapshot.json` recording per system its files, or the error when it did not answer). A URL with
`{year}` is an *archive* (one snapshot per year, e.g. the demo's): the yearly ingest fetches it
directly. The yearly ingest lands one *index* (`snapshots.json`, request `gbfs-snapshots`) listing
every snapshot of the year, answered or not; `citypeers.feeds.gbfs.parse` reads it, takes the
median over each system's snapshots and reports a system that stopped answering instead of
counting it as zero. Same snapshots, same index bytes: an unchanged year is skipped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from citypeers import landing, paths
from citypeers.errors import FeedError
from citypeers.feeds import http
from citypeers.feeds.notices import Notices
from citypeers.feeds.payloads import LandedPayload, Payload
from citypeers.feeds.url_cities import base_url, has_url_mapping, url_templates
from citypeers.intervals import Interval
from citypeers.registry import Feed, get_feed

log = logging.getLogger(__name__)

DISCOVERY = "gbfs.json"
# Files followed from gbfs.json (system_information is required of every system; the figures read the other two).
FOLLOWED_ROLES = ("system_information", "station_information", "station_status")
SNAPSHOT_RECORD = "snapshot.json"
INDEX_REQUEST = "gbfs-snapshots"
NOT_ANSWERING = "system_not_answering"
STOPPED = "system_stopped"
NOT_UPDATING = "system_not_updating"


@dataclass(frozen=True)
class System:
    """One GBFS system: its gbfs.json URL (absolute, `{year}` filled), as configured, and its city key."""

    url: str
    configured: str
    city_key: str | None
    is_archive: bool = False  # its URL (or the location) has {year}: one snapshot per year, fetched by the ingest


def is_http(feed: Feed) -> bool:
    return http.is_url(feed.location)


def _configured_urls(feed: Feed) -> dict[str, str | None]:
    """URL as configured -> city key: the feed's URL mapping (`citypeers.feeds.url_cities`, shared
    with GTFS), else the location itself."""
    return dict(url_templates(feed)) if has_url_mapping(feed) else {feed.location: None}


def systems(feed: Feed, year: int) -> list[System]:
    """Every system of the feed for `year`. With a URL mapping the location is the base of relative
    URLs (`url_cities.base_url`: `.../gbfs` and `.../gbfs/` are the same base)."""
    configured = _configured_urls(feed)
    base = base_url(feed).format(year=year) if has_url_mapping(feed) else feed.resolved_location(year=year)
    return [System(urljoin(base, url.format(year=year)), url, key, "{year}" in feed.location + url)
            for url, key in configured.items()]


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ttl(document: Any) -> int | None:
    ttl = document.get("ttl") if isinstance(document, dict) else None
    return ttl if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl >= 0 else None


class Fetcher:
    """The GETs of one fetch: a URL is asked for again only once its `ttl` (seconds) has expired."""

    def __init__(self, feed: Feed, interval: Interval):
        self.feed, self.interval = feed, interval
        self.session = http.session(feed)
        self._kept: dict[str, tuple[float, Payload, Any]] = {}

    def get(self, url: str, what: str) -> tuple[Payload, Any]:
        """(payload, parsed JSON) of a GBFS file; `what` names it in errors."""
        kept = self._kept.get(url)
        if kept and time.monotonic() < kept[0]:
            return kept[1], kept[2]
        try:
            payload = http.get(self.feed, self.interval, url, expect="json", session=self.session,
                                     suffix=".json")
        except FeedError as exc:
            raise FeedError(self.feed.feed_id, f"{what}, which failed: {exc.problem}", where=exc.where or url,
                            action=exc.action or "check the system's gbfs.json and its URLs",
                            retryable=exc.retryable) from exc
        content = payload.content if payload.content is not None else payload.file.read_bytes()
        try:
            document = json.loads(content)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.refuse(payload, what, f"not valid JSON ({exc})")
        self._kept[url] = (time.monotonic() + (_ttl(document) or 0), payload, document)
        return payload, document

    def refuse(self, payload: Payload, what: str, problem: str) -> None:
        """Keep a body that arrived but cannot be used (rejected/, as the fetch layer does) and raise."""
        self._kept = {url: kept for url, kept in self._kept.items() if kept[1] is not payload}
        kept = http.reject(self.feed, self.interval, payload, problem)
        raise FeedError(self.feed.feed_id, f"{what}: {problem}; the body is kept in {kept}", where=payload.request,
                        action="check the URL; the system may be down or answering an error document")


def discover(fetcher: Fetcher, system: System, *, live: bool = False) -> tuple[dict[str, Any], list[Payload]]:
    """One snapshot of a system: its gbfs.json, then every listed file it follows. Returns the
    record (files by role with URL, sha256, ttl and last_updated) and the payloads to land.

    `live` (the snapshot DAG): a station file without a `data.stations` array fails the snapshot
    here, recorded like a system that did not answer, instead of failing the whole year's parse
    (what such a file does in an archive or a file drop, docs/feed_validation.md)."""
    from citypeers.feeds.gbfs import ROLES, feed_urls

    gbfs_payload, discovery = fetcher.get(system.url, f"gbfs.json {system.url}")
    listed = feed_urls(discovery, fetcher.feed, system.url)
    fetched = {"gbfs": (system.url, gbfs_payload, discovery)}
    for role in FOLLOWED_ROLES:
        if role in listed:
            url = urljoin(system.url, listed[role])
            what = f"{system.url} lists {role} at {url}"
            payload, document = fetcher.get(url, what)
            data = document.get("data") if isinstance(document, dict) else None
            if live and role in ROLES and not isinstance(data.get("stations") if isinstance(data, dict) else None,
                                                         list):
                fetcher.refuse(payload, what, "not a GBFS station file: no data.stations array")
            fetched[role] = (url, payload, document)
    files = {
        role: {"url": url, "sha256": payload.sha256, "ttl": _ttl(document),
               "last_updated": document.get("last_updated") if isinstance(document, dict) else None}
        for role, (url, payload, document) in fetched.items()
    }
    record = {"system": system.configured, "url": system.url, "city_key": system.city_key, "status": "ok",
              "error": None, "files": files}
    return record, _distinct(payload for _, payload, _ in fetched.values())


def _distinct(payloads) -> list[Payload]:
    """Each payload once (a file shared by several roles or systems is one payload object)."""
    return list({id(payload): payload for payload in payloads}.values())


def _write_json(target: Path, document: Any) -> None:
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temporary, target)


def take_snapshot(feed_id: str, start: Any, end: Any) -> dict[str, Any]:
    """The snapshot DAG's task: one snapshot of every live system of the feed, landed in the run's
    period folder with `snapshot.json`. A system that does not answer (or lists a file that fails)
    is recorded with its error and a `system_not_answering` notice (the data-health dashboard shows
    it); the run fails only when no system answered."""
    feed, interval = get_feed(feed_id), Interval.of(start, end)
    fetcher = Fetcher(feed, interval)
    taken_at = _utc_text(datetime.now(UTC))
    records, payloads = [], []
    for system in systems(feed, interval.start.year):
        if system.is_archive:
            continue
        try:
            record, fetched = discover(fetcher, system, live=True)
        except FeedError as exc:
            log.warning("GBFS system %s did not answer: %s", system.url, exc)
            record, fetched = {"system": system.configured, "url": system.url, "city_key": system.city_key,
                               "status": "failed", "error": str(exc), "files": {}}, []
        records.append({**record, "taken_at": taken_at})
        payloads.extend(fetched)
    if not records:
        raise FeedError(feed_id, "no live system to snapshot: every URL has {year} (an archive)", where="feeds.yml",
                        action="set options.snapshot_schedule: none for an archive; the yearly ingest fetches it")
    landed = landing.keep(feed, interval, _distinct(payloads))
    by_sha = {payload.sha256: payload.path.name for payload in landed}
    for record in records:
        for file in record["files"].values():
            file["landed"] = f"{interval.label}/{by_sha[file['sha256']]}"
    folder = paths.landing_dir(feed.source, feed.feed_id, interval.label)
    _write_json(folder / SNAPSHOT_RECORD, {"feed_id": feed_id, "period": interval.label, "taken_at": taken_at,
                                           "systems": records})
    failed = [record for record in records if record["status"] == "failed"]
    notices = Notices(feed_id, interval.label)
    for record in failed:
        notices.add(record["url"], NOT_ANSWERING, "notice",
                    f"no snapshot at {taken_at}: {record['error']}; recorded as failed, never counted as zero")
    target = paths.notices_file(feed.source, feed_id, interval.label)
    if notices.found:
        notices.write(feed.source)
    else:
        target.unlink(missing_ok=True)  # a rerun that got every system clears the run's notices
    if len(failed) == len(records):
        raise FeedError(feed_id, f"no system answered the snapshot at {taken_at}: "
                        + "; ".join(record["error"] for record in failed[:3]),
                        where=str(folder), action="check the systems' URLs; the failure is recorded for the year")
    log.info("GBFS snapshot %s: %d systems, %d failed, %d files landed", interval.label, len(records), len(failed),
             len(landed))
    return {"feed_id": feed_id, "period": interval.label, "systems": len(records), "failed": len(failed),
            "payloads": len(landed)}


def _landed_snapshots(feed: Feed, interval: Interval) -> list[dict[str, Any]]:
    """The snapshot records of the live systems taken in the interval (a day's margin on both sides for
    answered ones: the parse keeps a snapshot by its station_status `last_updated`)."""
    root = paths.landing_dir(feed.source, feed.feed_id, "")
    margin = timedelta(days=1)
    found = []
    years = range((interval.start - margin).year, (interval.end + margin).year + 1)
    record_files = sorted({path for year in years for path in root.glob(f"{year}-*/{SNAPSHOT_RECORD}")})
    for record_file in record_files:
        document = json.loads(record_file.read_text(encoding="utf-8"))
        for record in document["systems"]:
            taken = datetime.fromisoformat(record["taken_at"].replace("Z", "+00:00"))
            window = (interval.start, interval.end) if record["status"] == "failed" else (
                interval.start - margin, interval.end + margin)
            if window[0] <= taken < window[1]:
                found.append(record)
    return found


def fetch(feed: Feed, interval: Interval) -> list[Payload]:
    """The yearly ingest's fetch of an HTTP feed: archives (`{year}` URLs) fetched now, live systems
    from their landed snapshots; plus the index of all of them (`snapshots.json`)."""
    fetcher = Fetcher(feed, interval)
    records, payloads = [], []
    configured: dict[str, System] = {}
    for year in interval.years():
        for system in systems(feed, year):
            configured.setdefault(system.configured if not system.is_archive else system.url, system)
            if system.is_archive:
                record, fetched = discover(fetcher, system)
                records.append({**record, "taken_at": None})
                payloads.extend(fetched)
    records.extend(_landed_snapshots(feed, interval))
    records.sort(key=lambda record: (record["url"], record["taken_at"] or ""))
    index = {
        "feed_id": feed.feed_id, "period": interval.label,
        "systems": sorted(({"system": s.configured, "url": s.url, "city_key": s.city_key} for s in configured.values()),
                          key=lambda system: system["url"]),
        "snapshots": records,
    }
    content = (json.dumps(index, indent=1, sort_keys=True) + "\n").encode()
    return [*_distinct(payloads), Payload(content=content, suffix=".json", request=INDEX_REQUEST)]


@dataclass(frozen=True)
class IndexedSnapshots:
    """What the year's index holds: each answered snapshot's files (role -> landed payload), the city
    key and the snapshot's name; and the records of the systems that did not answer."""

    answered: list[tuple[dict[str, Any], dict[str, LandedPayload]]]
    failed: list[dict[str, Any]]
    systems: list[dict[str, Any]]
    # per system URL, the snapshots whose station_status repeated one already counted (same bytes)
    repeated: dict[str, list[dict[str, Any]]]


def read_index(index: LandedPayload, payloads: list[LandedPayload], feed: Feed) -> IndexedSnapshots:
    """The index's snapshots with their landed files: fetched with the index (archives: matched by
    sha256 among the period's payloads) or landed by the snapshot DAG (`landed`, below the feed's
    landing folder). A snapshot whose station_status has the bytes of one already counted for the
    same system published nothing new (a frozen feed): it counts once, so a stalled system cannot
    outweigh the snapshots that did change."""
    document = json.loads(index.path.read_bytes())
    here = {payload.sha256: payload for payload in payloads}
    root = paths.landing_dir(feed.source, feed.feed_id, "")
    answered, counted, repeated = [], set(), {}
    for record in document["snapshots"]:
        if record["status"] != "ok":
            continue
        status = (record["url"], record["files"].get("station_status", {}).get("sha256"))
        if status[1] is not None and status in counted:
            repeated.setdefault(record["url"], []).append(record)
            continue
        counted.add(status)
        files = {}
        for role, file in record["files"].items():
            landed = here.get(file["sha256"])
            if landed is None:
                path = root / file.get("landed", "")
                if not file.get("landed") or not path.exists():
                    raise FeedError(feed.feed_id, f"the snapshot file of {file['url']} is missing from the landing "
                                    "zone", where=str(path), action="rerun the yearly ingest's land task")
                landed = LandedPayload(path=path, sha256=file["sha256"], request=file["url"])
            files[role] = LandedPayload(path=landed.path, sha256=landed.sha256, request=file["url"])
        answered.append((record, files))
    failed = [record for record in document["snapshots"] if record["status"] != "ok"]
    return IndexedSnapshots(answered=answered, failed=failed, systems=document["systems"], repeated=repeated)


def snapshot_time(record: dict[str, Any]) -> datetime | None:
    """When a snapshot's station_status says it was published (`last_updated`: POSIX seconds or RFC
    3339), else when it was taken; the interval a snapshot counts for, as the parse counts it."""
    stamp = record.get("files", {}).get("station_status", {}).get("last_updated")
    try:
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
            return datetime.fromtimestamp(stamp, UTC)
        if isinstance(stamp, str):
            moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    taken = record.get("taken_at")
    return datetime.fromisoformat(taken.replace("Z", "+00:00")) if taken else None
