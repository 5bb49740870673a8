"""The landing zone: every payload kept exactly as received, named by content hash.

A payload file is written once (temp file + rename) and never changed or deleted. `fetch.json`
in the period folder lists what the latest fetch of that period returned, so a period can be
re-parsed at any time without fetching again.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from citypeers import paths
from citypeers.errors import FeedError
from citypeers.feeds.payloads import LandedPayload, Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed

MANIFEST = "fetch.json"
COPY_BLOCK_BYTES = 8 * 1024 * 1024


def _land(folder: Path, payload: Payload) -> tuple[Path, str]:
    """Write a payload under its content hash, once; a file is copied in blocks and hashed as it
    is read, so the name always matches the bytes kept."""
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


def keep(feed: Feed, interval: Interval, payloads: list[Payload]) -> list[LandedPayload]:
    """Store payloads in the landing zone and record them as the period's latest fetch."""
    folder = paths.landing_dir(feed.source, feed.feed_id, interval.label)
    folder.mkdir(parents=True, exist_ok=True)
    landed = []
    for payload in payloads:
        target, sha256 = _land(folder, payload)
        landed.append(LandedPayload(path=target, sha256=sha256, request=payload.request))
    manifest = {
        "feed_id": feed.feed_id,
        "source": feed.source,
        "interval_start": interval.start.isoformat(),
        "interval_end": interval.end.isoformat(),
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "payloads": [
            {"file": p.path.name, "sha256": p.sha256, "request": p.request, "bytes": p.path.stat().st_size}
            for p in landed
        ],
    }
    temporary = folder / f".{MANIFEST}.tmp"
    temporary.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(temporary, folder / MANIFEST)
    return landed


def latest(feed: Feed, interval: Interval) -> list[LandedPayload]:
    """The payloads of the period's latest fetch."""
    folder = paths.landing_dir(feed.source, feed.feed_id, interval.label)
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise FeedError(
            feed.feed_id,
            f"nothing landed for period {interval.label}",
            where=str(folder),
            action=f"run the fetch first: citypeers ingest {feed.feed_id} --start ... --end ... (or the land task)",
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return [
        LandedPayload(path=folder / entry["file"], sha256=entry["sha256"], request=entry["request"])
        for entry in manifest["payloads"]
    ]
