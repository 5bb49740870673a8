"""GBFS over HTTP: auto-discovery (v1/v2 language blocks, v3), ttl, failing files, the snapshot DAG's
task, the year's median of landed snapshots and systems that stopped answering — against a real
local HTTP server (pytest-httpserver) and the demo feed server's GBFS routes."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import duckdb
import pytest
import yaml

from citypeers import ingest, paths
from citypeers.demo import gbfs as demo_gbfs
from citypeers.demo.feed_server import serve
from citypeers.demo.generator import demo_dir
from citypeers.errors import FeedError
from citypeers.feeds import gbfs, gbfs_http
from citypeers.intervals import Interval
from citypeers.registry import Feed, get_feed

YEAR_2024 = Interval.of("2024-01-01", "2025-01-01")
CITIES = ("madrid", "barcelona", "seoul")  # GBFS 3.0, 2.3 and 1.0 in the demo


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CITYPEERS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _registry(tmp_path: Path, monkeypatch, **entry) -> None:
    """A feeds.yml holding one gbfs feed (`entry` overrides), used by get_feed and the ingest steps."""
    feed = {"feed_id": "live_bikes", "source": "gbfs", "schedule": "@yearly", **entry}
    registry = tmp_path / "feeds.yml"
    registry.write_text(yaml.safe_dump({"feeds": [feed]}), encoding="utf-8")
    monkeypatch.setenv("CITYPEERS_FEEDS", str(registry))


def _feed(location: str, **options) -> Feed:
    return Feed(feed_id="http_bikes", source="gbfs", location=location, schedule="@yearly", city_id="madrid",
                options=options)


def _envelope(data: dict, version: str | None, ttl: int = 60, stamp: object = 1720166400) -> dict:
    head = {"last_updated": stamp, "ttl": ttl}
    return {**head, **({"version": version} if version else {}), "data": data}


def _serve_system(httpserver, prefix: str, version: str | None, *, languages: tuple[str, ...] = ("en",),
                  ttl: int = 60, shared_system_information: str | None = None, stamp: str | None = None) -> str:
    """A docked system of two stations on pytest-httpserver (`stamp`: its GBFS 3.0 last_updated);
    returns its gbfs.json URL. GBFS 1.x/2.x list their files per language (`/<lang>/<file>.json`),
    3.x in one flat list."""
    v3 = bool(version and version.startswith("3"))
    stamp = stamp or ("2024-07-05T10:00:00+02:00" if v3 else 1720166400)
    vehicles = "vehicles" if v3 else "bikes"
    stations = [{"station_id": "S1", "name": [{"text": "One", "language": "en"}] if v3 else "One", "lat": 40.4,
                 "lon": -3.7, "capacity": 10},
                {"station_id": "S2", "name": [{"text": "Two", "language": "en"}] if v3 else "Two", "lat": 40.5,
                 "lon": -3.6, "capacity": 8}]
    status = [{"station_id": "S1", f"num_{vehicles}_available": 4, "num_docks_available": 6,
               "is_installed": True, "is_renting": True, "is_returning": True, "last_reported": stamp},
              {"station_id": "S2", f"num_{vehicles}_available": 0, "num_docks_available": 8,
               "is_installed": True, "is_renting": True, "is_returning": True, "last_reported": stamp}]
    if version is None:  # 1.0: 0/1 flags
        for row in status:
            row.update(is_installed=1, is_renting=1, is_returning=1)
    system = {"system_id": prefix.strip("/"), "timezone": "Europe/Madrid"}
    system.update({"languages": ["en"], "name": [{"text": "Bikes", "language": "en"}], "opening_hours": "24/7",
                   "feed_contact_email": "a@b.invalid"} if v3 else {"language": "en", "name": "Bikes"})

    def listed(language: str) -> list[dict]:
        folder = prefix if v3 else f"{prefix}/{language}"
        system_url = shared_system_information or httpserver.url_for(f"{folder}/system_information.json")
        return [{"name": "system_information", "url": system_url},
                {"name": "station_information", "url": httpserver.url_for(f"{folder}/station_information.json")},
                {"name": "station_status", "url": httpserver.url_for(f"{folder}/station_status.json")}]

    data = {"feeds": listed("")} if v3 else {language: {"feeds": listed(language)} for language in languages}
    httpserver.expect_request(f"{prefix}/gbfs.json").respond_with_json(_envelope(data, version, ttl, stamp))
    for folder in [prefix] if v3 else [f"{prefix}/{language}" for language in languages]:
        httpserver.expect_request(f"{folder}/system_information.json").respond_with_json(
            _envelope(system, version, ttl, stamp))
        httpserver.expect_request(f"{folder}/station_information.json").respond_with_json(
            _envelope({"stations": stations}, version, ttl, stamp))
        httpserver.expect_request(f"{folder}/station_status.json").respond_with_json(
            _envelope({"stations": status}, version, ttl, stamp))
    return httpserver.url_for(f"{prefix}/gbfs.json")


def _requested(httpserver) -> list[str]:
    return [request.path for request, _ in httpserver.log]


def _parse(feed: Feed, interval: Interval, home: Path):
    from citypeers import landing

    landed = landing.keep(feed, interval, gbfs.fetch(feed, interval))
    return landed, gbfs.parse(duckdb.connect(), landed, feed, interval).df()


def _archived(url: str) -> str:
    """A URL of the year's archive (`/2024/...`) as configured (`/{year}/...`): the yearly ingest
    fetches it itself, as it does the demo's archive (a live URL comes from the snapshot DAG)."""
    return url.replace("/2024/", "/{year}/")


@pytest.mark.parametrize(("version", "label"), [(None, "1.0"), ("2.3", "2.3"), ("3.0", "3.0")])
def test_discovery_follows_gbfs_json_of_every_version_to_the_same_figures(httpserver, home, version, label):
    url = _serve_system(httpserver, "/2024/bikes", version)
    landed, rows = _parse(_feed(_archived(url)), YEAR_2024, home)
    figures = {row["indicator_code"]: row for row in rows.to_dict("records")}
    assert figures["shared_bikes_per_1000"]["source_value"] == 4  # docked bikes: 4 + 0
    assert figures["bike_dock_availability_share"]["source_value"] == pytest.approx(50.0)  # S1 of S1, S2
    assert f"GBFS {label}" in figures["shared_bikes_per_1000"]["note"]
    assert rows["parse_error"].isna().all()
    folder = "/2024/bikes" if version == "3.0" else "/2024/bikes/en"
    assert {f"{folder}/{name}.json" for name in ("system_information", "station_information", "station_status")} \
        <= set(_requested(httpserver))
    assert {payload.request for payload in landed} >= {url, gbfs_http.INDEX_REQUEST}


def test_language_option_picks_the_gbfs_json_language_block(httpserver, home):
    url = _serve_system(httpserver, "/2024/bikes", "2.3", languages=("fr", "en"))
    _parse(_feed(_archived(url), language="en"), YEAR_2024, home)
    followed = [path for path in _requested(httpserver) if not path.endswith("gbfs.json")]
    assert followed and all(path.startswith("/2024/bikes/en/") for path in followed)


def test_a_file_is_not_fetched_again_within_its_ttl_and_is_once_the_ttl_is_zero(httpserver, home):
    shared = httpserver.url_for("/operator/system_information.json")
    httpserver.expect_request("/operator/system_information.json").respond_with_json(_envelope(
        {"system_id": "op", "languages": ["en"], "name": [{"text": "Op", "language": "en"}],
         "opening_hours": "24/7", "feed_contact_email": "a@b.invalid", "timezone": "Europe/Madrid"},
        "3.0", ttl=600, stamp="2024-07-05T10:00:00+02:00"))
    first = _serve_system(httpserver, "/2024/a", "3.0", shared_system_information=shared)
    second = _serve_system(httpserver, "/2024/b", "3.0", shared_system_information=shared)
    feed = _feed(httpserver.url_for("/"), urls={_archived(first): "madrid", _archived(second): "barcelona"})
    landed, _ = _parse(feed, YEAR_2024, home)
    assert _requested(httpserver).count("/operator/system_information.json") == 1
    index = json.loads(next(p for p in landed if p.request == gbfs_http.INDEX_REQUEST).path.read_bytes())
    recorded = index["snapshots"][0]["files"]["system_information"]
    assert (recorded["ttl"], recorded["last_updated"]) == (600, "2024-07-05T10:00:00+02:00")

    httpserver.clear_log()
    httpserver.clear()
    shared = httpserver.url_for("/operator/system_information.json")
    httpserver.expect_request("/operator/system_information.json").respond_with_json(_envelope(
        {"system_id": "op", "languages": ["en"], "name": [{"text": "Op", "language": "en"}],
         "opening_hours": "24/7", "feed_contact_email": "a@b.invalid", "timezone": "Europe/Madrid"},
        "3.0", ttl=0, stamp="2024-07-05T10:00:00+02:00"))
    _serve_system(httpserver, "/2024/a", "3.0", shared_system_information=shared)
    _serve_system(httpserver, "/2024/b", "3.0", shared_system_information=shared)
    _parse(feed, YEAR_2024, home)
    assert _requested(httpserver).count("/operator/system_information.json") == 2


def test_a_listed_file_that_answers_404_is_a_feed_error_naming_feed_url_and_status(httpserver, home):
    httpserver.expect_request("/2024/bikes/gbfs.json").respond_with_json(_envelope(
        {"feeds": [{"name": "station_status", "url": httpserver.url_for("/2024/bikes/gone.json")}]}, "3.0",
        stamp="2024-07-05T10:00:00+02:00"))
    httpserver.expect_request("/2024/bikes/gone.json").respond_with_json({"detail": "not found"}, status=404)
    with pytest.raises(FeedError) as caught:
        gbfs.fetch(_feed(_archived(httpserver.url_for("/2024/bikes/gbfs.json"))), YEAR_2024)
    message = str(caught.value)
    assert "http_bikes" in message and httpserver.url_for("/2024/bikes/gone.json") in message and "404" in message
    assert "station_status" in message and httpserver.url_for("/2024/bikes/gbfs.json") in message
    assert caught.value.retryable is False  # a retry cannot bring the file back: the task fails at once


def test_an_html_page_where_a_gbfs_file_belongs_is_a_feed_error_naming_the_content_type(httpserver, home):
    httpserver.expect_request("/2024/bikes/gbfs.json").respond_with_data(
        "<html><body>Maintenance</body></html>", content_type="text/html")
    with pytest.raises(FeedError) as caught:
        gbfs.fetch(_feed(_archived(httpserver.url_for("/2024/bikes/gbfs.json"))), YEAR_2024)
    message = str(caught.value)
    assert "http_bikes" in message and httpserver.url_for("/2024/bikes/gbfs.json") in message
    assert "json" in message.lower() and "html" in message.lower()


# --- The demo feed server: the per-year archive and the live systems ---


@pytest.fixture
def demo_server(home):
    cities = [city for city in _registry_cities() if city["city_id"] in CITIES]
    demo_gbfs.write(demo_dir(home), cities, (2023, 2024, 2025), seed=37)
    server = serve(home, 0, rate_limit_every=0)
    yield server
    server.shutdown()


def test_demo_archive_is_fetched_over_http_with_discovery_and_matches_the_file_snapshots(
        demo_server, home, tmp_path, monkeypatch):
    demo_entry = next(f for f in yaml.safe_load(paths.feeds_file().read_text(encoding="utf-8"))["feeds"]
                      if f["feed_id"] == "demo_gbfs")
    assert demo_entry["demo"] is True and demo_entry["location"].startswith("http://127.0.0.1:8765/")
    _registry(tmp_path, monkeypatch, feed_id="demo_gbfs", demo=True, options=demo_entry["options"],
              location=demo_entry["location"].replace("http://127.0.0.1:8765", demo_server.base_url))
    feed = get_feed("demo_gbfs")
    _, over_http = _parse(feed, YEAR_2024, home)
    files = Feed(feed_id="files", source="gbfs", location=str(demo_dir(home) / "gbfs" / "{year}" / "*"),
                 schedule="@yearly", options={"city_from": "folder"})
    _, from_files = _parse(files, YEAR_2024, home)
    columns = ["city_id", "indicator_code", "year", "source_value"]
    assert len(over_http) == 2 * len(CITIES) and over_http["parse_error"].isna().all()
    assert over_http[columns].sort_values(columns).values.tolist() == \
        from_files[columns].sort_values(columns).values.tolist()
    requested = [logged.path for logged in demo_server.request_log]
    assert "/gbfs/2024/seoul/en/station_status.json" in requested  # GBFS 1.0: the language folder kept
    assert "/gbfs/2024/madrid/station_status.json" in requested


def _snapshot_figures(path: Path) -> tuple[int, float]:
    """Docked bikes and the share of renting stations with a bike and a free dock, from one landed
    station_status, computed here without the parser."""
    stations = json.loads(path.read_bytes())["data"]["stations"]
    bikes = sum(s["num_vehicles_available"] + s["num_vehicles_disabled"] for s in stations)
    renting = [s for s in stations if s["is_installed"] and s["is_renting"]]
    share = 100 * sum(1 for s in renting if s["num_vehicles_available"] > 0 and s["num_docks_available"] > 0)
    return bikes, share / len(renting)


def _hour(number: int) -> tuple[str, str]:
    """A snapshot run's period (its label names the landing folder; the snapshot itself is of now)."""
    return f"2026-03-01T{number:02d}:00:00+00:00", f"2026-03-01T{number + 1:02d}:00:00+00:00"


def _this_year() -> tuple[str, str, str]:
    """The yearly interval holding now (live snapshots have last_updated = now) and its label."""
    from datetime import UTC, datetime

    year = datetime.now(UTC).year
    return f"{year}-01-01", f"{year + 1}-01-01", str(year)


def test_live_status_changes_between_requests(demo_server):
    import requests

    url = f"{demo_server.base_url}/gbfs/live/madrid/station_status.json"
    first, second = requests.get(url, timeout=10).json(), requests.get(url, timeout=10).json()
    assert first["ttl"] > 0 and first["version"] == "3.0"
    assert first["data"]["stations"] != second["data"]["stations"]
    assert [s["station_id"] for s in first["data"]["stations"]] == [s["station_id"] for s in second["data"]["stations"]]


def test_snapshot_task_lands_a_snapshot_and_records_a_system_that_does_not_answer(demo_server, home, tmp_path,
                                                                                  monkeypatch):
    base = f"{demo_server.base_url}/gbfs/"
    _registry(tmp_path, monkeypatch, location=base,
              options={"urls": {"live/madrid/gbfs.json": "madrid", "live/valencia/gbfs.json": "valencia"}})
    result = gbfs_http.take_snapshot("live_bikes", *_hour(1))
    assert (result["systems"], result["failed"]) == (2, 1)
    folder = paths.landing_dir("gbfs", "live_bikes", Interval.of(*_hour(1)).label)
    record = {system["city_key"]: system for system in json.loads((folder / "snapshot.json").read_text())["systems"]}
    assert record["madrid"]["status"] == "ok"
    status = record["madrid"]["files"]["station_status"]
    assert status["ttl"] == 60 and status["last_updated"].startswith("20")
    assert (paths.landing_dir("gbfs", "live_bikes", "") / status["landed"]).exists()
    assert record["valencia"]["status"] == "failed" and "404" in record["valencia"]["error"]
    assert record["valencia"]["files"] == {}
    notices = duckdb.sql(f"SELECT code, severity, file FROM '{paths.notices_file('gbfs', 'live_bikes', folder.name)}'")
    assert notices.fetchall() == [("system_not_answering", "notice", f"{base}live/valencia/gbfs.json")]


def test_snapshot_task_fails_when_no_system_answers_and_still_records_it(demo_server, home, tmp_path, monkeypatch):
    _registry(tmp_path, monkeypatch, location=f"{demo_server.base_url}/gbfs/live/valencia/gbfs.json",
              city_id="valencia")
    with pytest.raises(FeedError, match=r"no system answered.*404"):
        gbfs_http.take_snapshot("live_bikes", *_hour(2))
    folder = paths.landing_dir("gbfs", "live_bikes", Interval.of(*_hour(2)).label)
    assert json.loads((folder / "snapshot.json").read_text())["systems"][0]["status"] == "failed"


def test_year_of_landed_snapshots_gives_the_median_and_reports_systems_that_stopped_never_as_zero(
        demo_server, home, tmp_path, monkeypatch):
    _registry(tmp_path, monkeypatch, location=f"{demo_server.base_url}/gbfs/",
              options={"urls": {"live/madrid/gbfs.json": "madrid", "live/seoul/gbfs.json": "seoul",
                                "live/valencia/gbfs.json": "valencia"}})
    for hour in range(5):
        if hour == 2:  # Seoul's system stops answering after two snapshots
            shutil.rmtree(demo_dir(home) / "gbfs" / "2025" / "seoul")
            shutil.rmtree(demo_dir(home) / "gbfs" / "2024" / "seoul")
            shutil.rmtree(demo_dir(home) / "gbfs" / "2023" / "seoul")
        gbfs_http.take_snapshot("live_bikes", *_hour(hour))
    start, end, label = _this_year()
    ingest.land("live_bikes", start, end)
    ingest.parse("live_bikes", start, end)
    rows = duckdb.sql(f"SELECT * FROM '{paths.candidates_file('gbfs', 'live_bikes', label)}'").df()
    figures = {(r["city_id"], r["indicator_code"]): r for r in rows.to_dict("records")}

    root = paths.landing_dir("gbfs", "live_bikes", "")
    snapshots = {"madrid": [], "seoul": []}
    for record_file in sorted(root.glob("*/snapshot.json")):
        for system in json.loads(record_file.read_text())["systems"]:
            if system["status"] == "ok":
                landed = root / system["files"]["station_status"]["landed"]
                snapshots[system["city_key"]].append(_snapshot_figures(landed))
    assert (len(snapshots["madrid"]), len(snapshots["seoul"])) == (5, 2)
    for city, taken in snapshots.items():
        bikes = figures[(city, "shared_bikes_per_1000")]
        assert bikes["source_value"] == statistics.median(b for b, _ in taken)
        assert figures[(city, "bike_dock_availability_share")]["source_value"] == pytest.approx(
            statistics.median(s for _, s in taken))
        assert f"median of {len(taken)} snapshots" in bikes["note"]
    assert len({b for b, _ in snapshots["madrid"]}) > 1  # the live system changed between snapshots
    seoul_note = figures[("seoul", "shared_bikes_per_1000")]["note"]
    assert "3 snapshot(s) failed (the system did not answer), not counted" in seoul_note
    assert not any(city == "valencia" for city, _ in figures)  # no zero for a system that never answered

    notices_file = paths.notices_file("gbfs", "live_bikes", label)
    notices = duckdb.sql(f"SELECT code, severity, file, message FROM '{notices_file}' WHERE code LIKE 'system_%' "
                         "ORDER BY file").fetchall()
    assert [(code, severity, Path(file).parent.name) for code, severity, file, _ in notices] == [
        ("system_not_answering", "notice", "seoul"), ("system_stopped", "flagged", "valencia")]
    assert "3 of 5 snapshots failed" in notices[0][3] and "never counted as zero" in notices[1][3]


def test_a_rerun_of_the_year_with_no_new_snapshot_lands_the_same_index(demo_server, home, tmp_path, monkeypatch):
    _registry(tmp_path, monkeypatch, location=f"{demo_server.base_url}/gbfs/live/madrid/gbfs.json", city_id="madrid")
    gbfs_http.take_snapshot("live_bikes", *_hour(3))
    feed = get_feed("live_bikes")
    year = Interval.of(*_this_year()[:2])
    first, second = gbfs.fetch(feed, year), gbfs.fetch(feed, year)
    assert [p.content for p in first] == [p.content for p in second]


def _registry_cities() -> list[dict[str, str]]:
    import csv

    with (paths.dbt_project_dir() / "seeds" / "cities.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_snapshot_dag_only_for_live_feeds_hourly_unless_the_feed_says_otherwise(tmp_path):
    from citypeers.registry import snapshot_schedules

    registry = tmp_path / "feeds.yml"
    feeds = [
        {"feed_id": "live_default", "source": "gbfs", "location": "https://bikes.example/gbfs.json",
         "schedule": "@yearly"},
        {"feed_id": "live_quarter", "source": "gbfs", "location": "https://bikes.example/gbfs.json",
         "schedule": "@yearly", "options": {"snapshot_schedule": "*/15 * * * *"}},
        {"feed_id": "archive", "source": "gbfs", "location": "https://bikes.example/{year}/gbfs.json",
         "schedule": "@yearly", "options": {"snapshot_schedule": "none"}},
        {"feed_id": "files", "source": "gbfs", "location": "/drops/{year}/*", "schedule": "@yearly"},
    ]
    registry.write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
    assert {feed_id: schedule for feed_id, (schedule, _) in snapshot_schedules("gbfs", registry).items()} == {
        "live_default": "@hourly", "live_quarter": "*/15 * * * *"}
    project = snapshot_schedules("gbfs")
    assert set(project) == {"demo_gbfs_live"}  # demo_gbfs is an archive: its yearly ingest fetches each year


def test_a_rerun_of_an_archived_year_gets_304s_and_is_skipped_as_unchanged(demo_server, home, tmp_path, monkeypatch):
    demo_entry = next(f for f in yaml.safe_load(paths.feeds_file().read_text(encoding="utf-8"))["feeds"]
                      if f["feed_id"] == "demo_gbfs")
    _registry(tmp_path, monkeypatch, feed_id="demo_gbfs", options=demo_entry["options"],
              location=demo_entry["location"].replace("http://127.0.0.1:8765", demo_server.base_url))
    first = ingest.ingest("demo_gbfs", "2024-01-01", "2025-01-01")
    assert first["published"] == 2 * len(CITIES)
    answered = len(demo_server.request_log)
    second = ingest.ingest("demo_gbfs", "2024-01-01", "2025-01-01")
    assert second.get("unchanged") is True
    statuses = [logged.status for logged in list(demo_server.request_log)[answered:]]
    assert statuses and set(statuses) == {304}  # every file asked for conditionally, none sent again


def test_a_frozen_system_counts_once_and_one_stuck_in_an_earlier_year_is_reported_as_not_updating(
        httpserver, home, tmp_path, monkeypatch):
    from datetime import UTC, datetime

    start, end, year = _this_year()
    frozen = _serve_system(httpserver, "/frozen", "3.0", stamp=datetime.now(UTC).isoformat(timespec="seconds"))
    stuck = _serve_system(httpserver, "/stuck", "3.0", stamp="2025-06-01T08:00:00+00:00")
    _registry(tmp_path, monkeypatch, location=httpserver.url_for("/"),
              options={"urls": {frozen: "madrid", stuck: "seoul"}})
    for hour in range(3):
        gbfs_http.take_snapshot("live_bikes", *_hour(hour))
    ingest.land("live_bikes", start, end)
    ingest.parse("live_bikes", start, end)
    rows = duckdb.sql(f"SELECT city_id, indicator_code, source_value, note "
                      f"FROM '{paths.candidates_file('gbfs', 'live_bikes', year)}'").fetchall()
    assert {(city, code, value) for city, code, value, _ in rows} == {
        ("madrid", "shared_bikes_per_1000", 4), ("madrid", "bike_dock_availability_share", 50.0)}
    assert not any("median of" in note for *_, note in rows)  # three identical snapshots are one
    notices_file = paths.notices_file("gbfs", "live_bikes", year)
    notices = duckdb.sql(f"SELECT code, severity, file, message FROM '{notices_file}' WHERE code LIKE 'system_%' "
                         "ORDER BY file, code").fetchall()
    assert [(code, severity, file) for code, severity, file, _ in notices] == [
        ("system_not_updating", "notice", frozen), ("system_stopped", "flagged", stuck)]
    assert "2 snapshot(s) repeated" in notices[0][3]
    assert "3 snapshot(s) carry a station_status last_updated outside the interval (2025-06-01T08:00:00Z): " \
        "the system is not updating" in notices[1][3]


def test_systems_resolve_relative_urls_and_year_against_the_location_as_a_base(home):
    feed = _feed("https://bikes.example/gbfs", urls={"{year}/madrid/gbfs.json": "madrid",
                                                     "https://other.example/seoul/gbfs.json": "seoul"})
    found = {system.city_key: system for system in gbfs_http.systems(feed, 2024)}
    assert found["madrid"].url == "https://bikes.example/gbfs/2024/madrid/gbfs.json" and found["madrid"].is_archive
    assert found["seoul"].url == "https://other.example/seoul/gbfs.json" and not found["seoul"].is_archive
    single = gbfs_http.systems(_feed("https://bikes.example/valencia/gbfs.json"), 2024)
    assert [(s.url, s.city_key, s.is_archive) for s in single] == [("https://bikes.example/valencia/gbfs.json", None,
                                                                    False)]


def test_a_live_snapshot_whose_status_has_no_stations_is_a_failed_snapshot_and_its_body_is_kept(
        httpserver, home, tmp_path, monkeypatch):
    url = httpserver.url_for("/broken/gbfs.json")
    httpserver.expect_request("/broken/gbfs.json").respond_with_json(_envelope(
        {"feeds": [{"name": "station_status", "url": httpserver.url_for("/broken/station_status.json")}]}, "3.0"))
    httpserver.expect_request("/broken/station_status.json").respond_with_json(
        _envelope({"error": "maintenance"}, "3.0"))
    _registry(tmp_path, monkeypatch, location=url, city_id="madrid")
    with pytest.raises(FeedError, match=r"station_status.*no data\.stations array; the body is kept in .*rejected"):
        gbfs_http.take_snapshot("live_bikes", *_hour(4))
    folder = paths.landing_dir("gbfs", "live_bikes", Interval.of(*_hour(4)).label)
    record = json.loads((folder / "snapshot.json").read_text())["systems"][0]
    assert record["status"] == "failed" and "no data.stations array" in record["error"]
    kept = list((folder / "rejected").glob("*.json"))
    assert any(b"maintenance" in path.read_bytes() for path in kept)
