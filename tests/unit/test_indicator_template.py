"""The citypeers indicator template (long CSV) → parsed indicator observations, and its gate."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from citypeers import ingest, paths
from citypeers.errors import ContractError, FeedError
from citypeers.feeds import PARSED_INDICATOR_COLUMNS
from citypeers.feeds import indicator_template as template
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.citypeers_home import temporary_home
from tests.unit.landed import landed_file

YEAR_2024 = Interval.of("2024-01-01", "2025-01-01")
GOOD_ROWS = """city,indicator_code,period,value,unit,source,note
valencia,msw_recycled_share,2024,31.5,%,Ajuntament de València,
Madrid,msw_kg_per_resident_day,2024,1200000,t/year,,a city total
madrid,house_price_to_income_ratio,2023,8.1,ratio,,outside 2024
"""


def _parse(path: Path, text: str, feed: Feed | None = None, interval: Interval = YEAR_2024) -> pd.DataFrame:
    path.write_text(text, encoding="utf-8")
    feed = feed or Feed("tpl", "indicator_template", str(path), "@yearly")
    return template.parse(duckdb.connect(), [landed_file(path, str(path))], feed, interval).df()


def test_rows_of_the_interval_are_kept_in_canonical_units(tmp_path):
    rows = _parse(tmp_path / "t.csv", GOOD_ROWS).set_index("indicator_code")
    assert list(rows.index) == ["msw_kg_per_resident_day", "msw_recycled_share"]  # 2023 left out
    assert rows.loc["msw_recycled_share", ["city_id", "value", "unit", "basis"]].tolist() == [
        "valencia", 31.5, "percent", "rate"]
    assert rows.loc["msw_recycled_share", "source_ref"] == "Ajuntament de València"
    total = rows.loc["msw_kg_per_resident_day"]
    assert (total["city_id"], total["basis"], total["unit"]) == ("madrid", "total", "kg / resident / day")
    assert total["value"] == pytest.approx(1_200_000 * 1000 / 365.25)  # kg/day for the whole city
    assert rows["parse_error"].isna().all()


def test_parsed_columns_are_the_contract_columns_in_order(tmp_path):
    relation_columns = list(_parse(tmp_path / "t.csv", GOOD_ROWS).columns)
    assert relation_columns == [name for name, _ in PARSED_INDICATOR_COLUMNS]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("Atlantis,msw_recycled_share,2024,10,%", "city 'Atlantis' is not a known city"),
        ("madrid,msw_recycled_share,2024,10,kg", "unit 'kg' does not fit indicator msw_recycled_share"),
        ("madrid,msw_recycled_shar,2024,10,%", "unknown indicator 'msw_recycled_shar'"),
        ("madrid,msw_recycled_share,20x4,10,%", "period '20x4' is not a year"),
        ("madrid,msw_recycled_share,2024,\"10,5\",%", "value '10,5' is not a number"),
        ("madrid,msw_recycled_share,2024,,%", "no value"),
    ],
)
def test_a_bad_row_carries_its_reason(tmp_path, row, reason):
    rows = _parse(tmp_path / "t.csv", f"city,indicator_code,period,value,unit\n{row}\n")
    assert len(rows) == 1
    assert reason in rows.loc[0, "parse_error"]


def test_city_keys_mapped_in_feeds_yml_resolve(tmp_path):
    feed = Feed("tpl", "indicator_template", "x", "@yearly", city_keys={"VLC": "valencia"})
    rows = _parse(tmp_path / "t.csv", "city,indicator_code,period,value,unit\nVLC,msw_recycled_share,2024,3,%\n",
                  feed)
    assert rows.loc[0, "city_id"] == "valencia"


def test_missing_required_column_names_the_column_and_the_file(tmp_path):
    with pytest.raises(FeedError, match="lacks required column.*unit") as raised:
        _parse(tmp_path / "t.csv", "city,indicator_code,period,value\nmadrid,msw_recycled_share,2024,3\n")
    assert str(tmp_path / "t.csv") in str(raised.value)


def _feeds_yml(home: Path, location: Path) -> Path:
    registry = home / "feeds.yml"
    registry.write_text(
        f"feeds:\n  - feed_id: city_sheet\n    source: indicator_template\n"
        f"    location: \"{location}\"\n    schedule: \"@yearly\"\n",
        encoding="utf-8",
    )
    return registry


@pytest.fixture
def template_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CITYPEERS_FEEDS", str(_feeds_yml(home, tmp_path / "sheets" / "*.csv")))
    (tmp_path / "sheets").mkdir()
    with temporary_home(home):
        yield tmp_path / "sheets"


def test_ingest_publishes_good_rows_and_quarantines_bad_ones_with_the_reason(template_home):
    (template_home / "2024.csv").write_text(
        GOOD_ROWS + "valencia,rent_to_income_share,2024,35,t/year,,\n", encoding="utf-8")
    outcome = ingest.ingest("city_sheet", "2024-01-01", "2025-01-01")
    assert (outcome["published"], outcome["quarantined"]) == (2, 1)
    quarantined = duckdb.sql(
        f"select indicator_code, quarantine_reason from "
        f"'{paths.quarantine_file('indicator_template', 'city_sheet', '2024')}'").fetchall()
    assert quarantined[0][0] == "rent_to_income_share"
    assert "unit 't/year' does not fit" in quarantined[0][1]
    landed = list(paths.landing_dir("indicator_template", "city_sheet", "2024").glob("*.csv"))
    assert len(landed) == 1


def test_a_sheet_mostly_wrong_fails_naming_feed_row_and_field_and_publishes_nothing(template_home):
    (template_home / "2024.csv").write_text(
        "city,indicator_code,period,value,unit\nmadrid,msw_recycled_share,2024,10,kg\n"
        "valencia,msw_recycled_share,2024,10,kg\nseville,msw_recycled_share,2024,12,%\n", encoding="utf-8")
    with pytest.raises(ContractError) as raised:
        ingest.ingest("city_sheet", "2024-01-01", "2025-01-01")
    message = str(raised.value)
    assert "feed 'city_sheet'" in message and "source_unit=kg" in message and "What to do" in message
    assert not paths.parsed_file("indicator_template", "city_sheet", "2024").exists()
    assert any(paths.landing_dir("indicator_template", "city_sheet", "2024").glob("*.csv"))


def test_the_blank_template_has_the_documented_header():
    blank = paths.REPO_ROOT / "feeds" / "templates" / "citypeers_indicator_template.csv"
    assert blank.read_text(encoding="utf-8").strip() == "city,indicator_code,period,value,unit,source,note"


def test_demo_city_template_files_parse_with_the_demo_feed(tmp_path):
    import csv

    from citypeers.demo import indicator_template as demo_template

    with (paths.dbt_project_dir() / "seeds" / "cities.csv").open(newline="", encoding="utf-8") as handle:
        cities = [c for c in csv.DictReader(handle) if c["city_id"] in ("madrid", "delhi", "tokyo")]
    demo_template.write(tmp_path, cities, (2023, 2024, 2025), seed=37)
    feed = Feed(feed_id="demo_city_template", source="indicator_template",
                location=str(tmp_path / "indicator_template" / "{year}.csv"), schedule="@yearly")
    con = duckdb.connect()
    clean = template.parse(con, [landed_file(tmp_path / "indicator_template" / "2023.csv", "2023.csv")], feed,
                           Interval.of("2023-01-01", "2024-01-01")).df()
    # 4 housing indicators and 3 context figures per city, all in canonical units
    assert len(clean) == 3 * 7 and clean["parse_error"].isna().all()
    assert set(clean["indicator_code"]) == {
        "house_price_to_income_ratio", "rent_to_income_share", "housing_cost_overburden_share",
        "overcrowding_share", "population", "area_km2", "gdp_per_capita_ppp"}
    population = clean[clean["indicator_code"] == "population"].set_index("city_id")["value"]
    assert population["tokyo"] > population["madrid"] > 1_000_000
    planted = template.parse(con, [landed_file(tmp_path / "indicator_template" / "2024.csv", "2024.csv")], feed,
                             Interval.of("2024-01-01", "2025-01-01")).df()
    reasons = planted.dropna(subset=["parse_error"])["parse_error"].tolist()
    assert len(reasons) == 2, reasons
    assert any("percent_of_income" in reason for reason in reasons)
    assert any("Atlantis" in reason for reason in reasons)


def test_the_gate_in_small_chunks_gives_the_same_partition_and_quarantine(template_home, monkeypatch):
    cities = [line.split(",")[0] for line in
              (paths.REPO_ROOT / "dbt_project" / "seeds" / "cities.csv").read_text().splitlines()[1:13]]
    rows = [f"{city},msw_recycled_share,2024,{20 + n},%,," for n, city in enumerate(cities)]
    rows += [f"{cities[3]},msw_recycled_share,2024,99,%,,",          # a second value for one city-year
             f"{cities[7]},rent_to_income_share,2024,35,t/year,,"]   # a unit that does not fit
    (template_home / "2024.csv").write_text(
        "city,indicator_code,period,value,unit,source,note\n" + "\n".join(rows) + "\n", encoding="utf-8")
    partition = paths.parsed_file("indicator_template", "city_sheet", "2024")
    quarantine = paths.quarantine_file("indicator_template", "city_sheet", "2024")

    def published() -> tuple[list, list]:
        return (duckdb.sql(f"select * from '{partition}' order by source_row").fetchall(),
                duckdb.sql(f"select * from '{quarantine}' order by source_row").fetchall())

    whole = ingest.ingest("city_sheet", "2024-01-01", "2025-01-01")
    in_one = published()
    monkeypatch.setenv("CITYPEERS_GX_CHUNK_ROWS", "3")
    monkeypatch.setenv("CITYPEERS_GX_GATE", "full")  # every row through GX, in chunks (the default: flagged rows)
    chunked = ingest.validate("city_sheet", "2024-01-01", "2025-01-01", force=True)  # same payloads

    assert chunked == whole and (whole["published"], whole["quarantined"]) == (11, 3)
    assert published() == in_one
    reasons = {row[0]: row[-1] for row in duckdb.sql(
        f"select city_id, quarantine_reason from '{quarantine}'").fetchall()}
    assert "expect_compound_columns_to_be_unique" in reasons[cities[3]]
    assert "t/year" in reasons[cities[7]]
    record = paths.validation_dir("parsed__indicator_template") / "city_sheet__2024.json"
    assert len(json.loads(record.read_text())["chunk_results"]) == 5


def test_backfill_ingests_every_interval_of_the_schedule_oldest_first(template_home):
    (template_home / "sheet.csv").write_text(GOOD_ROWS, encoding="utf-8")
    outcomes = ingest.backfill("city_sheet", "2023-01-01", "2025-03-01")  # 2025 is not complete
    assert [(o["period"], o["published"], o["quarantined"]) for o in outcomes] == [("2023", 1, 0), ("2024", 2, 0)]
    assert paths.parsed_file("indicator_template", "city_sheet", "2023").exists()
    assert not paths.parsed_file("indicator_template", "city_sheet", "2025").exists()
    with pytest.raises(FeedError, match="no complete @yearly interval"):
        ingest.backfill("city_sheet", "2025-01-01", "2025-06-01")
