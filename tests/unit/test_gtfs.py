"""GTFS parser, on the six real feeds of ../shared/data/gtfs_partridge, the demo feeds and broken
feeds. One figure (Caltrain's busiest week of 2017) is recomputed by a hand-written query over
the raw files, and the Egged route's by hand from its calendar."""

from __future__ import annotations

import csv
import io
import math
import shutil
import zipfile
from pathlib import Path

import duckdb
import pytest

from citypeers import ingest, paths
from citypeers.demo import gtfs as demo_gtfs
from citypeers.errors import FeedError
from citypeers.feeds import gtfs
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.citypeers_home import temporary_home
from tests.unit.landed import land

REAL_ROOT = paths.REPO_ROOT.parent / "shared" / "data" / "gtfs_partridge"


def _year(year: int) -> Interval:
    return Interval.of(f"{year}-01-01", f"{year + 1}-01-01")


def _real(name: str) -> Path:
    folder = REAL_ROOT / name
    if not (folder / "stop_times.txt").exists():
        pytest.fail(f"the real GTFS feed is missing: {folder} (the tests need ../shared/data next to the repo)")
    return folder


def _feed(location: str | Path, **options) -> Feed:
    # the real feeds' cities are not in cities.csv: Madrid stands in for them
    city = {} if options.get("city_from") else {"city_id": "madrid"}
    return Feed(feed_id="test_gtfs", source="gtfs", location=str(location), schedule="@yearly",
                options=options, **city)


def _parse(feed: Feed, interval: Interval, home: Path) -> dict[tuple[str | None, str], dict]:
    landed = land(feed, interval, gtfs.fetch(feed, interval), home)
    frame = gtfs.parse(duckdb.connect(), landed, feed, interval).df()
    return {(row["city_id"], row["indicator_code"]): row for row in frame.to_dict("records")}


# folder, year, departures in the busiest week, served stops, that week's Monday
REAL_FEEDS = [
    ("amazon-2017-08-06", 2017, 1769, 35, "2017-07-31"),
    ("caltrain-2017-07-24", 2017, 556, 64, "2017-07-17"),
    ("israel-public-transportation-route-2126", 2018, 5, 18, "2018-02-26"),
    ("region-nord-v2", 2019, 4171, 3693, None),             # no calendar.txt; Latin-1 stops.txt
    ("seattle-area-2017-11-16", 2018, 8727, 259, None),     # three agencies
    ("trimet-vermont-2018-02-06", 2018, 130, 102, None),
]


@pytest.mark.parametrize(("name", "year", "departures", "stops", "monday"), REAL_FEEDS)
def test_every_real_feed_gives_weekly_departures_and_served_stops(tmp_path, name, year, departures, stops, monday):
    rows = _parse(_feed(_real(name)), _year(year), tmp_path)
    trips, served = rows[("madrid", "pt_departures_per_1000")], rows[("madrid", "pt_stops_per_km2")]
    assert (trips["year"], trips["source_value"], trips["source_unit"], trips["basis"]) == (
        year, departures, "departure/week", "total")
    assert (served["source_value"], served["source_unit"], served["basis"]) == (stops, "transit_stop", "total")
    assert trips["parse_error"] is None and served["parse_error"] is None
    if monday:
        assert trips["source_ref"] == f"GTFS {name}, week of {monday}"


def test_caltrain_busiest_week_matches_a_hand_written_query_over_the_raw_files(tmp_path):
    folder = _real("caltrain-2017-07-24")

    def table(name: str) -> str:
        return f"read_csv('{folder / name}', header = true, all_varchar = true)"

    (expected,) = duckdb.sql(f"""
        WITH days AS (
            SELECT CAST(d AS DATE) AS day
            FROM generate_series(DATE '2017-07-17', DATE '2017-07-23', INTERVAL 1 DAY) t(d)
        ),
        regular AS (
            SELECT c.service_id, days.day FROM {table('calendar.txt')} c, days
            WHERE days.day BETWEEN strptime(c.start_date, '%Y%m%d') AND strptime(c.end_date, '%Y%m%d')
              AND list_extract([c.monday, c.tuesday, c.wednesday, c.thursday, c.friday, c.saturday, c.sunday],
                               isodow(days.day)) = '1'
        ),
        changes AS (
            SELECT service_id, CAST(strptime(date, '%Y%m%d') AS DATE) AS day, exception_type
            FROM {table('calendar_dates.txt')}
        ),
        running AS (
            SELECT service_id, day FROM regular
            WHERE (service_id, day) NOT IN (SELECT (service_id, day) FROM changes WHERE exception_type = '2')
            UNION
            SELECT service_id, day FROM changes WHERE exception_type = '1' AND day IN (SELECT day FROM days)
        )
        SELECT count(*) FROM running JOIN {table('trips.txt')} trips USING (service_id)
        WHERE trips.trip_id IN (SELECT trip_id FROM {table('stop_times.txt')})
    """).fetchone()
    rows = _parse(_feed(folder), _year(2017), tmp_path)
    assert rows[("madrid", "pt_departures_per_1000")]["source_value"] == expected == 556


def test_a_feed_of_several_agencies_counts_them_all_in_the_note(tmp_path):
    # agency.txt holds 3 agencies and routes.txt 14 routes (wc -l minus the header)
    rows = _parse(_feed(_real("seattle-area-2017-11-16")), _year(2018), tmp_path)
    assert "3 agencies, 14 routes" in rows[("madrid", "pt_departures_per_1000")]["note"]


def test_the_egged_route_counts_by_hand_from_its_calendar(tmp_path):
    # week of 2018-02-26: service 56449760 runs Mon 26 and Tue 27 (2 trips), 56449767 Wed 28,
    # 56449751 Thu 1 March and 56449780 Sun 4 March (1 trip each): 5 departures
    rows = _parse(_feed(_real("israel-public-transportation-route-2126")), _year(2018), tmp_path)
    trips = rows[("madrid", "pt_departures_per_1000")]
    assert trips["source_value"] == 5
    assert "1 agencies, 1 routes" in trips["note"]


def test_a_zip_of_a_real_feed_gives_the_same_figures_as_its_folder(tmp_path):
    folder = _real("trimet-vermont-2018-02-06")
    archive = tmp_path / "feeds" / "trimet.zip"
    archive.parent.mkdir()
    archive.write_bytes(gtfs.pack_folder(folder))
    from_folder = _parse(_feed(folder), _year(2018), tmp_path / "a")
    from_zip = _parse(_feed(archive), _year(2018), tmp_path / "b")
    assert {key: row["source_value"] for key, row in from_zip.items()} == {
        key: row["source_value"] for key, row in from_folder.items()}
    assert gtfs.pack_folder(folder) == gtfs.pack_folder(folder)


def test_frequencies_count_every_headway_departure_and_cities_come_from_file_names(tmp_path):
    cities = [{"city_id": "valencia", "city_name": "València", "area_km2": "135", "population": "800000",
               "income_group": "high", "latitude": "39.47", "longitude": "-0.38"},
              {"city_id": "tokyo", "city_name": "東京", "area_km2": "627", "population": "9700000",
               "income_group": "high", "latitude": "35.68", "longitude": "139.69"}]
    summary = demo_gtfs.write(tmp_path / "demo", cities, (2024,), seed=37)
    assert summary == {"gtfs_feeds": 2}
    feed = _feed(tmp_path / "demo" / "gtfs" / "{year}" / "*.zip", city_from="file_stem")
    rows = _parse(feed, _year(2024), tmp_path / "home")
    for city in cities:
        files = demo_gtfs.feed_files(city, 2024, 2024, 37)
        expected = 0
        for row in csv.DictReader(io.StringIO(files["frequencies.txt"].decode())):
            window = _seconds(row["end_time"]) - _seconds(row["start_time"])
            # a weekday trip runs 5 days of the busiest week, a weekend trip 2
            expected += math.ceil(window / int(row["headway_secs"])) * (5 if row["trip_id"].endswith("-WK") else 2)
        stops, _ = demo_gtfs.supply(city, 2024, 2024, 37)
        assert rows[(city["city_id"], "pt_departures_per_1000")]["source_value"] == expected
        assert rows[(city["city_id"], "pt_stops_per_km2")]["source_value"] == stops
    # Tokyo's feed has no calendar.txt: every service date is in calendar_dates.txt
    with zipfile.ZipFile(tmp_path / "demo" / "gtfs" / "2024" / "tokyo.zip") as archive:
        assert "calendar.txt" not in archive.namelist() and "citypeers_demo_readme.txt" in archive.namelist()


def _seconds(clock: str) -> int:
    hours, minutes, seconds = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds)


def test_a_broken_zip_is_a_clear_error_and_the_payload_is_kept(tmp_path):
    broken = tmp_path / "feeds" / "broken.zip"
    broken.parent.mkdir()
    broken.write_bytes(b"PK\x03\x04 this is not a complete zip file")
    feed = _feed(broken)
    landed = land(feed, _year(2024), gtfs.fetch(feed, _year(2024)), tmp_path / "home")
    with pytest.raises(FeedError, match="not a readable zip file") as caught:
        gtfs.parse(duckdb.connect(), landed, feed, _year(2024))
    assert "test_gtfs" in str(caught.value) and "download" in str(caught.value)
    assert landed[0].path.read_bytes() == broken.read_bytes()


def test_a_feed_without_stops_is_a_clear_error_naming_the_missing_file(tmp_path):
    folder = tmp_path / "feeds" / "caltrain"
    shutil.copytree(_real("caltrain-2017-07-24"), folder)
    (folder / "stops.txt").unlink()
    feed = _feed(folder)
    landed = land(feed, _year(2017), gtfs.fetch(feed, _year(2017)), tmp_path / "home")
    with pytest.raises(FeedError, match=r"lacks the required file\(s\) stops\.txt"):
        gtfs.parse(duckdb.connect(), landed, feed, _year(2017))
    assert landed[0].path.exists()


def test_a_required_column_missing_is_a_clear_error(tmp_path):
    folder = tmp_path / "feeds" / "trimet"
    shutil.copytree(_real("trimet-vermont-2018-02-06"), folder)
    trips = folder / "trips.txt"
    lines = trips.read_text(encoding="utf-8").splitlines()
    trips.write_text("\n".join([lines[0].replace("service_id", "service"), *lines[1:]]) + "\n", encoding="utf-8")
    feed = _feed(folder)
    landed = land(feed, _year(2018), gtfs.fetch(feed, _year(2018)), tmp_path / "home")
    with pytest.raises(FeedError, match=r"trips\.txt lacks the required column\(s\) service_id"):
        gtfs.parse(duckdb.connect(), landed, feed, _year(2018))


def test_a_year_outside_the_feed_service_gives_no_rows_not_an_error(tmp_path):
    rows = _parse(_feed(_real("caltrain-2017-07-24")), _year(2015), tmp_path)
    assert rows == {}


def test_no_matching_file_names_the_location(tmp_path):
    feed = _feed(tmp_path / "nowhere" / "*.zip")
    with pytest.raises(FeedError, match="no GTFS zip or folder matches"):
        gtfs.fetch(feed, _year(2024))


def test_a_broken_zip_fails_the_ingest_and_leaves_the_published_period_as_it_was(tmp_path, monkeypatch):
    home, feeds = tmp_path / "home", tmp_path / "feeds"
    home.mkdir()
    feeds.mkdir()
    registry = home / "feeds.yml"
    registry.write_text(f'feeds:\n  - feed_id: city_gtfs\n    source: gtfs\n    location: "{feeds}/*.zip"\n'
                        '    schedule: "@yearly"\n    options: {city_from: file_stem}\n', encoding="utf-8")
    monkeypatch.setenv("CITYPEERS_FEEDS", str(registry))
    (feeds / "madrid.zip").write_bytes(gtfs.pack_folder(_real("caltrain-2017-07-24")))
    with temporary_home(home):
        outcome = ingest.ingest("city_gtfs", "2017-01-01", "2018-01-01")
        assert outcome["published"] == 2
        published = paths.parsed_file("gtfs", "city_gtfs", "2017")
        before = published.read_bytes()
        (feeds / "madrid.zip").write_bytes(b"PK\x03\x04 cut off in transfer")
        with pytest.raises(FeedError) as raised:
            ingest.ingest("city_gtfs", "2017-01-01", "2018-01-01")
        assert "city_gtfs" in str(raised.value) and "madrid.zip" in str(raised.value)
        assert published.read_bytes() == before
        kept = {path.read_bytes() for path in paths.landing_dir("gtfs", "city_gtfs", "2017").glob("*.zip")}
        assert b"PK\x03\x04 cut off in transfer" in kept and len(kept) == 2  # the good and the broken payload
