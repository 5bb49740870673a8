"""File sources over HTTP: a feed whose location is a URL (with `{year}`) fetches through the fetch
layer from the demo feed server's `/files/` route, and a rerun of an unchanged file is skipped."""

from __future__ import annotations

import json

import duckdb
import pytest
import requests
import yaml

from citypeers import ingest, paths
from citypeers.demo.feed_server import serve
from citypeers.errors import FeedError
from tests.citypeers_home import temporary_home

YEAR_2024 = ("2024-01-01", "2025-01-01")
TEMPLATE = (
    "city,indicator_code,period,value,unit,source,note\n"
    "madrid,population,2024,3332035,resident,INE padrón 2024,\n"
    "valencia,msw_recycled_share,2024,31.5,%,Ajuntament de València,\n"
)


@pytest.fixture
def served_home(tmp_path, monkeypatch):
    """A home whose demo folder holds one template file per year, served on a free port, and a
    registry with one template feed fetched from it."""
    home = tmp_path / "home"
    folder = home / "feeds" / "demo" / "indicator_template"
    folder.mkdir(parents=True)
    (folder / "2024.csv").write_text(TEMPLATE, encoding="utf-8")
    server = serve(home, 0, rate_limit_every=0)
    registry = home / "feeds.yml"
    registry.write_text(yaml.safe_dump({"feeds": [{
        "feed_id": "city_stats", "source": "indicator_template", "schedule": "@yearly",
        "location": f"{server.root_url}/files/indicator_template/{{year}}.csv",
    }]}), encoding="utf-8")
    monkeypatch.setenv("CITYPEERS_FEEDS", str(registry))
    try:
        with temporary_home(home):
            yield home, server
    finally:
        server.shutdown()


def test_a_template_feed_at_a_url_is_fetched_landed_and_published(served_home):
    home, server = served_home
    outcome = ingest.ingest("city_stats", *YEAR_2024)
    assert (outcome["published"], outcome["quarantined"]) == (2, 0)
    manifest = json.loads((paths.landing_dir("indicator_template", "city_stats", "2024") / "fetch.json").read_text())
    (payload,) = manifest["payloads"]
    assert payload["request"] == f"{server.root_url}/files/indicator_template/2024.csv"
    assert payload["http"]["status"] == 200 and payload["http"]["bytes"] == len(TEMPLATE.encode())
    parsed = paths.parsed_file("indicator_template", "city_stats", "2024")
    rows = duckdb.sql(f"select city_id, source_ref from '{parsed}' order by city_id").fetchall()
    assert rows == [("madrid", "INE padrón 2024"), ("valencia", "Ajuntament de València")]


def test_a_rerun_of_an_unchanged_file_is_a_304_and_skips_parse_and_validate(served_home):
    home, server = served_home
    ingest.ingest("city_stats", *YEAR_2024)
    published = paths.parsed_file("indicator_template", "city_stats", "2024").stat().st_mtime_ns
    ingest.land("city_stats", *YEAR_2024)
    manifest = json.loads((paths.landing_dir("indicator_template", "city_stats", "2024") / "fetch.json").read_text())
    assert manifest["changed"] is False and manifest["payloads"][0]["http"]["status"] == 304
    assert ingest.parse("city_stats", *YEAR_2024).get("unchanged") is True
    assert ingest.validate("city_stats", *YEAR_2024).get("unchanged") is True
    assert paths.parsed_file("indicator_template", "city_stats", "2024").stat().st_mtime_ns == published


def test_a_changed_file_is_fetched_again_and_republished(served_home):
    home, server = served_home
    ingest.ingest("city_stats", *YEAR_2024)
    path = home / "feeds" / "demo" / "indicator_template" / "2024.csv"
    path.write_text(TEMPLATE + "seville,population,2024,684234,resident,INE padrón 2024,\n", encoding="utf-8")
    outcome = ingest.ingest("city_stats", *YEAR_2024)
    assert outcome["published"] == 3


def test_a_missing_file_names_the_feed_the_url_and_the_status(served_home):
    with pytest.raises(FeedError) as raised:
        ingest.land("city_stats", "2023-01-01", "2024-01-01")
    message = str(raised.value)
    assert "city_stats" in message and "/files/indicator_template/2023.csv" in message and "404" in message
    assert not paths.parsed_file("indicator_template", "city_stats", "2023").exists()


def test_the_files_route_never_serves_outside_the_demo_folder(served_home):
    home, server = served_home
    (home / "secret.txt").write_text("not for the web", encoding="utf-8")
    for path in ("/files/../../secret.txt", "/files/%2e%2e/%2e%2e/secret.txt"):
        response = requests.get(f"{server.root_url}{path}", timeout=10)
        assert response.status_code == 404 and "not for the web" not in response.text
