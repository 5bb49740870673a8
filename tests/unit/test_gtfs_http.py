"""GTFS zips over HTTP: the URL-to-city mapping (two cities, `{year}`, URLs relative to the
location), against the demo feed server's `/gtfs/{year}/{city_id}.zip` and pytest-httpserver."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import duckdb
import pytest

from citypeers import landing, paths
from citypeers.demo import gtfs as demo_gtfs
from citypeers.demo.feed_server import serve
from citypeers.demo.generator import demo_dir
from citypeers.errors import FeedError
from citypeers.feeds import gtfs
from citypeers.feeds.payloads import LandedPayload
from citypeers.feeds.url_cities import url_cities
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.citypeers_home import temporary_home

CITIES = ("madrid", "vienna")
YEAR_2024 = Interval.of("2024-01-01", "2025-01-01")


def _cities() -> list[dict[str, str]]:
    with (paths.dbt_project_dir() / "seeds" / "cities.csv").open(newline="", encoding="utf-8") as handle:
        return [city for city in csv.DictReader(handle) if city["city_id"] in CITIES]


@pytest.fixture
def demo(tmp_path):
    """A home with the demo's GTFS zips of 2024 for two cities, served on a free port."""
    home = tmp_path / "home"
    demo_gtfs.write(demo_dir(home), _cities(), (2024,), seed=37)
    server = serve(home, 0, modules=("citypeers.demo.serve_gtfs",), rate_limit_every=0)
    yield home, server
    server.shutdown()


def _feed(location: str, **options) -> Feed:
    return Feed(feed_id="test_gtfs_http", source="gtfs", location=location, schedule="@yearly", options=options)


def _ingest(feed: Feed, interval: Interval, home: Path) -> tuple[list[LandedPayload], dict]:
    with temporary_home(home):
        landed = landing.keep(feed, interval, gtfs.fetch(feed, interval))
        frame = gtfs.parse(duckdb.connect(), landed, feed, interval).df()
    return landed, {(row["city_id"], row["indicator_code"]): row for row in frame.to_dict("records")}


def test_urls_file_fetches_each_city_zip_from_relative_year_urls_and_parses_it_as_that_city(demo):
    home, server = demo
    # the base URL without its trailing slash: `{year}/madrid.zip` still resolves below /gtfs/
    feed = _feed(f"{server.base_url}/gtfs", urls_file="{home}/feeds/demo/gtfs/urls.csv")
    landed, rows = _ingest(feed, YEAR_2024, home)
    zips = demo_dir(home) / "gtfs" / "2024"
    assert [payload.request for payload in landed] == [f"{server.base_url}/gtfs/2024/{city}.zip" for city in CITIES]
    assert [payload.sha256 for payload in landed] == [
        hashlib.sha256((zips / f"{city}.zip").read_bytes()).hexdigest() for city in CITIES]
    assert {city for city, _ in rows} == set(CITIES)
    # the same figures as the zips on disk give, each under its own city
    on_disk = _ingest(_feed(str(zips / "*.zip"), city_from="file_stem"), YEAR_2024, home / "files")[1]
    for key, row in rows.items():
        assert row["source_value"] == on_disk[key]["source_value"] and row["value"] == on_disk[key]["value"]
        assert row["source_ref"].startswith(f"GTFS {server.base_url}/gtfs/2024/{key[0]}.zip, week of ")


def test_one_zip_url_with_a_year_is_the_feed_city_network(demo):
    home, server = demo
    feed = Feed(feed_id="test_gtfs_http", source="gtfs", location=f"{server.base_url}/gtfs/{{year}}/vienna.zip",
                schedule="@yearly", city_id="vienna")
    landed, rows = _ingest(feed, YEAR_2024, home)
    assert [payload.request for payload in landed] == [f"{server.base_url}/gtfs/2024/vienna.zip"]
    assert set(rows) == {("vienna", "pt_departures_per_1000"), ("vienna", "pt_stops_per_km2")}


def test_inline_urls_map_year_templates_relative_and_absolute_urls_to_their_cities():
    feed = _feed("https://feeds.example.org/gtfs/",
                 urls={"{year}/madrid.zip": "madrid", "https://emt.example.org/gtfs.zip": "madrid",
                       "https://vienna.example.org/{year}/gtfs.zip": "vienna"})
    assert url_cities(feed, [2023, 2024]) == {
        "https://feeds.example.org/gtfs/2023/madrid.zip": "madrid",
        "https://feeds.example.org/gtfs/2024/madrid.zip": "madrid",
        "https://emt.example.org/gtfs.zip": "madrid",  # no {year}: fetched once
        "https://vienna.example.org/2023/gtfs.zip": "vienna",
        "https://vienna.example.org/2024/gtfs.zip": "vienna",
    }
    assert list(gtfs.zip_urls(feed, Interval.of("2024-01-01", "2025-01-01"))) == [
        "https://feeds.example.org/gtfs/2024/madrid.zip", "https://emt.example.org/gtfs.zip",
        "https://vienna.example.org/2024/gtfs.zip"]


def test_a_mapping_that_cannot_say_one_city_per_url_is_a_feed_error(tmp_path):
    with pytest.raises(FeedError, match="relative but the location is not an http"):
        url_cities(_feed(str(tmp_path / "*.zip"), urls={"{year}/madrid.zip": "madrid"}), [2024])
    with pytest.raises(FeedError, match="mapped to two cities: madrid and vienna"):
        url_cities(_feed("https://x.example.org/", urls={"a.zip": "madrid", "https://x.example.org/a.zip": "vienna"}),
                   [2024])
    bad = tmp_path / "urls.csv"
    bad.write_text("link,city\nhttps://x.example.org/a.zip,madrid\n", encoding="utf-8")
    with pytest.raises(FeedError, match="urls_file needs the columns url,city_key"):
        url_cities(_feed("https://x.example.org/", urls_file=str(bad)), [2024])
    with pytest.raises(FeedError, match="keep one of them"):
        gtfs.fetch(_feed("https://x.example.org/", urls={"a.zip": "madrid"}, city_from="file_stem"), YEAR_2024)


def test_a_landed_zip_from_a_url_the_mapping_no_longer_lists_fails_the_parse(demo):
    home, server = demo
    feed = _feed(f"{server.base_url}/gtfs/", urls={"{year}/madrid.zip": "madrid"})
    with temporary_home(home):
        landed = landing.keep(feed, YEAR_2024, gtfs.fetch(feed, YEAR_2024))
    moved = _feed(f"{server.base_url}/gtfs/", urls={"{year}/vienna.zip": "vienna"})
    with pytest.raises(FeedError, match=r"2024/madrid\.zip is not a URL of the feed's URL-to-city mapping"):
        gtfs.parse(duckdb.connect(), landed, moved, YEAR_2024)


def test_an_html_page_where_the_zip_should_be_is_a_clear_error_and_the_page_is_kept(tmp_path, httpserver):
    httpserver.expect_request("/gtfs/madrid.zip").respond_with_data(
        "<!DOCTYPE html><html><body>Please log in</body></html>", content_type="text/html")
    feed = _feed(httpserver.url_for("/gtfs/"), urls={"madrid.zip": "madrid"})
    with temporary_home(tmp_path), pytest.raises(FeedError) as raised:
        gtfs.fetch(feed, YEAR_2024)
    message = str(raised.value)
    assert "feed 'test_gtfs_http'" in message and "an HTML page arrived where a zip was expected" in message
    assert httpserver.url_for("/gtfs/madrid.zip") in message
    rejected = tmp_path / "landing" / "gtfs" / "test_gtfs_http" / "2024" / "rejected"
    assert any(b"Please log in" in path.read_bytes() for path in rejected.iterdir() if path.suffix != ".json")


def test_a_city_url_without_a_zip_for_the_year_names_the_url_and_the_404(demo):
    home, server = demo
    feed = _feed(f"{server.base_url}/gtfs/", urls_file="{home}/feeds/demo/gtfs/urls.csv")
    with temporary_home(home), pytest.raises(FeedError, match=r"HTTP 404.*at .*/gtfs/2023/madrid\.zip"):
        gtfs.fetch(feed, Interval.of("2023-01-01", "2024-01-01"))
    assert not (home / "landing" / "gtfs" / "test_gtfs_http" / "2023" / "fetch.json").exists()


def test_a_rerun_asks_conditionally_and_lands_the_same_zips_unchanged(demo):
    home, server = demo
    feed = _feed(f"{server.base_url}/gtfs/", urls_file="{home}/feeds/demo/gtfs/urls.csv")
    first, _ = _ingest(feed, YEAR_2024, home)
    with temporary_home(home):
        again = gtfs.fetch(feed, YEAR_2024)
        rerun = landing.keep(feed, YEAR_2024, again)
    assert [payload.http["status"] for payload in again] == [304, 304]
    assert [p.sha256 for p in rerun] == [p.sha256 for p in first]
    manifest = home / "landing" / "gtfs" / "test_gtfs_http" / "2024" / "fetch.json"
    assert '"changed": false' in manifest.read_text(encoding="utf-8")
