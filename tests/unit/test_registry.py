from datetime import UTC, datetime
from pathlib import Path

import pytest

from citypeers.errors import ConfigError
from citypeers.registry import SOURCES, feed_schedules, feed_table, load_feeds


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


def test_every_demo_feed_of_the_project_registry_is_marked_demo():
    """The dashboards' demo-data banner reads this flag: a demo feed without it would pass its
    made-up figures off as measurements."""
    rows = feed_table(datetime(2026, 12, 6, tzinfo=UTC))
    assert {row["feed_id"] for row in rows if row["is_demo"]} == {
        row["feed_id"] for row in rows if row["feed_id"].startswith("demo_")} != set()


def test_demo_is_a_boolean_and_defaults_to_false(tmp_path):
    registry = _write(tmp_path, """
feeds:
  - {feed_id: real, source: indicator_template, location: /data/*.csv, schedule: "@yearly"}
  - {feed_id: made_up, source: indicator_template, location: /demo/*.csv, schedule: "@yearly", demo: true}
""")
    assert {feed.feed_id: feed.is_demo for feed in load_feeds(registry)} == {"real": False, "made_up": True}
    assert {row["feed_id"]: row["is_demo"] for row in feed_table(datetime(2026, 1, 1, tzinfo=UTC), registry)} == {
        "real": False, "made_up": True}


@pytest.mark.parametrize("written", ['"true"', "1", "demo"])
def test_a_demo_flag_that_is_not_a_boolean_is_refused(tmp_path, written):
    registry = _write(tmp_path, f"""
feeds:
  - {{feed_id: made_up, source: indicator_template, location: /demo/*.csv, schedule: "@yearly", demo: {written}}}
""")
    with pytest.raises(ConfigError, match="made_up.*demo"):
        load_feeds(registry)
    with pytest.raises(ConfigError, match="made_up.*demo"):
        feed_table(datetime(2026, 1, 1, tzinfo=UTC), registry)


def test_the_feeds_table_gives_the_next_run_of_a_cron_and_of_a_preset(tmp_path):
    """A data-interval timetable runs an interval when it ends: the next run is the schedule's next
    time after now; before the start date, the end of the first interval."""
    registry = _write(tmp_path, """
feeds:
  - {feed_id: quarterly, source: indicator_template, location: /q/*.csv, schedule: "0 0 1 */3 *"}
  - {feed_id: daily, source: indicator_template, location: /d/*.csv, schedule: "@daily"}
  - {feed_id: weekly_later, source: indicator_template, location: /w/*.csv, schedule: "0 6 * * 1",
     start_date: "2027-03-03"}
""")
    now = datetime(2026, 12, 6, 2, 50, tzinfo=UTC)
    rows = {row["feed_id"]: row for row in feed_table(now, registry)}
    assert rows["quarterly"]["next_run_at"] == datetime(2027, 1, 1, tzinfo=UTC)
    assert rows["daily"]["next_run_at"] == datetime(2026, 12, 7, tzinfo=UTC)
    # first interval: Monday 2027-03-08 06:00 to Monday 2027-03-15 06:00, run when it ends
    assert rows["weekly_later"]["next_run_at"] == datetime(2027, 3, 15, 6, tzinfo=UTC)
    assert (rows["daily"]["schedule"], rows["daily"]["location"], rows["daily"]["registry_read_at"]) == (
        "@daily", "/d/*.csv", now)


def test_a_schedule_that_is_no_cron_has_no_next_run_and_a_warning_naming_the_feed(tmp_path, caplog):
    """One feed's typo must not stop every feed's build; the dashboard shows no next run for it."""
    registry = _write(tmp_path, """
feeds:
  - {feed_id: broken, source: indicator_template, location: /b/*.csv, schedule: "every day"}
  - {feed_id: fine, source: indicator_template, location: /f/*.csv, schedule: "@daily"}
""")
    rows = {row["feed_id"]: row for row in feed_table(datetime(2026, 1, 1, tzinfo=UTC), registry)}
    assert rows["broken"]["next_run_at"] is None
    assert rows["fine"]["next_run_at"] == datetime(2026, 1, 2, tzinfo=UTC)
    assert "feed 'broken' has schedule 'every day'" in caplog.text
