"""The landing zone: every payload kept exactly as received, named by content hash.

A payload file is written once (temp file + rename) and never changed or deleted. `fetch.json`
in the period folder lists what the latest fetch of that period returned (with each HTTP
response's status, ETag, Last-Modified, size and timing, and whether anything `changed` since the
fetch before), so a period can be re-parsed at any time without fetching again. HTTP bodies are
streamed into `.incoming/` by the fetch layer and renamed into place here; a body the fetch layer
rejected stays in `rejected/` for triage.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citypeers import paths
from citypeers.errors import FeedError
from citypeers.feeds.payloads import LandedPayload, Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed

MANIFEST = "fetch.json"
INCOMING = ".incoming"
REJECTED = "rejected"
COPY_BLOCK_BYTES = 8 * 1024 * 1024


def period_dir(feed: Feed, interval: Interval) -> Path:
    return paths.landing_dir(feed.source, feed.feed_id, interval.label)


def incoming_dir(feed: Feed, interval: Interval) -> Path:
    """Where the fetch layer streams bodies before `keep` renames them into place (same disk)."""
    return period_dir(feed, interval) / INCOMING


def rejected_dir(feed: Feed, interval: Interval) -> Path:
    """Bodies that arrived but were rejected (wrong type, truncated, an error page), kept for triage."""
    return period_dir(feed, interval) / REJECTED


def _land(folder: Path, payload: Payload) -> tuple[Path, str]:
    """Write a payload under its content hash, once. A file the fetch layer streamed into
    `.incoming/` (and hashed) is moved into place; any other file (a file on disk, or a landed file
    of another period or home) is copied in blocks and hashed as it is read, so the name always
    matches the bytes kept and nothing is taken out of the landing zone."""
    if payload.file is not None and payload.sha256 is not None:
        target = folder / f"{payload.sha256}{payload.suffix}"
        if payload.file.resolve() == target.resolve():  # a 304: the landed file is current
            return target, payload.sha256
        if payload.file.parent.name == INCOMING:  # streamed by the fetch layer: moved, never copied
            if target.exists():
                payload.file.unlink()
            else:
                shutil.move(payload.file, target)
            return target, payload.sha256
    temporary = folder / f".landing.{os.getpid()}.tmp"
    digest = hashlib.sha256()
    with temporary.open("wb") as out:
        if payload.file is None:
            digest.update(payload.content)
            out.write(payload.content)
        else:
            with payload.file.open("rb") as source:
                while block := source.read(COPY_BLOCK_BYTES):
                    digest.update(block)
                    out.write(block)
    sha256 = digest.hexdigest()
    target = folder / f"{sha256}{payload.suffix}"
    if target.exists():
        temporary.unlink()
    else:
        os.replace(temporary, target)
    return target, sha256


def _manifest(folder: Path) -> dict[str, Any] | None:
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        return None
    return json.loads(manifest_path.read_text(encoding="utf-8"))


def keep(feed: Feed, interval: Interval, payloads: list[Payload]) -> list[LandedPayload]:
    """Store payloads in the landing zone and record them as the period's latest fetch.

    `changed` in fetch.json is false when the payload hashes equal those of the period's previous
    fetch (a 304 and a 200 with identical bytes alike)."""
    folder = period_dir(feed, interval)
    folder.mkdir(parents=True, exist_ok=True)
    previous = _manifest(folder)
    landed = []
    for payload in payloads:
        target, sha256 = _land(folder, payload)
        landed.append(LandedPayload(path=target, sha256=sha256, request=payload.request, http=payload.http))
    _clear_incoming(folder)
    hashes = sorted(p.sha256 for p in landed)
    changed = previous is None or sorted(entry["sha256"] for entry in previous["payloads"]) != hashes
    manifest = {
        "feed_id": feed.feed_id,
        "source": feed.source,
        "interval_start": interval.start.isoformat(),
        "interval_end": interval.end.isoformat(),
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "changed": changed,
        "payloads": [
            {"file": p.path.name, "sha256": p.sha256, "request": p.request, "bytes": p.path.stat().st_size,
             **({"http": p.http} if p.http is not None else {})}
            for p in landed
        ],
    }
    temporary = folder / f".{MANIFEST}.tmp"
    temporary.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(temporary, folder / MANIFEST)
    return landed


def _clear_incoming(folder: Path) -> None:
    """Drop bodies streamed by an earlier fetch of the period that failed before `keep` (they were
    never recorded; the rerun fetched them again)."""
    incoming = folder / INCOMING
    if incoming.is_dir():
        shutil.rmtree(incoming, ignore_errors=True)


def latest(feed: Feed, interval: Interval) -> list[LandedPayload]:
    """The payloads of the period's latest fetch."""
    folder = period_dir(feed, interval)
    manifest = _manifest(folder)
    if manifest is None:
        raise FeedError(
            feed.feed_id,
            f"nothing landed for period {interval.label}",
            where=str(folder),
            action=f"run the fetch first: citypeers ingest {feed.feed_id} --start ... --end ... (or the land task)",
        )
    return [
        LandedPayload(path=folder / entry["file"], sha256=entry["sha256"], request=entry["request"],
                      http=entry.get("http"))
        for entry in manifest["payloads"]
    ]


def changed(feed: Feed, interval: Interval) -> bool:
    """Whether the period's latest fetch brought other payloads than the fetch before it."""
    manifest = _manifest(period_dir(feed, interval))
    return manifest is None or manifest.get("changed", True)


def previous_response(feed: Feed, interval: Interval, request: str) -> LandedPayload | None:
    """The payload that the period's latest fetch landed for the same request, if it is still there
    and came over HTTP: its ETag and Last-Modified make the next request conditional."""
    folder = period_dir(feed, interval)
    manifest = _manifest(folder)
    for entry in (manifest or {}).get("payloads", []):
        if entry["request"] == request and entry.get("http") and (folder / entry["file"]).exists():
            return LandedPayload(path=folder / entry["file"], sha256=entry["sha256"], request=entry["request"],
                                 http=entry["http"])
    return None
