"""The practices registry (CSV template and YAML) → parsed practices, and its gate."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from citypeers import ingest, paths
from citypeers.errors import ContractError, FeedError
from citypeers.feeds import PARSED_PRACTICE_COLUMNS, practices
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.citypeers_home import temporary_home
from tests.unit.landed import landed_file

YEAR_2025 = ("2025-01-01", "2026-01-01")
HEADER = ("practice_id,city,title,domain,category,indicator_codes,start_date,end_date,scope,description,source_url,"
          "contact")
GOOD_CSV_ROWS = [
    "bcn-lez,Barcelona,Low-emission zone,,low_emission_zone,pm10_annual_mean; NO2_annual_mean,2020-01-01,,zone,"
    "Ring roads,https://example.org/lez,air office",
    "mad-brt,madrid,Bus corridors,mobility,bus_rapid_transit,pt_departures_per_1000,2023-06-15,2024-12-31,"
    "citywide,,,",
    "vlc-water,valencia,Smart meters,water,water_metering,water_l_per_resident_day,2025-12-31,,pilot,,,",
]
GOOD_YAML = """
practices:
  - practice_id: waw-heating
    city: Warsaw
    title: Coal boiler replacement
    category: clean_heating_programme
    indicator_codes: [pm25_annual_mean, pm10_annual_mean]
    start_date: 2019-09-01
    scope: citywide
    source_url: https://example.org/heating
  - practice_id: tpe-parking
    city: taipei
    title: Parking pricing
    domain: mobility
    category: parking_pricing
    indicator_codes: [no2_annual_mean]
    start_date: 2024-01-01
    end_date: 2025-06-30
    scope: zone
    demo: true
"""


def _feeds_yml(home: Path, location: Path, extra: str = "") -> Path:
    registry = home / "feeds.yml"
    registry.write_text(
        f"feeds:\n  - feed_id: city_practices\n    source: practices\n"
        f"    location: \"{location}\"\n    schedule: \"@yearly\"\n{extra}",
        encoding="utf-8",
    )
    return registry


@pytest.fixture
def registry_dir(tmp_path, monkeypatch):
    """A temporary home whose feeds.yml has one practices feed reading every file of the folder returned."""
    home, folder = tmp_path / "home", tmp_path / "registry"
    home.mkdir()
    folder.mkdir()
    monkeypatch.setenv("CITYPEERS_FEEDS", str(_feeds_yml(home, folder / "*")))
    with temporary_home(home):
        yield folder


def _write_csv(folder: Path, rows: list[str]) -> None:
    (folder / "practices.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")


def _partition(interval_label: str = "2025") -> pd.DataFrame:
    return duckdb.sql(f"select * from '{paths.parsed_file('practices', 'city_practices', interval_label)}'").df()


def _quarantine(interval_label: str = "2025") -> dict[str | None, str]:
    rows = duckdb.sql(f"select practice_id, quarantine_reason from "
                      f"'{paths.quarantine_file('practices', 'city_practices', interval_label)}'").fetchall()
    return dict(rows)


def test_a_valid_csv_registry_publishes_every_row_with_city_ids_sorted_codes_and_the_category_domain(registry_dir):
    _write_csv(registry_dir, GOOD_CSV_ROWS)
    outcome = ingest.ingest("city_practices", *YEAR_2025)
    assert (outcome["published"], outcome["quarantined"]) == (3, 0)
    rows = _partition().set_index("practice_id")
    assert sorted(rows.index) == ["bcn-lez", "mad-brt", "vlc-water"]
    lez = rows.loc["bcn-lez"]
    assert (lez["city_id"], lez["city_key"], lez["domain"], lez["scope"]) == ("barcelona", "Barcelona", "air_quality",
                                                                              "zone")
    assert lez["indicator_codes"] == "no2_annual_mean;pm10_annual_mean"
    assert str(lez["start_date"].date()) == "2020-01-01" and pd.isna(lez["end_date"])
    assert (lez["source_url"], lez["contact"], lez["is_demo"]) == ("https://example.org/lez", "air office", False)
    assert str(rows.loc["mad-brt", "end_date"].date()) == "2024-12-31"
    assert (rows["source"] == "practices").all() and (rows["period"] == "2025").all()
    assert rows["parse_error"].isna().all()


def test_a_valid_yaml_registry_publishes_every_row(registry_dir):
    (registry_dir / "practices.yml").write_text(GOOD_YAML, encoding="utf-8")
    outcome = ingest.ingest("city_practices", *YEAR_2025)
    assert (outcome["published"], outcome["quarantined"]) == (2, 0)
    rows = _partition().set_index("practice_id")
    heating = rows.loc["waw-heating"]
    assert (heating["city_id"], heating["domain"], heating["is_demo"]) == ("warsaw", "air_quality", False)
    assert heating["indicator_codes"] == "pm10_annual_mean;pm25_annual_mean"
    assert str(heating["start_date"].date()) == "2019-09-01"
    assert rows.loc["tpe-parking", "is_demo"]
    assert str(rows.loc["tpe-parking", "end_date"].date()) == "2025-06-30"
    assert rows.loc["tpe-parking", "source_row"] == 2


def test_a_csv_and_a_yaml_file_of_one_feed_make_one_snapshot(registry_dir):
    _write_csv(registry_dir, GOOD_CSV_ROWS)
    (registry_dir / "more.yaml").write_text(GOOD_YAML, encoding="utf-8")
    outcome = ingest.ingest("city_practices", *YEAR_2025)
    assert (outcome["published"], outcome["quarantined"]) == (5, 0)


def test_parsed_columns_are_the_contract_columns_in_order(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("\n".join([HEADER, *GOOD_CSV_ROWS]) + "\n", encoding="utf-8")
    relation = practices.parse(duckdb.connect(), [landed_file(path, str(path))],
                               Feed("p", "practices", str(path), "@yearly"), Interval.of(*YEAR_2025))
    assert relation.columns == [name for name, _ in PARSED_PRACTICE_COLUMNS]
    assert [str(t) for t in relation.types] == [sql_type for _, sql_type in PARSED_PRACTICE_COLUMNS]


BAD_ROWS = [
    ("bad,Atlantis,T,,low_emission_zone,no2_annual_mean,2020-01-01,,zone,,,",
     "out of scope: city 'Atlantis' is not a known city: not in the city registry"),
    ("bad,madrid,T,,low_emission_zone,no2_annual_mean;no2_annual_meen;population,2020-01-01,,zone,,,",
     "indicator code(s) 'no2_annual_meen', 'population' not in the catalogue dbt_project/seeds/indicators.csv"),
    ("bad,madrid,T,,low_emission_zone,,2020-01-01,,zone,,,", "indicator_codes is missing"),
    ("bad,madrid,T,,low_emission_zoen,no2_annual_mean,2020-01-01,,zone,,,",
     "category 'low_emission_zoen' is not in the vocabulary dbt_project/seeds/practice_categories.csv"),
    ("bad,madrid,T,mobility,low_emission_zone,no2_annual_mean,2020-01-01,,zone,,,",
     "domain 'mobility' is not the domain of category low_emission_zone (air_quality): write air_quality "
     "or leave domain empty"),
    ("bad,madrid,T,,low_emission_zone,no2_annual_mean,,,zone,,,", "start_date is missing"),
    ("bad,madrid,T,,low_emission_zone,no2_annual_mean,01/03/2020,,zone,,,",
     "start_date '01/03/2020' is not a date: write YYYY-MM-DD"),
    ("bad,madrid,T,,low_emission_zone,no2_annual_mean,2020-02-30,,zone,,,",
     "start_date '2020-02-30' is not a date"),
    ("bad,madrid,T,,low_emission_zone,no2_annual_mean,2020-01-01,soon,zone,,,",
     "end_date 'soon' is not a date"),
    ("bad,madrid,T,,low_emission_zone,no2_annual_mean,2021-01-01,2020-12-31,zone,,,",
     "start_date 2021-01-01 is after end_date 2020-12-31"),
    ("bad,madrid,T,,low_emission_zone,no2_annual_mean,2026-01-01,,zone,,,",
     "start_date 2026-01-01 is in the future for period 2025 (which ends 2026-01-01)"),
    ("bad,madrid,T,,low_emission_zone,no2_annual_mean,2020-01-01,,district,,,",
     "scope 'district' is not one of citywide, zone, pilot"),
    ("bad,madrid,T,,low_emission_zone,no2_annual_mean,2020-01-01,,,,,", "scope is missing"),
    (",madrid,T,,low_emission_zone,no2_annual_mean,2020-01-01,,zone,,,", "practice_id is missing"),
    ("bad,madrid,,,low_emission_zone,no2_annual_mean,2020-01-01,,zone,,,", "title is missing"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS, ids=[reason.split(" is ")[0][:40] for _, reason in BAD_ROWS])
def test_a_bad_row_is_quarantined_with_its_reason_and_the_others_publish(registry_dir, row, reason):
    _write_csv(registry_dir, [*GOOD_CSV_ROWS, row])
    outcome = ingest.ingest("city_practices", *YEAR_2025)
    assert (outcome["published"], outcome["quarantined"]) == (3, 1)
    quarantined = _quarantine()
    assert len(quarantined) == 1
    assert reason in next(iter(quarantined.values()))
    assert sorted(_partition()["practice_id"]) == ["bcn-lez", "mad-brt", "vlc-water"]


def test_a_practice_started_on_the_last_day_of_the_period_is_not_in_the_future(registry_dir):
    _write_csv(registry_dir, ["last-day,madrid,T,,low_emission_zone,no2_annual_mean,2025-12-31,,zone,,,"])
    assert ingest.ingest("city_practices", *YEAR_2025)["published"] == 1


def test_a_duplicate_practice_id_quarantines_every_entry_with_that_id(registry_dir):
    duplicate = "bcn-lez,barcelona,LEZ again,,low_emission_zone,no2_annual_mean,2021-01-01,,citywide,,,"
    extra = "sev-bikes,Seville,Bike share,,bike_share_launch,shared_bikes_per_1000,2007-07-01,,citywide,,,"
    _write_csv(registry_dir, [*GOOD_CSV_ROWS, extra, duplicate])
    outcome = ingest.ingest("city_practices", *YEAR_2025)
    assert (outcome["published"], outcome["quarantined"]) == (3, 2)
    reasons = duckdb.sql(f"select practice_id, quarantine_reason from "
                         f"'{paths.quarantine_file('practices', 'city_practices', '2025')}'").fetchall()
    assert [practice_id for practice_id, _ in reasons] == ["bcn-lez", "bcn-lez"]
    assert all(reason.startswith("duplicate practice_id") for _, reason in reasons)
    assert sorted(_partition()["practice_id"]) == ["mad-brt", "sev-bikes", "vlc-water"]


@pytest.mark.parametrize(("gate", "chunks"), [("full", 4), ("sql", 1)])
def test_a_duplicate_practice_id_is_found_when_the_gate_validates_in_small_chunks(registry_dir, monkeypatch,
                                                                                  gate, chunks):
    monkeypatch.setenv("CITYPEERS_GX_CHUNK_ROWS", "2")
    monkeypatch.setenv("CITYPEERS_GX_GATE", gate)
    rows = [f"p{n:02d},madrid,T,,low_emission_zone,no2_annual_mean,2020-01-01,,zone,,," for n in range(7)]
    _write_csv(registry_dir, [*rows, rows[5]])
    outcome = ingest.ingest("city_practices", *YEAR_2025)
    assert (outcome["published"], outcome["quarantined"]) == (6, 2)
    assert set(_quarantine()) == {"p05"}
    record = json.loads((paths.validation_dir("parsed__practices") / "city_practices__2025.json").read_text())
    # full: 8 rows by ranges of practice_id; sql: GX sees the 2 duplicates and 1 clean witness row
    assert len(record.get("chunk_results", [record.get("result")])) == chunks
    assert (record["summary"]["row_count"], record["summary"]["gx_rows"]) == (8, 8 if gate == "full" else 3)


def test_an_unknown_yaml_field_or_an_entry_that_is_not_a_mapping_is_quarantined(registry_dir):
    bad = GOOD_YAML + "  - practice_id: typo\n    city: madrid\n    stat_date: 2020-01-01\n  - just text\n"
    (registry_dir / "practices.yml").write_text(bad + "\n".join(f"  - {{practice_id: ok{n}, city: madrid, title: T, "
                                                                  "category: noise_barriers, indicator_codes: "
                                                                  "[noise_lden55_share], start_date: 2020-01-01, "
                                                                  "scope: zone}" for n in range(3)) + "\n",
                                                encoding="utf-8")
    outcome = ingest.ingest("city_practices", *YEAR_2025)
    assert (outcome["published"], outcome["quarantined"]) == (5, 2)
    reasons = _quarantine()
    assert "unknown field(s) stat_date" in reasons["typo"]
    assert "entry 'just text' is not a mapping of fields" in reasons[None]


def test_city_keys_mapped_in_feeds_yml_and_the_feeds_city_resolve(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(HEADER + "\na,VLC,T,,noise_barriers,noise_lden55_share,2020-01-01,,zone,,,"
                    "\nb,,T,,noise_barriers,noise_lden55_share,2020-01-01,,zone,,,\n", encoding="utf-8")
    feed = Feed("p", "practices", str(path), "@yearly", city_id="seville", city_keys={"VLC": "valencia"})
    rows = practices.parse(duckdb.connect(), [landed_file(path, str(path))], feed, Interval.of(*YEAR_2025)).df()
    assert rows.set_index("practice_id")["city_id"].to_dict() == {"a": "valencia", "b": "seville"}
    assert rows["parse_error"].isna().all()


def test_a_city_is_matched_within_its_country_never_by_name_alone(tmp_path):
    path = tmp_path / "p.csv"
    rows = ["a,Valencia,ESP,T,,noise_barriers,noise_lden55_share,2020-01-01,,zone,,,",
            "b,Valencia,Venezuela,T,,noise_barriers,noise_lden55_share,2020-01-01,,zone,,,",
            "c,valencia,,T,,noise_barriers,noise_lden55_share,2020-01-01,,zone,,,"]
    path.write_text("\n".join([",".join(practices.TEMPLATE_COLUMNS), *rows]) + "\n", encoding="utf-8")
    feed = Feed("p", "practices", str(path), "@yearly")
    rows = practices.parse(duckdb.connect(), [landed_file(path, str(path))], feed, Interval.of(*YEAR_2025)).df()
    by_id = rows.set_index("practice_id")
    assert by_id["city_id"].fillna("(none)").to_dict() == {"a": "valencia", "b": "(none)", "c": "valencia"}
    assert by_id.loc["b", "parse_error"].startswith("out of scope: city 'Valencia' in 'Venezuela' is not a known city")
    assert by_id.loc[["a", "c"], "parse_error"].isna().all()


def test_an_out_of_scope_city_does_not_count_toward_a_broken_registry(registry_dir):
    _write_csv(registry_dir, [f"x{n},Atlantis,T,,noise_barriers,noise_lden55_share,2020-01-01,,zone,,,"
                              for n in range(5)] + GOOD_CSV_ROWS[:1])
    outcome = ingest.ingest("city_practices", *YEAR_2025)
    assert (outcome["published"], outcome["quarantined"], outcome["out_of_scope"]) == (1, 5, 5)


def test_a_registry_mostly_not_started_yet_publishes_what_has_started(registry_dir):
    """A backfill of an early year finds most practices in the future: that is not a broken feed."""
    _write_csv(registry_dir, GOOD_CSV_ROWS)
    outcome = ingest.ingest("city_practices", "2020-01-01", "2021-01-01")
    assert (outcome["published"], outcome["quarantined"]) == (1, 2)
    assert list(_partition("2020")["practice_id"]) == ["bcn-lez"]
    assert all("is in the future for period 2020" in reason for reason in _quarantine("2020").values())


def test_a_registry_mostly_wrong_fails_naming_the_row_and_field_and_publishes_nothing(registry_dir):
    _write_csv(registry_dir, [
        GOOD_CSV_ROWS[0],
        "x1,madrid,T,,low_emission_zoen,no2_annual_mean,2020-01-01,,zone,,,",
        "x2,madrid,T,,low_emision_zone,no2_annual_mean,2020-01-01,,zone,,,",
        "x4,Atlantis,T,,low_emission_zone,no2_annual_mean,2020-01-01,,zone,,,",  # out of scope: left out
        "x3,madrid,T,,low_emission_zone,no2_annual_mean,2030-01-01,,zone,,,",  # not yet due: left out
    ])
    with pytest.raises(ContractError) as raised:
        ingest.ingest("city_practices", *YEAR_2025)
    message = str(raised.value)
    assert "2 of 3 rows fail validation" in message and "1 rows that start after the period" in message
    assert "1 rows out of scope or not measurements not counted" in message
    assert "practice_id=x1" in message and "category 'low_emission_zoen'" in message and "What to do" in message
    assert not paths.parsed_file("practices", "city_practices", "2025").exists()


def test_a_rerun_of_the_same_interval_gives_the_same_partition(registry_dir):
    _write_csv(registry_dir, [*GOOD_CSV_ROWS, "bad,Atlantis,T,,low_emission_zone,no2_annual_mean,2020-01-01,,zone,,,"])
    first = ingest.ingest("city_practices", *YEAR_2025)
    partition, quarantine = _partition(), _quarantine()
    second = ingest.ingest("city_practices", *YEAR_2025, force=True)  # parsed and validated again
    assert second == first
    pd.testing.assert_frame_equal(_partition(), partition)
    assert _quarantine() == quarantine
    assert ingest.ingest("city_practices", *YEAR_2025)["unchanged"] is True  # unforced: the same payload is skipped


def test_a_registry_file_of_another_format_or_without_its_columns_is_a_feed_error(registry_dir):
    (registry_dir / "practices.csv").write_text("practice_id,city,title\na,madrid,T\n", encoding="utf-8")
    with pytest.raises(FeedError, match="lacks required column.*category"):
        ingest.ingest("city_practices", *YEAR_2025)
    (registry_dir / "practices.csv").unlink()
    (registry_dir / "practices.yml").write_text("- practice_id: a\n", encoding="utf-8")
    with pytest.raises(FeedError, match="no `practices:` list"):
        ingest.ingest("city_practices", *YEAR_2025)
    (registry_dir / "practices.yml").unlink()
    (registry_dir / "practices.json").write_text("{}", encoding="utf-8")
    with pytest.raises(FeedError, match="is a .csv, .yml or .yaml file"):
        ingest.ingest("city_practices", *YEAR_2025)


def test_the_blank_templates_have_the_documented_fields_and_the_yaml_example_parses_clean(tmp_path):
    templates = paths.REPO_ROOT / "feeds" / "templates"
    blank_csv = (templates / "citypeers_practices_template.csv").read_text(encoding="utf-8").strip()
    assert blank_csv == ",".join(practices.TEMPLATE_COLUMNS)
    assert blank_csv.replace(",country", "") == HEADER  # the country column is optional (older registries)
    blank_yaml = (templates / "citypeers_practices_template.yml").read_text(encoding="utf-8")
    assert yaml.safe_load(blank_yaml) == {"practices": None}  # a blank registry
    # the commented example entry, uncommented, is a valid practice
    example = "\n".join(line.replace("  # ", "  ", 1) if line.startswith("  # ") else line
                        for line in blank_yaml.splitlines())
    entries = yaml.safe_load(example)["practices"]
    assert len(entries) == 1 and set(entries[0]) == set(practices.TEMPLATE_COLUMNS)
    path = tmp_path / "example.yml"
    path.write_text(example, encoding="utf-8")
    rows = practices.parse(duckdb.connect(), [landed_file(path, str(path))],
                           Feed("p", "practices", str(path), "@yearly"), Interval.of(*YEAR_2025)).df()
    assert len(rows) == 1 and rows["parse_error"].isna().all()


def test_the_demo_practices_file_ingests_with_nothing_quarantined(tmp_path, monkeypatch):
    from citypeers.demo import practices as demo_practices
    from citypeers.demo.feed_server import serve
    from citypeers.demo.planted_practices import DEMO_PRACTICES

    home = tmp_path / "home"
    home.mkdir()
    cities = [{"city_id": practice.city_id} for practice in DEMO_PRACTICES]
    summary = demo_practices.write(home / "feeds" / "demo", cities)
    assert summary == {"practices_files": 1, "practices_entries": len(DEMO_PRACTICES)}
    # the demo feed exactly as feeds.yml declares it, fetched from the demo feed server
    server = serve(home, 0, rate_limit_every=0)
    try:
        project = yaml.safe_load((paths.REPO_ROOT / "feeds.yml").read_text(encoding="utf-8"))
        demo_feed = next(feed for feed in project["feeds"] if feed["feed_id"] == "demo_practices")
        demo_feed["location"] = demo_feed["location"].replace("http://127.0.0.1:8765", server.root_url)
        registry = home / "feeds.yml"
        registry.write_text(yaml.safe_dump({"feeds": [demo_feed]}), encoding="utf-8")
        monkeypatch.setenv("CITYPEERS_FEEDS", str(registry))
        with temporary_home(home):
            outcome = ingest.ingest("demo_practices", *YEAR_2025)
            rows = duckdb.sql(f"select * from '{paths.parsed_file('practices', 'demo_practices', '2025')}'").df()
    finally:
        server.shutdown()
    assert (outcome["published"], outcome["quarantined"]) == (len(DEMO_PRACTICES), 0)
    assert set(rows["practice_id"]) == {practice.practice_id for practice in DEMO_PRACTICES}
    assert rows["is_demo"].all()
    by_id = rows.set_index("practice_id")
    for practice in DEMO_PRACTICES:
        assert by_id.loc[practice.practice_id, "city_id"] == practice.city_id
        assert by_id.loc[practice.practice_id, "indicator_codes"] == ";".join(sorted(practice.indicator_codes))
        assert str(by_id.loc[practice.practice_id, "start_date"].date()) == practice.start_date


def test_the_demo_writer_lists_only_the_generated_cities(tmp_path):
    from citypeers.demo import practices as demo_practices

    assert demo_practices.write(tmp_path, [{"city_id": "barcelona"}, {"city_id": "madrid"}])["practices_entries"] == 1
    listed = yaml.safe_load((tmp_path / "practices" / "practices.yml").read_text(encoding="utf-8"))["practices"]
    assert [entry["city"] for entry in listed] == ["barcelona"] and listed[0]["demo"] is True


def test_an_optional_csv_demo_column_marks_demo_entries_and_a_wrong_value_is_quarantined(tmp_path):
    path = tmp_path / "p.csv"
    row = "{},madrid,T,,noise_barriers,noise_lden55_share,2020-01-01,,zone,,,,{}"
    path.write_text("\n".join([HEADER + ",demo", row.format("a", "true"), row.format("b", ""),
                               row.format("c", "maybe")]) + "\n", encoding="utf-8")
    rows = practices.parse(duckdb.connect(), [landed_file(path, str(path))],
                           Feed("p", "practices", str(path), "@yearly"), Interval.of(*YEAR_2025)).df()
    by_id = rows.set_index("practice_id")
    assert by_id["is_demo"].to_dict() == {"a": True, "b": False, "c": False}
    assert by_id.loc[["a", "b"], "parse_error"].isna().all()
    assert by_id.loc["c", "parse_error"] == "demo 'maybe' is not true or false"
