"""feeds/examples/real_world.yml: a registry of real public endpoints that loads, names only
well-formed https URLs, keeps no credentials, and is not marked as demo data."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from citypeers import paths
from citypeers.feeds import http, sdmx_rest
from citypeers.intervals import Interval
from citypeers.registry import load_feeds

REGISTRY = paths.REPO_ROOT / "feeds" / "examples" / "real_world.yml"
# Query parameters and extras that would be credentials: they belong in an Airflow Connection.
SECRET = re.compile(r"(key|token|secret|password|app_id|apikey)", re.IGNORECASE)


def _urls(feed) -> list[str]:
    return [feed.location, *[str(url) for url in (feed.options.get("urls") or {})]]


@pytest.fixture(scope="module")
def feeds():
    return load_feeds(REGISTRY)


def test_the_real_world_registry_loads_with_a_feed_for_every_live_source(feeds):
    assert {feed.source for feed in feeds} >= {"gbfs", "gtfs", "eea_air", "openaq_air", "sdmx_csv"}
    assert not any(feed.is_demo for feed in feeds)
    cities = {feed.city_id for feed in feeds} | {city for feed in feeds for city in feed.city_keys.values()}
    assert {"madrid", "barcelona", "valencia", "tokyo"} <= cities


def test_every_location_is_a_well_formed_https_url_without_credentials(feeds):
    for feed in feeds:
        for url in _urls(feed):
            parts = urlsplit(url)
            assert http.is_url(url) and parts.scheme == "https", (feed.feed_id, url)
            assert parts.hostname and "." in parts.hostname and " " not in url, (feed.feed_id, url)
            assert parts.username is None and parts.password is None, (feed.feed_id, url)
            assert not any(SECRET.search(name) for name in parse_qs(parts.query)), (feed.feed_id, url)
        assert not any(SECRET.search(str(name)) for name in feed.options if name != "connection"), feed.feed_id


def test_the_openaq_feed_takes_its_key_from_a_connection_and_its_ids_from_a_reviewed_file(feeds):
    (openaq,) = [feed for feed in feeds if feed.source == "openaq_air"]
    assert openaq.options["connection"] == "openaq_default"
    header = (REGISTRY.parent / "real_world_openaq_stations.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("station_id,city_id")


def test_the_sdmx_feeds_are_data_queries_that_ask_for_the_interval(feeds):
    sdmx = [feed for feed in feeds if feed.source == "sdmx_csv"]
    assert sdmx
    for feed in sdmx:
        assert sdmx_rest.is_data_query(feed.location), feed.feed_id
        url, params = sdmx_rest.query(feed, Interval.of("2024-01-01", "2025-01-01"))
        assert (params["startPeriod"], params["endPeriod"]) == ("2024", "2024"), (feed.feed_id, url, params)
