"""`eea_air` over HTTP: the EEA Air Quality Download Service's calls (ParquetFile/urls, then each
Parquet file), against the demo feed server's `/eea/` routes (the demo's own files) and, for what
the demo does not send (a rejected query, an HTML page instead of Parquet, a list of non-URLs),
against pytest-httpserver."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import duckdb
import pytest
from werkzeug import Response

from citypeers import landing
from citypeers.demo import serve_eea
from citypeers.demo.feed_server import DemoRequest, serve
from citypeers.demo.generator import generate
from citypeers.errors import FeedError
from citypeers.feeds import eea_air
from citypeers.feeds.notices import Notices
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.citypeers_home import temporary_home

CITIES = ["madrid", "lisbon"]
YEAR_2024 = Interval.of("2024-01-01", "2025-01-01")
DAY = Interval.of("2025-06-10", "2025-06-11")
PM25_URL = "http://dd.eionet.europa.eu/vocabulary/aq/pollutant/6001"
READINGS = "station_id, city_id, pollutant, measured_at_utc, local_date, value, unit, is_valid"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("eea_demo")
    generate(home, years=(2024, 2025), cities=CITIES)
    return home


@pytest.fixture(scope="module")
def server(demo_home):
    running = serve(demo_home, 0, rate_limit_every=0, modules=("citypeers.demo.serve_eea",))
    yield running
    running.shutdown()


def _feed(location: str, home: Path | None = None, **options) -> Feed:
    """A feed with the demo's sampling point → station → city mapping (stations.csv)."""
    rows = list(csv.DictReader((home / "feeds/demo/eea_air/stations.csv").open(encoding="utf-8"))) if home else []
    return Feed(
        feed_id="test_eea_download",
        source="eea_air",
        location=location,
        schedule="@daily",
        stations={row["station_id"]: row["city_id"] for row in rows},
        sampling_points={row["sampling_point"]: row["station_id"] for row in rows},
        options={"countries": ["ES", "PT"], **options},
    )


def _ingest(feed: Feed, interval: Interval, home: Path) -> tuple[list, duckdb.DuckDBPyConnection, Notices]:
    """fetch → landing.keep → parse, as `citypeers ingest` runs them, below a temporary home."""
    with temporary_home(home):
        landed = landing.keep(feed, interval, eea_air.fetch(feed, interval))
    con = duckdb.connect()
    notices = Notices(feed.feed_id, interval.label)
    con.register("parsed", eea_air.parse(con, landed, feed, interval, notices=notices))
    return landed, con, notices


def _urls_request(body: dict, home: Path) -> DemoRequest:
    return DemoRequest("POST", "/eea/ParquetFile/urls", {}, {}, json.dumps(body).encode(), "http://demo", home)


def _index(demo_home: Path) -> list[dict]:
    return json.loads((serve_eea.service_dir(demo_home) / "files.json").read_text(encoding="utf-8"))


# --- the request ------------------------------------------------------------------------------------


def test_urls_request_bodies_carry_the_interval_dataset_numbers_and_pollutant_vocabulary_urls():
    feed = _feed("http://service", cities=["Madrid"], pollutants=["PM2.5"], dataset=["E1a", "E2a"])
    verified, up_to_date = eea_air.download_requests(feed, YEAR_2024)
    assert verified == {
        "countries": ["ES", "PT"], "cities": ["Madrid"], "pollutants": [PM25_URL], "dataset": 2, "source": "API",
        "dateTimeStart": "2024-01-01T00:00:00Z", "dateTimeEnd": "2025-01-01T00:00:00Z", "aggregationType": "hour",
    }
    assert up_to_date == verified | {"dataset": 1}
    (day,) = eea_air.download_requests(_feed("http://service", dataset="E2a"), DAY)
    assert (day["dataset"], day["dateTimeStart"], day["dateTimeEnd"]) == (1, "2025-06-10T00:00:00Z",
                                                                          "2025-06-11T00:00:00Z")
    assert len(day["pollutants"]) == 3 and day["cities"] == []


def test_the_request_posted_is_the_json_body_for_the_interval(httpserver, tmp_path):
    feed = _feed(httpserver.url_for("/api"), dataset="E2a")
    (body,) = eea_air.download_requests(feed, DAY)
    httpserver.expect_request("/api/ParquetFile/urls", method="POST", json=body).respond_with_data(
        "\ufeffParquetFileUrl\r\n", content_type="text/csv")
    with temporary_home(tmp_path):
        payloads = eea_air.fetch(feed, DAY)
    assert [p.http["status"] for p in payloads] == [200] and payloads[0].request.startswith("POST ")


@pytest.mark.parametrize(("options", "problem"), [
    ({"countries": []}, "options.countries is empty"),
    ({"pollutants": ["O3"]}, "options.pollutants O3 not read by eea_air"),
    ({"dataset": "E1b"}, "options.dataset E1b is not E1a or E2a"),
])
def test_a_query_the_parser_could_not_use_is_refused_before_asking(options, problem):
    with pytest.raises(FeedError, match=re.escape(problem)):
        eea_air.download_requests(_feed("http://service", **options), DAY)


# --- the demo service -------------------------------------------------------------------------------


def test_yearly_ingest_lands_the_list_and_every_listed_file_with_its_hash(server, demo_home, tmp_path):
    feed = _feed(f"{server.base_url}/eea", demo_home, dataset=["E1a", "E2a"])
    landed, con, notices = _ingest(feed, YEAR_2024, tmp_path)
    lists = [p for p in landed if eea_air.is_file_list(p)]
    files = [p for p in landed if eea_air.is_parquet(p)]
    expected = sorted(f"{server.base_url}/eea/files/{entry['file']}" for entry in _index(demo_home)
                      if entry["dataset"] == "E1a")  # the E2a files hold 2025 only
    assert len(lists) == 2 and sorted(p.request for p in files) == expected
    served = serve_eea.service_dir(demo_home)
    for payload in files:
        body = (served / payload.request.split("/eea/files/", 1)[1]).read_bytes()
        landed_bytes = payload.path.read_bytes()
        assert payload.sha256 == hashlib.sha256(body).hexdigest() == hashlib.sha256(landed_bytes).hexdigest()
    manifest = json.loads((landed[0].path.parent / "fetch.json").read_text(encoding="utf-8"))
    assert {entry["sha256"] for entry in manifest["payloads"]} == {p.sha256 for p in landed}
    assert con.sql("SELECT count(*), count(parse_error), count(DISTINCT city_id) FROM parsed").fetchone()[1:] == (0, 2)
    assert notices.found == []


def test_demo_service_files_give_the_same_readings_as_the_demo_csvs(server, demo_home, tmp_path):
    feed = _feed(f"{server.base_url}/eea", demo_home, dataset=["E1a", "E2a"])
    for interval in (YEAR_2024, Interval.of("2025-01-01", "2026-01-01")):
        _, con, _ = _ingest(feed, interval, tmp_path / interval.label)
        csv_feed = _feed(str(demo_home / "feeds/demo/eea_air/{year}/*.csv"), demo_home)
        _, csv_con, _ = _ingest(csv_feed, interval, tmp_path / f"csv{interval.label}")
        from_http = con.sql(f"SELECT {READINGS} FROM parsed ORDER BY ALL").fetchall()
        assert from_http == csv_con.sql(f"SELECT {READINGS} FROM parsed ORDER BY ALL").fetchall()
        assert len(from_http) > 8760 * 4  # 4 stations, 3 pollutants, hours missing on purpose


def test_e2a_daily_ingest_reads_only_that_day_from_year_long_files(server, demo_home, tmp_path):
    feed = _feed(f"{server.base_url}/eea", demo_home, dataset="E2a")
    with temporary_home(tmp_path):
        landed = landing.keep(feed, DAY, eea_air.fetch(feed, DAY))
    files = [str(p.path) for p in landed if eea_air.is_parquet(p)]
    counted = duckdb.connect()
    year_rows, day_rows = counted.execute(
        "SELECT count(*), count(*) FILTER (\"Start\" >= TIMESTAMP '2025-06-10 01:00' "
        "AND \"Start\" < TIMESTAMP '2025-06-11 01:00') FROM read_parquet(?)", [files]).fetchone()
    rows = eea_air.parse(duckdb.connect(), landed, feed, DAY).project("measured_at_utc").fetchall()
    assert {str(moment.date()) for (moment,) in rows} == {"2025-06-10"} and len(rows) <= 24 * 4 * 3

    # the parser's Parquet scan, profiled on its own: what it emits, and on which column it filters
    con = duckdb.connect()
    parquet = [p for p in landed if eea_air.is_parquet(p)]
    schema = dict(eea_air._parquet_schema(con, parquet[0], feed))
    scan_sql = eea_air._parquet_source_rows_sql(schema, parquet, feed, DAY)
    profile = tmp_path / "profile.json"
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{profile}'")
    con.sql(f"SELECT count(*) FROM ({scan_sql})").fetchall()
    con.execute("PRAGMA disable_profiling")

    def scans(node: dict) -> list[tuple[int, str]]:
        here = [(node["operator_cardinality"], str(node.get("extra_info", {}).get("Filters")))
                if node.get("operator_type") == "TABLE_SCAN" else ()]
        return [scan for scan in here if scan] + [s for child in node.get("children", []) for s in scans(child)]

    emitted, filters = max(scans(json.loads(profile.read_text(encoding="utf-8"))))
    assert year_rows > 100 * day_rows and emitted == day_rows  # the files hold the year, the scan emits the day
    # on the file's own column, so that row-group statistics can skip the rest of a long file
    assert "Start>='2025-06-1001:00:00'::TIMESTAMP" in filters.replace(" ", ""), filters


def test_an_empty_list_is_zero_rows_and_a_warning_notice(server, demo_home, tmp_path):
    feed = _feed(f"{server.base_url}/eea", demo_home, dataset="E1a")  # nothing verified for 2025 yet
    landed, con, notices = _ingest(feed, DAY, tmp_path)
    assert [eea_air.is_file_list(p) for p in landed] == [True]
    assert con.sql("SELECT count(*) FROM parsed").fetchone()[0] == 0
    (notice,) = notices.found
    assert (notice.code, notice.severity) == ("no_parquet_files_listed", "warning")
    assert "dataset E1a, countries ES, PT, 2025-06-10T00:00:00Z to 2025-06-11T00:00:00Z" in notice.message


def test_a_rerun_of_the_period_gets_304s_and_records_it_unchanged(server, demo_home, tmp_path):
    feed = _feed(f"{server.base_url}/eea", demo_home, dataset="E2a", cities=["Lisbon"])
    _ingest(feed, DAY, tmp_path)
    with temporary_home(tmp_path):
        payloads = eea_air.fetch(feed, DAY)
        landing.keep(feed, DAY, payloads)
        manifest = json.loads((landing.period_dir(feed, DAY) / "fetch.json").read_text(encoding="utf-8"))
    assert [p.http["status"] for p in payloads if p.suffix == ".parquet"] == [304] * 6  # 2 stations, 3 pollutants
    assert manifest["changed"] is False


def test_urls_route_lists_only_files_overlapping_the_dates_of_the_dataset(demo_home):
    def ask(**body) -> list[str]:
        answer = serve_eea.parquet_urls(_urls_request(body, demo_home), re.match("", ""))
        text = answer.body.decode("utf-8")
        assert answer.status == 200 and text.startswith("\ufeffParquetFileUrl\r\n")
        return text.split("\r\n")[1:-1]

    day = {"dateTimeStart": "2025-06-10T00:00:00Z", "dateTimeEnd": "2025-06-11T00:00:00Z"}
    assert len(ask(countries=["PT"], dataset=1, **day)) == 6
    assert ask(countries=["PT"], dataset=2, **day) == []
    assert ask(countries=["PT"], dataset=1, pollutants=[PM25_URL], **day) == [
        "http://demo/eea/files/E2a/PT/SPO-PT9061A_06001_100.parquet",
        "http://demo/eea/files/E2a/PT/SPO-PT9062A_06001_100.parquet",
    ]
    assert ask(countries=["PT"], cities=["Lisbon"], dataset=1, pollutants=["PM2.5"], **day) == ask(
        countries=["PT"], dataset=1, pollutants=["6001"], **day)
    assert ask(countries=["ES"], cities=["Lisbon"], dataset=1, **day) == []


@pytest.mark.parametrize(("body", "message"), [
    ({"countries": ["ES"], "dataset": 4}, "dataset 4 is not 1 (E2a, up to date), 2 (E1a, verified) or 3"),
    ({"countries": ["ES"], "dataset": 1, "dateTimeStart": "10/06/2025"}, "dateTimeStart '10/06/2025' is not"),
    ({"countries": ["ES"], "dataset": 1, "dateTimeStart": "2025-06-11T00:00:00Z",
      "dateTimeEnd": "2025-06-10T00:00:00Z"}, "dateTimeEnd 2025-06-10T00:00:00Z is not after"),
])
def test_urls_route_rejects_a_query_with_a_validation_problem(demo_home, body, message):
    answer = serve_eea.parquet_urls(_urls_request(body, demo_home), re.match("", ""))
    problems = json.loads(answer.body)["errors"]
    assert answer.status == 400 and any(message in text for texts in problems.values() for text in texts)


# --- what a real service may send ------------------------------------------------------------------


def _rejected(httpserver, tmp_path, **response) -> FeedError:
    httpserver.expect_request("/api/ParquetFile/urls", method="POST").respond_with_response(Response(**response))
    feed = _feed(httpserver.url_for("/api"), countries=["XX"])
    with temporary_home(tmp_path), pytest.raises(FeedError) as raised:
        eea_air.fetch(feed, DAY)
    assert not (landing.period_dir(feed, DAY) / "fetch.json").exists()  # nothing landed for the period
    return raised.value


def test_a_query_the_service_rejects_is_a_feed_error_naming_feed_url_status_and_message(httpserver, tmp_path):
    error = _rejected(httpserver, tmp_path, response="Unknown country code 'XX'.\n", status=400,
                      content_type="text/plain")
    message = str(error)
    assert "feed 'test_eea_download'" in message and "HTTP 400 BAD REQUEST: Unknown country code 'XX'." in message
    assert error.where == f"POST {httpserver.url_for('/api/ParquetFile/urls')}"
    assert error.retryable is False  # the same query gets the same answer: the task fails at once
    assert Path(re.search(r"kept in (\S+)\)?", error.problem).group(1).rstrip(")")).exists()


def test_a_rejected_query_answered_with_problem_details_carries_the_services_message(httpserver, tmp_path):
    problem = {"title": "One or more validation errors occurred.", "status": 400,
               "errors": {"countries": ["Unknown country code 'XX'."]}}
    error = _rejected(httpserver, tmp_path, response=json.dumps(problem), status=400,
                      content_type="application/problem+json")
    assert "HTTP 400 BAD REQUEST: countries: Unknown country code 'XX'." in str(error)


def test_an_html_page_at_a_parquet_url_is_a_feed_error_and_the_page_is_kept(httpserver, tmp_path):
    parquet_url = httpserver.url_for("/blob/ES/SPO-1.parquet")
    httpserver.expect_request("/api/ParquetFile/urls", method="POST").respond_with_data(
        f"\ufeffParquetFileUrl\r\n{parquet_url}\r\n", content_type="text/csv")
    httpserver.expect_request("/blob/ES/SPO-1.parquet").respond_with_response(
        Response("<!DOCTYPE html><html><body>Sign in</body></html>", content_type="text/html"))
    feed = _feed(httpserver.url_for("/api"), dataset="E2a")
    with temporary_home(tmp_path), pytest.raises(FeedError) as raised:
        eea_air.fetch(feed, DAY)
    message = str(raised.value)
    assert "an HTML page arrived where a Parquet file was expected" in message and "HTTP 200" in message
    assert raised.value.where == parquet_url
    kept = Path(re.search(r"kept in (\S+)", message).group(1))
    assert kept.read_bytes().startswith(b"<!DOCTYPE html>")


def test_a_list_of_things_that_are_not_urls_is_a_feed_error(httpserver, tmp_path):
    httpserver.expect_request("/api/ParquetFile/urls", method="POST").respond_with_data(
        "ParquetFileUrl\nsee the documentation\n", content_type="text/csv")
    with temporary_home(tmp_path), pytest.raises(FeedError, match="lines that are not URLs"):
        eea_air.fetch(_feed(httpserver.url_for("/api"), dataset="E2a"), DAY)
