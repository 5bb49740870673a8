"""OpenAQ v3 feed: parse the real API fixtures, and fetch + parse against the demo server."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from citypeers import paths
from citypeers.demo import generate
from citypeers.demo.openaq_server import serve
from citypeers.errors import FeedError
from citypeers.feeds import PARSED_AIR_COLUMNS, openaq_air
from citypeers.feeds.payloads import LandedPayload
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.citypeers_home import temporary_home
from tests.unit.landed import land, landed_file

FIXTURES = paths.REPO_ROOT.parent / "shared" / "data" / "openaq_v3_fixtures"
FIXTURE_DAY = Interval.of("2023-10-16", "2023-10-17")
SENSORS_URL = "http://api.test/v3/locations/2178/sensors?limit=1000&page=1"
WINDOW = "datetime_from=2023-10-16T00:00:00Z&datetime_to=2023-10-17T00:00:00Z&limit=1000&page=1"
TWO_WEEKS = Interval.of("2024-01-01", "2024-01-15")


def _fixture(name: str) -> Path:
    path = FIXTURES / name
    if not path.exists():
        pytest.fail(
            f"the real OpenAQ fixture is missing: {path} (the tests need ../shared/data next to the repo)"
        )
    return path




def _measurements_url(sensor_id: int) -> str:
    return f"http://api.test/v3/sensors/{sensor_id}/measurements?{WINDOW}"


def _fixture_feed(stations: dict[str, str] | None = None) -> Feed:
    return Feed(
        feed_id="test_openaq",
        source="openaq_air",
        location="http://api.test/v3",
        schedule="@daily",
        stations={"2178": "madrid"} if stations is None else stations,
    )




def test_real_fixture_measurements_parse_into_contract_rows():
    payloads = [
        landed_file(_fixture("sensors.json"), SENSORS_URL),
        landed_file(_fixture("measurements.json"), _measurements_url(3920)),
    ]
    con = duckdb.connect()
    rows = openaq_air.parse(con, payloads, _fixture_feed(), FIXTURE_DAY)
    assert list(zip(rows.columns, map(str, rows.types), strict=True)) == list(PARSED_AIR_COLUMNS)
    assert rows.project(
        "station_id, city_id, pollutant, strftime(measured_at_utc, '%H:%M'), local_date::VARCHAR, value, "
        "unit, is_valid, source_row, parse_error"
    ).fetchall() == [
        ("2178", "madrid", "pm25", "12:00", "2023-10-16", 6.0, "µg/m³", True, 0, None),
        ("2178", "madrid", "pm25", "13:00", "2023-10-16", 7.5, "µg/m³", True, 1, None),
    ]


def test_sensor_parameter_and_unit_come_from_the_sensors_page(tmp_path):
    """The fixture's NO₂ sensor 3916 reports ppm; a page that omits `parameter` still converts."""
    result = json.loads(_fixture("measurements.json").read_text(encoding="utf-8"))["results"][0]
    del result["parameter"]
    result["value"] = 0.02
    page = tmp_path / "no2.json"
    page.write_text(json.dumps({"meta": {}, "results": [result]}), encoding="utf-8")
    payloads = [landed_file(_fixture("sensors.json"), SENSORS_URL), landed_file(page, _measurements_url(3916))]
    rows = openaq_air.parse(duckdb.connect(), payloads, _fixture_feed(), FIXTURE_DAY)
    pollutant, source_unit, value = rows.project("pollutant, source_unit, value").fetchone()
    assert (pollutant, source_unit) == ("no2", "ppm")
    assert value == pytest.approx(0.02 * 1912.5, rel=1e-3)


def test_unmapped_location_becomes_a_row_with_parse_error():
    payloads = [
        landed_file(_fixture("sensors.json"), SENSORS_URL),
        landed_file(_fixture("measurements.json"), _measurements_url(3920)),
    ]
    rows = openaq_air.parse(duckdb.connect(), payloads, _fixture_feed({"1": "madrid"}), FIXTURE_DAY)
    assert {r for r in rows.project("city_id, parse_error").fetchall()} == {
        (None, "station 2178 is not mapped to a city in feed test_openaq")
    }


def test_measurements_of_an_unlisted_sensor_raise_feed_error():
    payloads = [
        landed_file(_fixture("sensors.json"), SENSORS_URL),
        landed_file(_fixture("measurements.json"), _measurements_url(42)),
    ]
    with pytest.raises(FeedError, match="sensor 42, which no landed sensors page lists"):
        openaq_air.parse(duckdb.connect(), payloads, _fixture_feed(), FIXTURE_DAY)


@pytest.fixture(scope="module")
def demo_api(tmp_path_factory):
    """Seoul's two demo locations (NO₂ in ppm) served in-process on a free port; 429 every 10th request."""
    home = tmp_path_factory.mktemp("home")
    generate(home, years=(2024,), cities=["seoul"])
    server = serve(home, 0, rate_limit_every=10)
    yield home, server
    server.shutdown()


@pytest.fixture(scope="module")
def fetched(demo_api, tmp_path_factory):
    home, server = demo_api
    with (home / "feeds" / "demo" / "openaq_air" / "stations.csv").open(encoding="utf-8") as handle:
        stations = {row["station_id"]: row["city_id"] for row in csv.DictReader(handle)}
    feed = Feed(
        feed_id="demo_asia",
        source="openaq_air",
        location=server.base_url,
        schedule="@weekly",
        stations=stations,
        options={"page_limit": 100},
    )
    start = len(server.request_log)
    landing_home = tmp_path_factory.mktemp("home")
    with temporary_home(landing_home):  # the fetch layer streams into the period's landing folder
        payloads = openaq_air.fetch(feed, TWO_WEEKS)
    log = list(server.request_log)[start:]
    return feed, land(feed, TWO_WEEKS, payloads, landing_home), log


def test_fetch_pages_through_every_sensor_and_parse_keeps_every_hour(demo_api, fetched):
    home, _ = demo_api
    feed, landed, _ = fetched
    con = duckdb.connect()
    dataset = home / "feeds" / "demo" / "openaq_air" / "measurements.parquet"
    served, expected_pages, sensors = con.sql(
        f"SELECT sum(hours), sum(hours // 100 + 1), count(*) FROM ("
        f"SELECT sensor_id, count(*) AS hours FROM read_parquet('{dataset}') "
        "WHERE datetime_utc >= '2024-01-01' AND datetime_utc < '2024-01-15' GROUP BY sensor_id)"
    ).fetchone()
    measurement_pages = [p for p in landed if "/measurements" in p.request]
    assert sensors == 6 and len(measurement_pages) == expected_pages > sensors  # pages until one is short
    con.register("parsed", openaq_air.parse(con, landed, feed, TWO_WEEKS))
    rows, distinct, errors, cities = con.sql(
        "SELECT count(*), count(DISTINCT (station_id, pollutant, measured_at_utc)), count(parse_error), "
        "list(DISTINCT city_id) FROM parsed"
    ).fetchone()
    assert rows == distinct == served and errors == 0 and cities == ["seoul"]


def test_no2_in_ppm_is_converted_to_micrograms(fetched):
    feed, landed, _ = fetched
    con = duckdb.connect()
    con.register("parsed", openaq_air.parse(con, landed, feed, TWO_WEEKS))
    units_seen, ratio = con.sql(
        "SELECT list(DISTINCT source_unit), avg(value / source_value) FROM parsed "
        "WHERE pollutant = 'no2' AND source_value > 0"
    ).fetchone()
    assert units_seen == ["ppm"] and ratio == pytest.approx(1912.5, rel=1e-3)


def test_rate_limited_request_is_retried_after_the_retry_after_delay(fetched):
    *_, log = fetched
    limited = [(i, moment, path) for i, (moment, path, status) in enumerate(log) if status == 429]
    assert limited, "the demo server should have rate-limited at least one request"
    for index, moment, path in limited:
        retried_at, retried_path, status = log[index + 1]
        assert retried_path == path and status == 200
        assert retried_at - moment >= 0.9  # Retry-After: 1, not the backoff's fraction of a second


def test_malformed_json_page_raises_feed_error(fetched, tmp_path):
    feed, landed, _ = fetched
    page = next(p for p in landed if "/measurements" in p.request)
    broken = tmp_path / "broken.json"
    broken.write_bytes(page.path.read_bytes()[:5000])
    damaged = [LandedPayload(broken, page.sha256, page.request) if p is page else p for p in landed]
    with pytest.raises(FeedError, match="malformed JSON") as raised:
        openaq_air.parse(duckdb.connect(), damaged, feed, TWO_WEEKS)
    assert "broken.json line 1 column" in raised.value.where and page.request in raised.value.where


def test_measurement_without_value_field_raises_feed_error(fetched, tmp_path):
    feed, landed, _ = fetched
    page = next(p for p in landed if "/measurements" in p.request)
    document = json.loads(page.path.read_bytes())
    del document["results"][3]["value"]
    edited = tmp_path / "no_value.json"
    edited.write_text(json.dumps(document), encoding="utf-8")
    damaged = [landed_file(edited, page.request) if p is page else p for p in landed]
    with pytest.raises(FeedError, match="a measurement without value") as raised:
        openaq_air.parse(duckdb.connect(), damaged, feed, TWO_WEEKS)
    assert "results[3].value" in raised.value.where


def test_unknown_location_raises_feed_error_with_the_http_status(demo_api, tmp_path):
    _, server = demo_api
    feed = Feed(
        feed_id="demo_asia",
        source="openaq_air",
        location=server.base_url,
        schedule="@weekly",
        stations={"123": "seoul"},
        options={"page_limit": 100},
    )
    with temporary_home(tmp_path), pytest.raises(FeedError, match="HTTP 404"):
        openaq_air.fetch(feed, TWO_WEEKS)


def test_undefined_api_key_connection_raises_feed_error_before_any_request(demo_api, monkeypatch, tmp_path):
    _, server = demo_api
    monkeypatch.delenv("AIRFLOW_CONN_CITYPEERS_TEST_OPENAQ", raising=False)
    feed = Feed(
        feed_id="demo_asia",
        source="openaq_air",
        location=server.base_url,
        schedule="@weekly",
        stations={"900191": "seoul"},
        options={"connection": "citypeers_test_openaq"},
    )
    requests_before = len(server.request_log)
    with temporary_home(tmp_path), pytest.raises(FeedError, match="citypeers_test_openaq") as raised:
        openaq_air.fetch(feed, TWO_WEEKS)
    assert "AIRFLOW_CONN_CITYPEERS_TEST_OPENAQ" in str(raised.value)
    assert len(server.request_log) == requests_before


def test_an_implausible_no2_value_is_judged_in_micrograms_after_the_ppm_conversion(tmp_path):
    """2 ppm of NO₂ is 3,825 µg/m³, above the plausible 2,000: quarantined with its code, recorded as
    a flagged notice; 0.2 ppm (383 µg/m³) passes."""
    from citypeers.feeds.notices import Notices

    results = json.loads(_fixture("measurements.json").read_text(encoding="utf-8"))["results"]
    for result, value in zip(results, (2.0, 0.2), strict=True):
        del result["parameter"]
        result["value"] = value
    page = tmp_path / "no2.json"
    page.write_text(json.dumps({"meta": {}, "results": results}), encoding="utf-8")
    payloads = [landed_file(_fixture("sensors.json"), SENSORS_URL), landed_file(page, _measurements_url(3916))]
    found = Notices("test_openaq", FIXTURE_DAY.label)
    rows = openaq_air.parse(duckdb.connect(), payloads, _fixture_feed(), FIXTURE_DAY, notices=found)
    assert [(round(value), error and error.split(":")[0]) for value, error in rows.project(
        "value, parse_error").fetchall()] == [(3825, "implausible_value"), (383, None)]
    assert [(n.code, n.severity, n.file, n.row) for n in found.found if n.severity == "flagged"] == [
        ("implausible_value", "flagged", "sensors/3916/measurements?page=1", 0)]
