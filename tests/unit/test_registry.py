from pathlib import Path

import pytest

from citypeers.errors import ConfigError
from citypeers.registry import SOURCES, feed_schedules, load_feeds


def _write(tmp_path: Path, text: str) -> Path:
    registry = tmp_path / "feeds.yml"
    registry.write_text(text, encoding="utf-8")
    return registry


def test_a_feed_for_a_known_city_is_configuration_only(tmp_path):
    registry = _write(tmp_path, """
feeds:
  - feed_id: madrid_eea
    source: eea_air
    location: /data/madrid/{year}/*.csv
    schedule: "@daily"
    city_id: madrid
""")
    (feed,) = load_feeds(registry)
    assert feed.city_for_station("ES0118A") == "madrid"
    assert feed.resolved_location(year=2024) == "/data/madrid/2024/*.csv"


def test_station_mapping_comes_from_a_csv_file(tmp_path):
    (tmp_path / "stations.csv").write_text("station_id,city_id\nS1,seoul\nS2,busan\n", encoding="utf-8")
    registry = _write(tmp_path, """
feeds:
  - feed_id: korea
    source: openaq_air
    location: http://127.0.0.1:1/v3
    schedule: "@daily"
    stations_file: stations.csv
""")
    (feed,) = load_feeds(registry)
    assert feed.city_for_station("S2") == "busan"
    assert feed.city_for_station("S9") is None


def test_sampling_points_of_eea_parquet_files_map_to_stations_through_the_stations_file(tmp_path):
    (tmp_path / "stations.csv").write_text(
        "sampling_point,station_id,city_id\nBE/SPO-BETR740_00005_100,BETR740,brussels\n"
        "BE/SPO-BETR740_00008_100,BETR740,brussels\n",
        encoding="utf-8",
    )
    registry = _write(tmp_path, """
feeds:
  - feed_id: flanders
    source: eea_air
    location: /data/be/*.parquet
    schedule: "@yearly"
    stations_file: stations.csv
    sampling_points: {"BE/SP_OTHER": BETR801}
""")
    (feed,) = load_feeds(registry)
    assert feed.sampling_points == {
        "BE/SP_OTHER": "BETR801",
        "BE/SPO-BETR740_00005_100": "BETR740",
        "BE/SPO-BETR740_00008_100": "BETR740",
    }
    assert feed.city_for_station("BETR740") == "brussels"


def test_city_key_mapping_of_an_indicator_feed_is_read_inline_and_from_a_csv_file(tmp_path):
    (tmp_path / "cities.csv").write_text("city_key,city_id\nWien,vienna\n", encoding="utf-8")
    registry = _write(tmp_path, """
feeds:
  - feed_id: waste
    source: wide_table
    location: /data/waste.csv
    schedule: "@yearly"
    cities: {"València": valencia}
    cities_file: cities.csv
""")
    (feed,) = load_feeds(registry)
    assert feed.city_keys == {"València": "valencia", "Wien": "vienna"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("source: eea_air\n    location: x\n    schedule: '@daily'\n    city_id: atlantis", "unknown cities"),
        ("source: csv_magic\n    location: x\n    schedule: '@daily'\n    city_id: madrid", "known sources"),
        ("source: eea_air\n    location: x\n    city_id: madrid", "has no 'schedule'"),
        ("source: eea_air\n    location: x\n    schedule: '@daily'", "needs a city_id"),
        ("source: eea_air\n    location: x\n    schedule: '@daily'\n    stations_file: nope.csv", "does not exist"),
    ],
)
def test_a_wrong_feed_entry_is_a_clear_config_error(tmp_path, entry, message):
    registry = _write(tmp_path, f"feeds:\n  - feed_id: bad_feed\n    {entry}\n")
    with pytest.raises(ConfigError, match=message):
        load_feeds(registry)


def test_the_project_registry_has_one_dag_worth_of_schedule_per_feed():
    schedules = {source: feed_schedules(source) for source in SOURCES}
    assert {feed_id for feeds in schedules.values() for feed_id in feeds} == {
        "demo_europe", "demo_asia", "demo_gtfs", "demo_gbfs", "demo_gbfs_live", "demo_water", "demo_noise",
        "demo_city_template", "demo_waste", "demo_practices",
    }
    schedules = {feed_id: schedule for feeds in schedules.values() for feed_id, schedule in feeds.items()}
    assert all(schedule for schedule, _ in schedules.values())
