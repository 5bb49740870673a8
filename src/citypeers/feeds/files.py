"""Fetching feeds that are files: a path glob with `{home}` and `{year}` placeholders, or the same
file published at an http(s) URL (`{year}` filled in), fetched through `citypeers.feeds.http`."""

from __future__ import annotations

import glob
from pathlib import Path

from citypeers.errors import FeedError
from citypeers.feeds import http
from citypeers.feeds.payloads import Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed


def matching_paths(
    feed: Feed, interval: Interval, *, years: list[int] | None = None, what: str = "file"
) -> list[Path]:
    """Every path matching the feed's location for each year (default: the interval's), in path
    order; none is a FeedError naming the patterns. A location without `{year}` is the same path(s)
    for every interval."""
    patterns = _locations(feed, interval, years)
    paths = dict.fromkeys(path for pattern in patterns for path in sorted(glob.glob(pattern, recursive=True)))
    if not paths:
        raise FeedError(
            feed.feed_id,
            f"no {what} matches the location for {interval.label}",
            where=", ".join(patterns),
            action="check `location` in feeds.yml and that the files exist "
            "(for the demo feeds run `citypeers demo-data`)",
        )
    return [Path(path) for path in paths]


def _locations(feed: Feed, interval: Interval, years: list[int] | None) -> list[str]:
    return list(dict.fromkeys(feed.resolved_location(year=year) for year in (years or interval.years())))


def fetch_files(
    feed: Feed, interval: Interval, *, years: list[int] | None = None, expect: str = "any"
) -> list[Payload]:
    """Every file of the feed's location for the interval's years: each URL fetched over HTTP
    (checked as `expect`; conditional, so an unchanged file is not downloaded again), or every
    path matching the glob (see `matching_paths`), copied byte for byte."""
    if http.is_url(feed.location):
        return [http.get(feed, interval, url, expect=expect) for url in _locations(feed, interval, years)]
    return [
        Payload.of_file(path, "".join(path.suffixes[-1:]) or ".bin")
        for path in matching_paths(feed, interval, years=years)
    ]
