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


def _write_once(target: Path, content: bytes) -> None:
    if target.exists():
        return
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, target)


def keep(feed: Feed, interval: Interval, payloads: list[Payload]) -> list[LandedPayload]:
    """Store payloads in the landing zone and record them as the period's latest fetch."""
    folder = paths.landing_dir(feed.source, feed.feed_id, interval.label)
    folder.mkdir(parents=True, exist_ok=True)
    landed = []
    for payload in payloads:
        sha256 = hashlib.sha256(payload.content).hexdigest()
        target = folder / f"{sha256}{payload.suffix}"
        _write_once(target, payload.content)
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
