"""Payloads for parser tests, landed the way the pipeline lands them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from citypeers import landing
from citypeers.feeds.payloads import LandedPayload, Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.citypeers_home import temporary_home


def land(feed: Feed, interval: Interval, payloads: list[Payload], home: Path) -> list[LandedPayload]:
    """Keep payloads through the real landing zone below `home` (a temporary CITYPEERS_HOME)."""
    with temporary_home(home):
        return landing.keep(feed, interval, payloads)


def landed_file(path: Path, request: str) -> LandedPayload:
    """A file already on disk, described as a landed payload."""
    return LandedPayload(path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), request=request)
