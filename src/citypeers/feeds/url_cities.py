"""A feed of several cities published at several URLs: which URL is which city.

Catalogues such as the Mobility Database list one GTFS zip URL per network (and GBFS one
`gbfs.json` per system), so a feed that follows many cities maps URLs to city keys in feeds.yml:

    location: "https://feeds.example.org/gtfs/"     # the base URL of relative URLs
    options:
      urls: {"{year}/madrid.zip": madrid, "https://emt.example/gtfs.zip": madrid_bus}
      urls_file: "{home}/feeds/gtfs_urls.csv"       # CSV with the columns url,city_key

A URL may hold `{year}` (one URL per year of the interval) and may be relative to `location`,
which then is a base URL (a missing trailing `/` is added: `.../gtfs` and `.../gtfs/` are the same
base). A city key is a city id or name of the registry, or a key mapped under the feed's `cities:`,
as with every indicator feed. A relative `urls_file` is read from the registry's folder.

The parse finds each landed payload's city from the URL it was fetched from (`Payload.request`),
so the mapping is the single place that says which network belongs to which city.
"""

from __future__ import annotations

import csv
from pathlib import Path
from urllib.parse import urljoin

from citypeers import paths
from citypeers.errors import FeedError
from citypeers.feeds.http import is_url, request_key
from citypeers.registry import Feed

HELP = ("map each URL to a city key: options.urls {url: city_key} or options.urls_file (CSV url,city_key); "
        "see docs/adding_feeds.md")


def has_url_mapping(feed: Feed) -> bool:
    return bool(feed.options.get("urls") or feed.options.get("urls_file"))


def base_url(feed: Feed) -> str:
    """The feed's location as the base of relative URLs (with a trailing `/`)."""
    location = feed.resolved_location(year="{year}")
    return location if location.endswith("/") else f"{location}/"


def _urls_file(feed: Feed) -> Path:
    path = Path(str(feed.options["urls_file"]).format(home=paths.home()))
    if not path.is_absolute():
        path = paths.feeds_file().parent / path
    if not path.exists():
        raise FeedError(feed.feed_id, f"urls_file {path} does not exist", where="feeds.yml",
                        action="create it (columns url,city_key), or run `citypeers demo-data` for the demo feeds")
    return path


def url_templates(feed: Feed) -> dict[str, str]:
    """URL template (may hold `{year}`, may be relative) -> city key, inline `urls` first, then
    the rows of `urls_file`; a URL mapped to two cities is an error."""
    mapping: dict[str, str] = {}
    entries = [(str(url), str(key), "options.urls") for url, key in (feed.options.get("urls") or {}).items()]
    if feed.options.get("urls_file"):
        path = _urls_file(feed)
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not {"url", "city_key"} <= set(reader.fieldnames or []):
                raise FeedError(feed.feed_id, f"urls_file needs the columns url,city_key (it has "
                                f"{', '.join(reader.fieldnames or []) or 'none'})", where=str(path), action=HELP)
            entries += [((row["url"] or "").strip(), (row["city_key"] or "").strip(), f"{path} line {line}")
                        for line, row in enumerate(reader, start=2)]
    for url, key, where in entries:
        if not url or not key:
            raise FeedError(feed.feed_id, f"an empty url or city_key ({url!r}: {key!r})", where=where, action=HELP)
        if mapping.get(url, key) != key:
            raise FeedError(feed.feed_id, f"URL {url} is mapped to two cities: {mapping[url]} and {key}",
                            where=where, action="keep one city per URL")
        mapping[url] = key
    if not mapping:
        raise FeedError(feed.feed_id, "options.urls / urls_file map no URL", where="feeds.yml", action=HELP)
    return mapping


def url_cities(feed: Feed, years: list[int]) -> dict[str, str]:
    """Absolute URL -> city key for the given years, in mapping order (a URL without `{year}` is
    fetched once). Relative URLs need an http(s) `location`."""
    base = base_url(feed) if is_url(feed.location) else None
    resolved: dict[str, str] = {}
    for template, key in url_templates(feed).items():
        for year in years:
            url = template.format(year=year)
            if not is_url(url):
                if base is None:
                    raise FeedError(feed.feed_id, f"URL {template} is relative but the location is not an http(s) "
                                    "URL to resolve it against", where="feeds.yml",
                                    action="give absolute URLs, or set location to their base URL")
                url = urljoin(base.format(year=year), url)
            if resolved.get(url, key) != key:
                raise FeedError(feed.feed_id, f"URL {url} is mapped to two cities: {resolved[url]} and {key}",
                                where="feeds.yml", action="keep one city per URL")
            resolved[url] = key
    return resolved


def city_of(feed: Feed, url: str, cities: dict[str, str]) -> str:
    """The city key of a payload fetched from `url` (the request as the fetch layer records it:
    `http.request_key`, the URL as requests sends it)."""
    by_request = {request_key(mapped): key for mapped, key in cities.items()}
    if url in by_request:
        return by_request[url]
    raise FeedError(feed.feed_id, f"the landed payload from {url} is not a URL of the feed's URL-to-city mapping "
                    "(was the mapping changed since the fetch?)", where=url,
                    action="fetch the interval again (citypeers ingest) so that payloads and mapping agree")
