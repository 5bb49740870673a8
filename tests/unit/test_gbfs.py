"""GBFS parser, on the real Citi Bike NYC v1 snapshot (2019-07-05), a v3 snapshot written here,
and broken snapshots."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from citypeers import paths
from citypeers.errors import FeedError
from citypeers.feeds import gbfs
from citypeers.feeds.payloads import LandedPayload
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.unit.landed import land, landed_file

REAL_FOLDER = paths.REPO_ROOT.parent / "shared" / "data" / "gbfs_citibike"
YEAR_2019 = Interval.of("2019-01-01", "2020-01-01")
YEAR_2024 = Interval.of("2024-01-01", "2025-01-01")


def _real_folder() -> Path:
    for name in ("station_information.json", "station_status.json"):
        if not (REAL_FOLDER / name).exists():
            pytest.fail(f"the real Citi Bike GBFS file is missing: {REAL_FOLDER / name} "
                        "(the tests need ../shared/data next to the repo)")
    return REAL_FOLDER


def _feed(location: str | Path, **options) -> Feed:
    # NYC is not in cities.csv: its figures stand in for a registry city here.
    city = {} if options.get("city_from") == "folder" else {"city_id": "madrid"}
    return Feed(feed_id="test_gbfs", source="gbfs", location=str(location), schedule="@yearly",
                options=options, **city)


def _files(folder: Path, *names: str) -> list[LandedPayload]:
    return [landed_file(folder / name, str(folder / name)) for name in names]


def _real_payloads() -> list[LandedPayload]:
    return _files(_real_folder(), "station_information.json", "station_status.json")


def _by_indicator(relation: duckdb.DuckDBPyRelation) -> dict[str, dict]:
    frame = relation.df()
    return {row["indicator_code"]: row for row in frame.to_dict("records")}


def test_citi_bike_stations_keep_the_capacity_invariant_and_the_known_system_totals():
    con = duckdb.connect()
    stations = gbfs.station_rows(con, _real_payloads(), _feed(REAL_FOLDER))
    totals = stations.aggregate(
        "count(*), sum(bikes_available), sum(docks_available), sum(capacity), "
        "count(*) FILTER (WHERE bikes_available + docks_available + bikes_disabled + docks_disabled <= capacity), "
        "count(*) FILTER (WHERE breaks_capacity IS DISTINCT FROM false), min(gbfs_version), min(snapshot_at_utc)"
    ).fetchone()
    assert totals[:4] == (845, 11411, 14072, 26249)
    assert totals[4] == 845
    assert totals[5] == 0
    assert totals[6] == "1.0"
    assert str(totals[7]) == "2019-07-05 15:54:17"


def test_citi_bike_city_totals_count_docked_bikes_and_stations_with_a_bike_and_a_dock():
    con = duckdb.connect()
    rows = _by_indicator(gbfs.parse(con, _real_payloads(), _feed(REAL_FOLDER), YEAR_2019))
    bikes, share = rows["shared_bikes_per_1000"], rows["bike_dock_availability_share"]
    # 11,411 available + 615 disabled bikes docked at 845 stations
    assert (bikes["year"], bikes["source_value"], bikes["source_unit"]) == (2019, 12026, "bike")
    assert bikes["basis"] == "total"
    # 762 of the 826 installed and renting stations have a bike and a free dock
    assert share["source_value"] == pytest.approx(100 * 762 / 826)
    assert (share["unit"], share["basis"], share["city_id"]) == ("percent", "rate", "madrid")
    assert bikes["parse_error"] is None and share["parse_error"] is None
    assert "station_status.json @ 2019-07-05T15:54:17Z" in bikes["source_ref"]


def test_snapshot_outside_the_interval_gives_nothing():
    con = duckdb.connect()
    assert gbfs.parse(con, _real_payloads(), _feed(REAL_FOLDER), YEAR_2024).count("*").fetchone()[0] == 0


def _v3_snapshot(folder: Path, *, broken_station: bool = False) -> Path:
    """A GBFS v3.0 snapshot: RFC 3339 times, localised names, vehicle field names, gbfs.json whose
    URLs point at a live system and whose status file has a non-default name."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = "2024-07-05T10:00:00+02:00"
    base = "https://gbfs.example.org/v3"
    (folder / "gbfs.json").write_text(json.dumps({
        "last_updated": stamp, "ttl": 60, "version": "3.0",
        "data": {"feeds": [{"name": "system_information", "url": f"{base}/system_information.json"},
                           {"name": "station_information", "url": f"{base}/station_information.json"},
                           {"name": "station_status", "url": f"{base}/status.json?lang=en"}]},
    }), encoding="utf-8")
    stations = [("A1", 20), ("A2", 15), ("A3", 10), ("A4", 12)]
    (folder / "station_information.json").write_text(json.dumps({
        "last_updated": stamp, "ttl": 60, "version": "3.0",
        "data": {"stations": [
            {"station_id": sid, "name": [{"text": f"Plaça {sid}", "language": "ca"}],
             "lat": 41.39, "lon": 2.17, "capacity": capacity}
            for sid, capacity in stations
        ]},
    }, ensure_ascii=False), encoding="utf-8")
    status = [
        # station, vehicles available, vehicles disabled, docks available, docks disabled, renting
        ("A1", 8, 1, 10, 1, True),   # bike and dock
        ("A2", 0, 0, 15, 0, True),   # empty
        ("A3", 10, 0, 0, 0, True),   # full
        ("A4", 5, 0, 7, 0, False),   # not renting: not in the share
    ]
    if broken_station:
        status[3] = ("A4", 9, 0, 7, 0, True)  # 16 > capacity 12
    (folder / "status.json").write_text(json.dumps({
        "last_updated": stamp, "ttl": 60, "version": "3.0",
        "data": {"stations": [
            {"station_id": sid, "num_vehicles_available": bikes, "num_vehicles_disabled": disabled,
             "num_docks_available": docks, "num_docks_disabled": docks_disabled,
             "is_installed": True, "is_renting": renting, "is_returning": True,
             "last_reported": "2024-07-05T09:59:00+02:00"}
            for sid, bikes, disabled, docks, docks_disabled, renting in status
        ]},
    }), encoding="utf-8")
    return folder


def test_v3_snapshot_found_through_gbfs_json_parses_to_the_same_kind_of_numbers(tmp_path):
    _v3_snapshot(tmp_path / "feed" / "barcelona")
    feed = _feed(tmp_path / "feed" / "*", city_from="folder")
    payloads = gbfs.fetch(feed, YEAR_2024)
    assert sorted(Path(p.request).name for p in payloads) == ["gbfs.json", "station_information.json", "status.json"]
    landed = land(feed, YEAR_2024, payloads, tmp_path / "home")
    con = duckdb.connect()
    stations = gbfs.station_rows(con, landed, feed).df().set_index("station_id")
    assert stations.loc["A1", "station_name"] == "Plaça A1"
    assert stations["breaks_capacity"].sum() == 0
    assert str(stations["snapshot_at_utc"].iloc[0]) == "2024-07-05 08:00:00"
    rows = _by_indicator(gbfs.parse(con, landed, feed, YEAR_2024))
    assert rows["shared_bikes_per_1000"]["source_value"] == 8 + 1 + 0 + 10 + 5
    assert rows["shared_bikes_per_1000"]["city_id"] == "barcelona"
    assert rows["bike_dock_availability_share"]["source_value"] == pytest.approx(100 / 3)
    assert "GBFS 3.0" in rows["bike_dock_availability_share"]["note"]


def test_station_breaking_the_capacity_invariant_is_left_out_and_named(tmp_path):
    folder = _v3_snapshot(tmp_path / "valencia", broken_station=True)
    payloads = _files(folder, "gbfs.json", "station_information.json", "status.json")
    con = duckdb.connect()
    stations = gbfs.station_rows(con, payloads, _feed(folder)).df().set_index("station_id")
    assert stations["breaks_capacity"].to_dict() == {"A1": False, "A2": False, "A3": False, "A4": True}
    rows = _by_indicator(gbfs.parse(con, payloads, _feed(folder), YEAR_2024))
    assert rows["shared_bikes_per_1000"]["source_value"] == 19
    assert rows["bike_dock_availability_share"]["source_value"] == pytest.approx(100 / 3)
    assert "1 station(s) left out: bikes + docks + disabled > capacity (A4)" in rows["shared_bikes_per_1000"]["note"]


def test_two_snapshots_of_a_city_in_a_year_give_their_median(tmp_path):
    first = _v3_snapshot(tmp_path / "a" / "valencia")
    second = _v3_snapshot(tmp_path / "b" / "valencia", broken_station=True)
    payloads = [*_files(first, "gbfs.json", "station_information.json", "status.json"),
                *_files(second, "gbfs.json", "station_information.json", "status.json")]
    feed = _feed(tmp_path, city_from="folder")
    rows = _by_indicator(gbfs.parse(duckdb.connect(), payloads, feed, YEAR_2024))
    assert rows["shared_bikes_per_1000"]["source_value"] == pytest.approx((24 + 19) / 2)  # the median of two
    assert rows["shared_bikes_per_1000"]["note"].startswith("median of 2 snapshots")


def test_malformed_status_json_is_a_feed_error_naming_the_file(tmp_path):
    folder = tmp_path / "nyc"
    shutil.copytree(_real_folder(), folder)
    (folder / "station_status.json").chmod(0o644)
    text = (folder / "station_status.json").read_text(encoding="utf-8")
    (folder / "station_status.json").write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(FeedError) as caught:
        gbfs.parse(duckdb.connect(), _files(folder, "station_information.json", "station_status.json"),
                   _feed(folder), YEAR_2019)
    message = str(caught.value)
    assert "not valid JSON" in message and "station_status.json" in message and "what to do" in message


def test_snapshot_without_station_status_is_a_feed_error_at_fetch_and_at_parse(tmp_path):
    folder = tmp_path / "nyc"
    folder.mkdir()
    shutil.copy(_real_folder() / "station_information.json", folder)
    with pytest.raises(FeedError, match=r"no station_status file \(station_status.json\).*what to do"):
        gbfs.fetch(_feed(folder), YEAR_2019)
    with pytest.raises(FeedError, match=r"snapshot has no station_status.*nyc.*what to do"):
        gbfs.parse(duckdb.connect(), _files(folder, "station_information.json"), _feed(folder), YEAR_2019)


def test_location_matching_nothing_is_a_feed_error(tmp_path):
    with pytest.raises(FeedError, match="no GBFS snapshot matches"):
        gbfs.fetch(_feed(tmp_path / "nothing" / "*"), YEAR_2019)


def test_demo_snapshots_cover_every_gbfs_version_and_ingest_cleanly_with_the_demo_feed(tmp_path):
    import yaml

    from citypeers.demo import gbfs as demo_gbfs

    cities = [c for c in _registry_cities() if c["city_id"] in ("madrid", "barcelona", "seoul")]
    demo_gbfs.write(tmp_path / "demo", cities, (2023, 2024, 2025), seed=37)
    versions = {json.loads((tmp_path / "demo" / "gbfs" / "2024" / c / "station_status.json").read_text())
                .get("version", "1.0") for c in ("madrid", "barcelona", "seoul")}
    assert versions == {"3.0", "2.3", "1.0"}
    demo_feed = next(f for f in yaml.safe_load(paths.feeds_file().read_text(encoding="utf-8"))["feeds"]
                     if f["feed_id"] == "demo_gbfs")
    assert demo_feed["location"].startswith("http://127.0.0.1:")  # fetched over HTTP: tests/unit/test_gbfs_http.py
    feed = Feed(feed_id="demo_gbfs", source="gbfs", schedule="@yearly", options={"city_from": "folder"},
                location=str(tmp_path / "demo" / "gbfs" / "{year}" / "*"))
    landed = land(feed, YEAR_2024, gbfs.fetch(feed, YEAR_2024), tmp_path / "home")
    con = duckdb.connect()
    broken = gbfs.station_rows(con, landed, feed).filter("breaks_capacity").select("snapshot").fetchall()
    assert [Path(row[0]).name for row in broken] == ["madrid"]  # the one planted station
    rows = gbfs.parse(con, landed, feed, YEAR_2024).df()
    assert len(rows) == 6 and rows["parse_error"].isna().all()
    per_1000 = {r["city_id"]: r["source_value"] / int(c["population"]) * 1000
                for r in rows.to_dict("records") for c in cities
                if r["city_id"] == c["city_id"] and r["indicator_code"] == "shared_bikes_per_1000"}
    assert all(0.5 < value < 6 for value in per_1000.values()), per_1000


def _registry_cities() -> list[dict[str, str]]:
    import csv

    with (paths.dbt_project_dir() / "seeds" / "cities.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
