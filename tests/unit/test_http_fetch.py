"""The fetch layer (citypeers.feeds.http) against a real local HTTP server (pytest-httpserver):
streaming and hashing into the landing zone, conditional GET, retries honouring Retry-After, every
bad answer a FeedError naming feed, URL and status with the body kept, and the skip-unchanged rule
of the ingest steps (a 304 or identical bytes publish nothing new; a failed publish never counts)."""

from __future__ import annotations

import hashlib
import json
import textwrap
import time
from pathlib import Path

import pytest
from werkzeug import Request, Response

from citypeers import cli, ingest, landing, paths
from citypeers.errors import ContractError, FeedError
from citypeers.feeds import http
from citypeers.feeds.payloads import Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.citypeers_home import temporary_home

DAY = Interval.of("2023-10-16", "2023-10-17")
FIXTURES = paths.REPO_ROOT.parent / "shared" / "data" / "openaq_v3_fixtures"
EMPTY_PAGE = json.dumps({"meta": {"found": 0}, "results": []}).encode()
FAST = {"max_retries": 3, "backoff_factor": 0.01, "timeout_seconds": 5}


@pytest.fixture
def home(tmp_path: Path):
    with temporary_home(tmp_path / "home") as root:
        yield root


def _feed(httpserver, **options) -> Feed:
    return Feed(feed_id="http_test", source="openaq_air", location=httpserver.url_for("/v3"), schedule="@daily",
                options={**FAST, **options})


def _names_feed_url_and_status(error: FeedError, url: str, status: str) -> None:
    message = str(error)
    assert "feed 'http_test'" in message and url in message and status in message, message
    assert "what to do:" in message


def _kept_body(message: str) -> Path:
    """The path a FeedError says the rejected body is kept at."""
    kept = message.split("kept in ", 1)[1].split(" ", 1)[0].rstrip(";")
    return Path(kept)


# --- one request ---

def test_a_200_is_streamed_into_the_landing_folder_hashed_as_written_and_moved_into_place(home, httpserver):
    body = b'{"results": [1, 2, 3]}'
    headers = {"ETag": '"v1"', "Last-Modified": "Mon, 16 Oct 2023 00:00:00 GMT"}
    httpserver.expect_request("/v3/doc.json").respond_with_data(body, content_type="application/json", headers=headers)
    feed = _feed(httpserver)
    payload = http.get(feed, DAY, httpserver.url_for("/v3/doc.json"), expect="json")
    assert payload.sha256 == hashlib.sha256(body).hexdigest()
    assert payload.file.parent == landing.incoming_dir(feed, DAY) and payload.file.read_bytes() == body
    [landed] = landing.keep(feed, DAY, [payload])
    assert landed.path == landing.period_dir(feed, DAY) / f"{payload.sha256}.json" and landed.path.read_bytes() == body
    assert not payload.file.exists() and not landing.incoming_dir(feed, DAY).exists()  # renamed, not copied
    manifest = json.loads((landing.period_dir(feed, DAY) / landing.MANIFEST).read_text())
    record = manifest["payloads"][0]["http"]
    assert manifest["changed"] is True
    assert {k: record[k] for k in ("status", "etag", "last_modified", "content_type", "bytes")} == {
        "status": 200, "etag": '"v1"', "last_modified": "Mon, 16 Oct 2023 00:00:00 GMT",
        "content_type": "application/json", "bytes": len(body)}
    assert record["url"] == httpserver.url_for("/v3/doc.json") and record["elapsed_ms"] >= 0


def test_a_rerun_asks_conditionally_and_a_304_hands_back_the_landed_file_as_unchanged(home, httpserver):
    body = b'{"results": []}'
    url = httpserver.url_for("/v3/doc.json")
    httpserver.expect_ordered_request("/v3/doc.json").respond_with_data(
        body, content_type="application/json", headers={"ETag": '"v1"'})
    httpserver.expect_ordered_request("/v3/doc.json", headers={"If-None-Match": '"v1"'}).respond_with_data(
        b"", status=304, headers={"ETag": '"v1"'})
    feed = _feed(httpserver)
    [first] = landing.keep(feed, DAY, [http.get(feed, DAY, url, expect="json")])
    again = http.get(feed, DAY, url, expect="json")
    assert (again.file, again.sha256, again.http["status"]) == (first.path, first.sha256, 304)
    [second] = landing.keep(feed, DAY, [again])
    assert second.path == first.path and second.path.read_bytes() == body
    assert json.loads((landing.period_dir(feed, DAY) / landing.MANIFEST).read_text())["changed"] is False
    httpserver.check_assertions()


def test_a_200_with_identical_bytes_counts_as_unchanged_and_different_bytes_as_changed(home, httpserver):
    url = httpserver.url_for("/v3/doc.json")
    for body in (b'{"a": 1}', b'{"a": 1}', b'{"a": 2}'):
        httpserver.expect_ordered_request("/v3/doc.json").respond_with_data(body, content_type="application/json")
    feed = _feed(httpserver)
    changed = []
    for _ in range(3):
        landing.keep(feed, DAY, [http.get(feed, DAY, url, expect="json")])
        changed.append(json.loads((landing.period_dir(feed, DAY) / landing.MANIFEST).read_text())["changed"])
    assert changed == [True, False, True]


def test_a_429_is_retried_after_the_delay_retry_after_asks(home, httpserver, monkeypatch):
    """The server's log shows the 429 and the retry; the client slept as long as Retry-After said (7 s,
    recorded instead of waited), not the backoff's hundredths of a second."""
    import urllib3.util.retry

    slept = []
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", slept.append)
    httpserver.expect_ordered_request("/v3/doc.json").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"})
    httpserver.expect_ordered_request("/v3/doc.json").respond_with_data(b"[]", content_type="application/json")
    payload = http.get(_feed(httpserver), DAY, httpserver.url_for("/v3/doc.json"), expect="json")
    assert [response.status_code for _, response in httpserver.log] == [429, 200]
    assert slept == [7] and payload.http["status"] == 200


def test_a_500_is_retried_with_backoff_then_the_success_is_kept(home, httpserver):
    httpserver.expect_ordered_request("/v3/doc.json").respond_with_data("boom", status=500)
    httpserver.expect_ordered_request("/v3/doc.json").respond_with_data(b"[1]", content_type="application/json")
    payload = http.get(_feed(httpserver), DAY, httpserver.url_for("/v3/doc.json"), expect="json")
    assert [response.status_code for _, response in httpserver.log] == [500, 200]
    assert payload.file.read_bytes() == b"[1]"


def test_a_server_error_that_persists_names_the_status_and_the_retries(home, httpserver):
    httpserver.expect_request("/v3/doc.json").respond_with_data("down for maintenance", status=503)
    url = httpserver.url_for("/v3/doc.json")
    with pytest.raises(FeedError) as raised:
        http.get(_feed(httpserver, max_retries=2), DAY, url, expect="json")
    _names_feed_url_and_status(raised.value, url, "HTTP 503")
    assert "after 2 retries" in str(raised.value) and len(httpserver.log) == 3 and raised.value.retryable
    assert _kept_body(str(raised.value)).read_bytes() == b"down for maintenance"


def test_a_body_shorter_than_its_content_length_is_refused_and_kept(home, httpserver):
    def truncated(_: Request) -> Response:
        response = Response(b'{"results": [1, 2', content_type="application/json")
        response.headers["Content-Length"] = "4096"
        return response

    httpserver.expect_request("/v3/doc.json").respond_with_handler(truncated)
    url = httpserver.url_for("/v3/doc.json")
    with pytest.raises(FeedError) as raised:
        http.get(_feed(httpserver), DAY, url, expect="json")
    _names_feed_url_and_status(raised.value, url, "HTTP 200")
    assert "cut off after 17 of 4,096 bytes (Content-Length)" in str(raised.value)
    assert _kept_body(str(raised.value)).read_bytes() == b'{"results": [1, 2'


@pytest.mark.parametrize(("expect", "content_type", "body", "problem"), [
    ("zip", "text/html", b"<!DOCTYPE html><html><body>Sign in</body></html>",
     "an HTML page arrived where a zip was expected"),
    ("json", "text/csv", b"city,value\nmadrid,1\n", "JSON expected, got text/csv"),
    ("csv", "application/json", b'{"error": "unknown flow"}', "CSV expected, got application/json"),
    ("parquet", "application/octet-stream", b"PAR1 but cut", "a Parquet file was expected"),
])
def test_a_body_of_the_wrong_type_is_refused_with_what_arrived_and_kept(
        home, httpserver, expect, content_type, body, problem):
    httpserver.expect_request("/v3/file").respond_with_data(body, content_type=content_type)
    url = httpserver.url_for("/v3/file")
    feed = _feed(httpserver)
    with pytest.raises(FeedError) as raised:
        http.get(feed, DAY, url, expect=expect)
    _names_feed_url_and_status(raised.value, url, "HTTP 200")
    assert problem in str(raised.value)
    kept = _kept_body(str(raised.value))
    assert kept.parent == landing.rejected_dir(feed, DAY) and kept.read_bytes() == body
    assert json.loads(kept.with_name(kept.name + ".request.json").read_text())["url"] == url


@pytest.mark.parametrize(("status", "meaning"), [(404, "nothing at this URL"), (410, "gone for good")])
def test_a_missing_or_gone_file_names_the_status_and_keeps_the_error_page(home, httpserver, status, meaning):
    httpserver.expect_request("/v3/gtfs.zip").respond_with_data(
        "<html><body>Not here</body></html>", status=status, content_type="text/html")
    url = httpserver.url_for("/v3/gtfs.zip")
    with pytest.raises(FeedError) as raised:
        http.get(_feed(httpserver), DAY, url, expect="zip")
    _names_feed_url_and_status(raised.value, url, f"HTTP {status}")
    assert meaning in str(raised.value) and len(httpserver.log) == 1  # not retried
    assert raised.value.retryable is False  # the ingest DAG fails at once, without task retries
    assert _kept_body(str(raised.value)).suffix == ".html"


def test_a_redirect_loop_is_refused_naming_the_loop(home, httpserver):
    httpserver.expect_request("/v3/a").respond_with_data("", status=302, headers={"Location": "/v3/b"})
    httpserver.expect_request("/v3/b").respond_with_data("", status=302, headers={"Location": "/v3/a"})
    url = httpserver.url_for("/v3/a")
    with pytest.raises(FeedError) as raised:
        http.get(_feed(httpserver), DAY, url, expect="zip")
    _names_feed_url_and_status(raised.value, url, "HTTP 302")
    assert f"redirect loop: more than {http.MAX_REDIRECTS} redirects" in str(raised.value)


def test_a_server_that_does_not_answer_in_time_fails_with_no_status_and_the_timeout(home, httpserver):
    def slow(_: Request) -> Response:
        time.sleep(1.5)
        return Response(b"[]", content_type="application/json")

    httpserver.expect_request("/v3/slow.json").respond_with_handler(slow)
    url = httpserver.url_for("/v3/slow.json")
    with pytest.raises(FeedError) as raised:
        http.get(_feed(httpserver, timeout_seconds=0.3, max_retries=0), DAY, url, expect="json")
    _names_feed_url_and_status(raised.value, url, "no HTTP status")
    assert "no answer within the timeout of 0.3 s" in str(raised.value) and "after 0 retries" in str(raised.value)


def test_a_refused_connection_is_retried_then_fails_with_no_status(home, httpserver):
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/v3/doc.json"  # nobody listens once closed
    with pytest.raises(FeedError) as raised:
        http.get(_feed(httpserver, max_retries=2), DAY, url, expect="json")
    _names_feed_url_and_status(raised.value, url, "no HTTP status")
    assert "Connection refused, after 2 retries" in str(raised.value) and "timeout" not in str(raised.value)


def test_a_body_above_max_bytes_is_refused_whether_declared_or_streamed(home, httpserver):
    body = b"x" * 5000
    httpserver.expect_request("/v3/declared.csv").respond_with_data(body, content_type="text/csv")
    httpserver.expect_request("/v3/streamed.csv").respond_with_response(
        Response(iter([body[:2500], body[2500:]]), content_type="text/csv"))  # no Content-Length
    feed = _feed(httpserver, max_bytes=1000)
    for path, problem in (("/v3/declared.csv", "Content-Length 5,000 bytes, above options.max_bytes 1,000"),
                          ("/v3/streamed.csv", "passed options.max_bytes (1,000 bytes)")):
        with pytest.raises(FeedError) as raised:
            http.get(feed, DAY, httpserver.url_for(path), expect="csv")
        _names_feed_url_and_status(raised.value, httpserver.url_for(path), "HTTP 200")
        assert problem in str(raised.value)
    assert not list(landing.incoming_dir(feed, DAY).glob("*"))  # no partial file left behind


def test_the_api_key_comes_from_the_airflow_connection_in_the_environment(home, httpserver, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HTTP_TEST_KEY", json.dumps({"conn_type": "http", "password": "key-123456"}))
    httpserver.expect_request("/v3/doc.json", headers={"X-API-Key": "key-123456"}).respond_with_data(
        b"[]", content_type="application/json")
    payload = http.get(_feed(httpserver, connection="http_test_key"), DAY, httpserver.url_for("/v3/doc.json"),
                       expect="json")
    assert payload.http["status"] == 200
    assert httpserver.log[0][0].headers["User-Agent"].startswith("citypeers/")


# --- the ingest steps over HTTP: skip unchanged, nothing published on failure ---

class OpenAqApi:
    """The real OpenAQ fixtures behind ETags: location 2178's sensors, PM2.5 sensor 3920's day of
    measurements, empty pages for its NO₂ and PM10 sensors; a 304 when the ETag matches."""

    def __init__(self, httpserver, etags: bool = True, value: float | None = None):
        self.etags = etags
        self.sensors = (FIXTURES / "sensors.json").read_bytes()
        self.measurements = (FIXTURES / "measurements.json").read_bytes()
        if value is not None:  # every measurement of the day at this value
            page = json.loads(self.measurements)
            for result in page["results"]:
                result["value"] = value
            self.measurements = json.dumps(page).encode()
        httpserver.expect_request("/v3/locations/2178/sensors").respond_with_handler(self.answer)
        for sensor in (3916, 3919, 3920):
            httpserver.expect_request(f"/v3/sensors/{sensor}/measurements").respond_with_handler(self.answer)

    def answer(self, request: Request) -> Response:
        body = self.sensors if request.path.endswith("/sensors") else (
            self.measurements if "/3920/" in request.path else EMPTY_PAGE)
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if self.etags and request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, content_type="application/json", headers={"ETag": etag} if self.etags else {})


@pytest.fixture
def registry(tmp_path: Path, httpserver, monkeypatch):
    """A feeds.yml with one OpenAQ feed on the local server, and the home it lands in."""
    if not FIXTURES.exists():
        pytest.fail(f"the real OpenAQ fixtures are missing: {FIXTURES}")

    def write(**options) -> None:
        options = {**FAST, "page_limit": 1000, **options}
        (tmp_path / "feeds.yml").write_text(textwrap.dedent(f"""
            feeds:
              - feed_id: http_test
                source: openaq_air
                location: "{httpserver.url_for('/v3')}"
                schedule: "@daily"
                stations: {{"2178": madrid}}
                options: {json.dumps(options)}
            """), encoding="utf-8")

    write()
    monkeypatch.setenv("CITYPEERS_FEEDS", str(tmp_path / "feeds.yml"))
    with temporary_home(tmp_path / "home") as root:
        yield root, write


def _published(home: Path) -> Path:
    return home / "parsed" / "openaq_air" / "http_test" / f"{DAY.label}.parquet"


def test_a_rerun_answered_with_304s_skips_parse_and_validate(registry, httpserver, capsys):
    home, _ = registry
    OpenAqApi(httpserver)
    first = ingest.ingest("http_test", DAY.start, DAY.end)
    assert first["published"] == 2 and "unchanged" not in first
    published_at = _published(home).stat().st_mtime_ns
    assert cli.main(["ingest", "http_test", "--start", "2023-10-16", "--end", "2023-10-17"]) == 0
    printed = capsys.readouterr()
    assert json.loads(printed.out)["unchanged"] is True
    assert "1 of 1 intervals skipped as unchanged" in printed.err
    statuses = [r.status_code for _, r in httpserver.log]
    assert statuses == [200] * 4 + [304] * 4  # every request of the rerun was conditional
    manifest = json.loads((home / "landing" / "openaq_air" / "http_test" / DAY.label / "fetch.json").read_text())
    assert manifest["changed"] is False and {p["http"]["status"] for p in manifest["payloads"]} == {304}
    assert _published(home).stat().st_mtime_ns == published_at  # nothing rewritten
    assert ingest.parse("http_test", DAY.start, DAY.end)["unchanged"] is True
    assert ingest.validate("http_test", DAY.start, DAY.end)["unchanged"] is True


def test_a_rerun_with_identical_bytes_and_no_etag_is_skipped_too(registry, httpserver):
    OpenAqApi(httpserver, etags=False)
    ingest.ingest("http_test", DAY.start, DAY.end)
    assert ingest.ingest("http_test", DAY.start, DAY.end)["unchanged"] is True
    assert all("If-None-Match" not in request.headers for request, _ in httpserver.log)


def test_a_changed_feed_entry_reparses_the_same_payloads(registry, httpserver):
    """The skip rule compares the rules too: a new station mapping must not leave the old rows."""
    home, write = registry
    OpenAqApi(httpserver)
    ingest.ingest("http_test", DAY.start, DAY.end)
    write(max_quarantine_share=0.9)
    assert "unchanged" not in ingest.ingest("http_test", DAY.start, DAY.end)


def test_a_failed_publish_is_not_recorded_so_a_rerun_of_the_same_payload_fails_again(registry, httpserver):
    home, _ = registry
    OpenAqApi(httpserver, value=-9999)  # OpenAQ's no-data marker in every hour: the feed broke its contract
    for _ in range(2):
        with pytest.raises(ContractError, match="Nothing was published"):
            ingest.ingest("http_test", DAY.start, DAY.end)
    assert [r.status_code for _, r in httpserver.log][-4:] == [304] * 4  # the same payloads both times
    assert not _published(home).exists()
    assert not paths.published_record("openaq_air", "http_test", DAY.label).exists()


def test_a_bad_answer_publishes_nothing_and_keeps_the_body_it_sent(registry, httpserver):
    home, _ = registry
    page = b"<!DOCTYPE html><html><body>Maintenance</body></html>"
    httpserver.expect_request("/v3/locations/2178/sensors").respond_with_data(page, content_type="text/html")
    with pytest.raises(FeedError) as raised:
        ingest.ingest("http_test", DAY.start, DAY.end)
    url = httpserver.url_for("/v3/locations/2178/sensors?limit=1000&page=1")
    _names_feed_url_and_status(raised.value, url, "HTTP 200")
    assert "an HTML page arrived where JSON was expected" in str(raised.value)
    assert _kept_body(str(raised.value)).read_bytes() == page
    assert not _published(home).exists()
    assert not (home / "landing" / "openaq_air" / "http_test" / DAY.label / "fetch.json").exists()


def test_an_unchanged_period_ends_the_dag_task_as_skipped():
    from airflow.sdk.exceptions import AirflowSkipException

    from citypeers.dag_factories.ingest import _skip_if_unchanged

    published = {"feed_id": "f", "period": "2024", "published": 3}
    assert _skip_if_unchanged(published) is published
    with pytest.raises(AirflowSkipException, match="feed f period 2024: the landed payloads are those"):
        _skip_if_unchanged({"feed_id": "f", "period": "2024", "unchanged": True})


def test_run_dags_counts_the_intervals_skipped_as_unchanged(tmp_path, monkeypatch):
    """`citypeers run-dags` runs each interval with `airflow dags test` (here the same three ingest
    steps in-process) and counts the intervals whose publish record the run left untouched."""
    from citypeers import dag_runs

    (tmp_path / "feeds.yml").write_text(textwrap.dedent("""
        feeds:
          - feed_id: yearly_sheet
            source: indicator_template
            location: "{home}/sheets/{year}.csv"
            schedule: "@yearly"
            start_date: "2023-01-01"
        """), encoding="utf-8")
    monkeypatch.setenv("CITYPEERS_FEEDS", str(tmp_path / "feeds.yml"))

    def sheet(year: int, value: float) -> None:
        (tmp_path / "home" / "sheets" / f"{year}.csv").write_text(
            f"city,indicator_code,period,value,unit,source,note\nmadrid,msw_recycled_share,{year},{value},%,t,\n",
            encoding="utf-8")

    def dags_test(dag_id: str, run_date) -> None:
        if dag_id.startswith("ingest__"):
            ingest.ingest(dag_id.split("__")[2], run_date.replace(year=run_date.year - 1), run_date)

    monkeypatch.setattr(dag_runs, "dags_test", dags_test)
    with temporary_home(tmp_path / "home"):
        (tmp_path / "home" / "sheets").mkdir(parents=True)
        sheet(2023, 30.0)
        sheet(2024, 31.0)
        runs, skipped = dag_runs.run_all("2025-01-01")
        assert (len(runs), skipped) == (4, 0)  # two intervals, the transform, the briefs
        assert dag_runs.run_all("2025-01-01")[1] == 2
        sheet(2024, 32.5)
        assert dag_runs.run_all("2025-01-01")[1] == 1


def test_a_landed_file_handed_to_another_period_is_copied_never_moved_out(home, httpserver):
    httpserver.expect_request("/v3/doc.json").respond_with_data(b"[7]", content_type="application/json")
    feed = _feed(httpserver)
    [landed] = landing.keep(feed, DAY, [http.get(feed, DAY, httpserver.url_for("/v3/doc.json"), expect="json")])
    next_day = Interval.of("2023-10-17", "2023-10-18")
    reused = Payload(content=None, suffix=".json", request="r", file=landed.path, sha256=landed.sha256)
    [copied] = landing.keep(feed, next_day, [reused])
    assert landed.path.read_bytes() == copied.path.read_bytes() == b"[7]" and copied.path != landed.path


def test_the_land_task_fails_at_once_on_an_error_a_retry_cannot_fix(monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    from citypeers.dag_factories.ingest import build_ingest_dag

    land = build_ingest_dag("openaq_air", "http_test", "@daily", "2024-01-01").get_task("land").python_callable
    for retryable, raised in ((False, AirflowFailException), (True, FeedError)):
        def failing(*_, retryable=retryable):
            raise FeedError("http_test", "HTTP 404 Not Found", where="http://x/y", retryable=retryable)

        monkeypatch.setattr(ingest, "land", failing)
        with pytest.raises(raised, match="HTTP 404 Not Found"):
            land("2024-01-01", "2024-01-02")
