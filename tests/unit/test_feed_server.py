"""The demo feed server's generic HTTP behaviour, against the real server on a free port.

The routes under test are this module's own `ROUTES` (the server loads route modules by name), so
the router is tested apart from any source's routes; the last tests check the real route modules.
"""

from __future__ import annotations

import email.utils
import hashlib
import importlib
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from citypeers.demo.feed_server import (
    ROUTE_MODULES,
    DemoRequest,
    DemoResponse,
    FeedServer,
    HttpError,
    http_date,
    json_response,
    serve,
)

LAST_MODIFIED = http_date(1_700_000_000)  # Tue, 14 Nov 2023 22:13:20 GMT
_counter = iter(range(1_000_000))


def _static(_: DemoRequest, match: re.Match[str]) -> DemoResponse:
    return DemoResponse(200, f"file {match['name']}".encode(), "text/plain", {"Last-Modified": LAST_MODIFIED})


def _changing(_: DemoRequest, __: re.Match[str]) -> DemoResponse:
    return json_response({"served": next(_counter)})


def _echo(request: DemoRequest, _: re.Match[str]) -> DemoResponse:
    return json_response({"method": request.method, "body": request.body.decode(), "query": request.query,
                          "content_type": request.headers.get("content-type"), "base_url": request.base_url})


def _broken(_: DemoRequest, __: re.Match[str]) -> DemoResponse:
    raise ValueError("a route's bug")


def _gone(_: DemoRequest, __: re.Match[str]) -> DemoResponse:
    raise HttpError(410, "withdrawn")


ROUTES = [
    ("GET", re.compile(r"/files/(?P<name>\w+)\.txt"), _static),
    ("GET", re.compile(r"/changing"), _changing),
    ("POST", re.compile(r"/echo"), _echo),
    ("GET", re.compile(r"/broken"), _broken),
    ("GET", re.compile(r"/gone"), _gone),
    ("GET", re.compile(r"/flaky/(?P<name>\w+)"), _static),
]


@pytest.fixture
def start(tmp_path):
    """Start a server with this module's routes (options as FeedServer's) and stop it afterwards."""
    servers = []

    def started(**options) -> FeedServer:
        servers.append(serve(tmp_path, 0, modules=(__name__,), **{"rate_limit_every": 0, **options}))
        return servers[-1]

    yield started
    for server in servers:
        server.shutdown()


def test_every_200_has_a_strong_etag_of_the_body_and_if_none_match_gets_304_without_a_body(start):
    server = start()
    with requests.Session() as session:  # one kept-alive connection: a 304 must not leave bytes behind
        first = session.get(f"{server.base_url}/files/a.txt", timeout=5)
        assert first.status_code == 200 and first.content == b"file a"
        assert first.headers["ETag"] == f'"{hashlib.sha256(b"file a").hexdigest()[:32]}"'  # strong: no W/
        again = session.get(f"{server.base_url}/files/a.txt", headers={"If-None-Match": first.headers["ETag"]},
                            timeout=5)
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == first.headers["ETag"] and again.headers["Last-Modified"] == LAST_MODIFIED
        other = session.get(f"{server.base_url}/files/b.txt", headers={"If-None-Match": first.headers["ETag"]},
                            timeout=5)
        assert other.status_code == 200 and other.content == b"file b"
        assert other.headers["ETag"] != first.headers["ETag"]


def test_a_changed_body_gets_200_and_a_new_etag_despite_the_old_if_none_match(start):
    server = start()
    first = requests.get(f"{server.base_url}/changing", timeout=5)
    second = requests.get(f"{server.base_url}/changing", headers={"If-None-Match": first.headers["ETag"]}, timeout=5)
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]
    assert second.json()["served"] == first.json()["served"] + 1


def test_if_modified_since_gets_304_when_the_route_gives_last_modified_and_if_none_match_wins(start):
    server = start()
    url = f"{server.base_url}/files/a.txt"
    assert requests.get(url, headers={"If-Modified-Since": LAST_MODIFIED}, timeout=5).status_code == 304
    earlier = http_date(1_600_000_000)
    assert requests.get(url, headers={"If-Modified-Since": earlier}, timeout=5).status_code == 200
    stale_tag = {"If-Modified-Since": LAST_MODIFIED, "If-None-Match": '"not-the-tag"'}
    assert requests.get(url, headers=stale_tag, timeout=5).status_code == 200
    no_date = requests.get(f"{server.base_url}/changing", headers={"If-Modified-Since": LAST_MODIFIED}, timeout=5)
    assert no_date.status_code == 200 and "Last-Modified" not in no_date.headers


def test_every_nth_request_gets_429_with_retry_after_1_whatever_the_path(start):
    server = start(rate_limit_every=3)
    answers = [
        requests.get(f"{server.base_url}/{path}", timeout=5)
        for path in ("files/a.txt", "changing", "files/b.txt", "nowhere", "changing", "files/a.txt", "gone")
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 429, 404, 200, 429, 410]
    assert all(answer.headers["Retry-After"] == "1" for answer in answers if answer.status_code == 429)
    assert "Retry-After" not in answers[0].headers and "ETag" not in answers[2].headers


def test_health_answers_without_counting_towards_the_rate_limit(start):
    server = start(rate_limit_every=2)
    assert all(requests.get(f"{server.base_url}/health", timeout=5).status_code == 200 for _ in range(5))
    statuses = [requests.get(f"{server.base_url}/changing", timeout=5).status_code for _ in range(2)]
    assert statuses == [200, 429]


def test_flaky_prefix_answers_500_to_the_first_request_of_each_url_then_succeeds(start):
    server = start(flaky=("/flaky/",))
    urls = [f"{server.base_url}/flaky/a", f"{server.base_url}/flaky/a?page=2", f"{server.base_url}/flaky/b"]
    first = [requests.get(url, timeout=5) for url in urls]
    assert [answer.status_code for answer in first] == [500, 500, 500]
    assert first[0].headers["Content-Type"].startswith("application/json") and "flaky" in first[0].json()["detail"]
    assert [requests.get(url, timeout=5).status_code for url in urls] == [200, 200, 200]
    assert requests.get(f"{server.base_url}/files/a.txt", timeout=5).status_code == 200  # not under the prefix


def test_unknown_path_gets_404_json_and_a_known_path_with_another_method_405(start):
    server = start()
    missing = requests.get(f"{server.base_url}/nowhere/x.zip", timeout=5)
    assert missing.status_code == 404 and missing.json() == {"detail": "no route /nowhere/x.zip"}
    wrong_method = requests.post(f"{server.base_url}/changing", data=b"x", timeout=5)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "GET"


def test_post_body_and_headers_reach_the_route_with_content_length_or_chunked(start):
    server = start()
    sized = requests.post(f"{server.base_url}/echo?a=1&a=2", json={"countries": ["ES"]}, timeout=5).json()
    assert sized == {"method": "POST", "body": '{"countries": ["ES"]}', "query": {"a": ["1", "2"]},
                     "content_type": "application/json", "base_url": server.base_url}
    chunked = requests.post(f"{server.base_url}/echo", data=iter([b"part one, ", b"part two"]), timeout=5)
    assert chunked.json()["body"] == "part one, part two"
    # the connection stays usable after a body: a following request on the same session is answered
    with requests.Session() as session:
        assert session.post(f"{server.base_url}/echo", data=b"x" * 70_000, timeout=5).json()["body"] == "x" * 70_000
        assert session.get(f"{server.base_url}/files/a.txt", timeout=5).content == b"file a"


def test_a_route_error_answers_json_with_its_status_and_the_server_keeps_serving(start):
    server = start()
    gone = requests.get(f"{server.base_url}/gone", timeout=5)
    assert gone.status_code == 410 and gone.json() == {"detail": "withdrawn"}
    broken = requests.get(f"{server.base_url}/broken", timeout=5)
    assert broken.status_code == 500 and broken.json() == {"detail": "ValueError: a route's bug"}
    assert requests.get(f"{server.base_url}/files/a.txt", timeout=5).status_code == 200


def test_head_gets_the_headers_of_get_without_a_body(start):
    server = start()
    head = requests.head(f"{server.base_url}/files/a.txt", timeout=5)
    assert head.status_code == 200 and head.content == b"" and head.headers["Content-Length"] == "6"


def test_every_request_is_kept_in_the_request_log_with_its_path_and_status(start):
    server = start(rate_limit_every=2)
    for path in ("/files/a.txt", "/files/b.txt?x=1"):
        requests.get(f"{server.base_url}{path}", timeout=5)
    assert [(entry.path, entry.status) for entry in server.request_log] == [("/files/a.txt", 200),
                                                                            ("/files/b.txt?x=1", 429)]


def test_server_listens_on_127_0_0_1_only(start):
    server = start()
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(ConnectionRefusedError):  # another loopback address: a 0.0.0.0 bind would accept it
        socket.create_connection(("127.0.0.2", port), timeout=2).close()


def test_every_listed_route_module_exports_a_non_empty_routes_list_of_method_pattern_callable():
    assert ROUTE_MODULES and len(set(ROUTE_MODULES)) == len(ROUTE_MODULES)
    for name in ROUTE_MODULES:
        routes = importlib.import_module(name).ROUTES
        assert isinstance(routes, list) and routes, name
        for method, pattern, handler in routes:
            assert method in {"GET", "POST", "PUT", "DELETE"}, (name, method)
            assert isinstance(pattern, re.Pattern) and callable(handler), (name, pattern)


def test_a_module_without_routes_stops_the_server_from_starting(tmp_path):
    with pytest.raises(TypeError, match="email.utils.ROUTES must be a non-empty list"):
        FeedServer(tmp_path, 0, modules=("email.utils",))
    assert email.utils  # the module named above is a real one without ROUTES


def test_openaq_routes_without_the_demo_dataset_answer_404_naming_the_command(tmp_path):
    server = serve(tmp_path, 0)
    try:
        answer = requests.get(f"{server.base_url}/v3/locations", timeout=5)
    finally:
        server.shutdown()
    assert answer.status_code == 404 and "run `citypeers demo-data` first" in answer.json()["detail"]


@pytest.mark.parametrize("command", ["feeds-serve", "openaq-serve"])
def test_cli_serves_health_and_logs_one_line_per_request(command, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_file = tmp_path / "server.log"
    environment = {"CITYPEERS_HOME": str(tmp_path), "PATH": str(Path(sys.executable).parent)}
    server = subprocess.Popen([str(Path(sys.executable).parent / "citypeers"), command, "--port", str(port),
                               "--rate-limit-every", "2", "--flaky", "/sdmx/"],
                              env=environment, stdout=log_file.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, log_file.read_text()
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert requests.get(f"http://127.0.0.1:{port}/sdmx/rest/data/x", timeout=5).status_code == 500  # flaky
        assert requests.get(f"http://127.0.0.1:{port}/nowhere", timeout=5).status_code == 429  # 2nd counted
    finally:
        server.terminate()
        server.wait(timeout=10)
    text = log_file.read_text()
    assert "demo feed server on http://127.0.0.1:" in text and "429 every 2 requests; flaky: /sdmx/" in text
    for line in ("GET /health 200", "GET /sdmx/rest/data/x 500", "GET /nowhere 429"):
        assert re.search(rf"INFO citypeers\.demo\.feed_server: {re.escape(line)} \d+ ms", text), (line, text)
