"""Finding a city's OpenAQ locations (`citypeers openaq-locations`): the query around the registry's
coordinates, with the key from an Airflow Connection, and only locations measuring our pollutants."""

from __future__ import annotations

import copy
import io
import json

import pytest
from pytest_httpserver import HTTPServer

from citypeers import paths
from citypeers.errors import FeedError
from citypeers.feeds.openaq_locations import city_locations, write_csv

FIXTURE = paths.REPO_ROOT.parent / "shared" / "data" / "openaq_v3_fixtures" / "locations.json"


def _answer() -> dict:
    """The real /v3/locations response (../shared/data), as two locations near Madrid: the real one
    (PM2.5 among its sensors) and a copy measuring only SO₂, which must be left out."""
    if not FIXTURE.exists():
        pytest.fail(f"the real OpenAQ fixture is missing: {FIXTURE} (../shared/data beside the project)")
    document = json.loads(FIXTURE.read_text(encoding="utf-8"))
    real = document["results"][0]
    real["coordinates"] = {"latitude": 40.4238, "longitude": -3.7122}
    so2_only = copy.deepcopy(real)
    so2_only.update(id=99, name="SO2 only", coordinates={"latitude": 40.4168, "longitude": -3.7038})
    so2_only["sensors"] = [s for s in so2_only["sensors"] if s["parameter"]["name"] == "so2"]
    document["results"] = [so2_only, real]
    return document


def test_locations_near_the_city_with_our_pollutants_are_listed_with_the_key_from_the_connection(
        httpserver: HTTPServer, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_OPENAQ_TEST", json.dumps({"conn_type": "http", "password": "k-123"}))
    httpserver.expect_request(
        "/v3/locations", query_string={"coordinates": "40.4168,-3.7038", "radius": "25000", "limit": "1000"},
        headers={"X-API-Key": "k-123"},
    ).respond_with_json(_answer())
    rows = city_locations("madrid", httpserver.url_for("/v3"), connection="openaq_test")
    assert [(row["station_id"], row["city_id"]) for row in rows] == [("2178", "madrid")]
    assert rows[0]["name"] == "Del Norte" and 0.9 <= rows[0]["distance_km"] <= 1.2
    assert "pm25" in rows[0]["pollutants"].split(";")
    out = io.StringIO()
    write_csv(rows, out)
    assert out.getvalue().splitlines()[0] == "station_id,city_id,name,distance_km,pollutants"


def test_a_refused_key_is_an_error_naming_the_url_and_status(httpserver: HTTPServer):
    httpserver.expect_request("/v3/locations").respond_with_json({"detail": "invalid key"}, status=401)
    with pytest.raises(FeedError) as raised:
        city_locations("seoul", httpserver.url_for("/v3"))
    assert "HTTP 401" in str(raised.value) and "/v3/locations" in str(raised.value)
