"""SDMX-CSV parser, on the real OECD wastewater export (SDMX-CSV 2.0 with label columns, CRLF),
the SDMX-CSV 2.0 spec example, an SDMX-CSV 1.0 file with `ID: Name` headers, and broken files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from citypeers import paths
from citypeers.errors import FeedError
from citypeers.feeds import sdmx_csv
from citypeers.feeds.notices import Notices
from citypeers.feeds.payloads import LandedPayload
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.unit.landed import landed_file

SAMPLES = paths.REPO_ROOT.parent / "shared" / "data" / "sdmx_samples"
OECD_FILE = SAMPLES / "oecd_wastewater_treatment_input.csv"
SPEC_FILE = SAMPLES / "sdmx_csv_v2_spec_example-01.csv"
YEAR_2023 = Interval.of("2023-01-01", "2024-01-01")


def _real(path: Path) -> LandedPayload:
    if not path.exists():
        pytest.fail(f"the real SDMX sample is missing: {path} (the tests need ../shared/data next to the repo)")
    return landed_file(path, str(path))


def _feed(**options) -> Feed:
    return Feed(feed_id="test_sdmx", source="sdmx_csv", location="unused", schedule="@yearly",
                city_keys=options.pop("cities", {"AUT": "vienna"}), options=options)


def _write(folder: Path, name: str, text: str) -> LandedPayload:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    return landed_file(path, str(path))


def test_oecd_export_parts_of_treatment_add_up_to_the_total_for_austria_2023():
    measures = ["TOTTR", "TOTPUBSEW", "INDEPDTR"]
    feed = _feed(series=[{"filter": {"MEASURE": m}, "indicator_code": m.lower()} for m in measures],
                 units={"PT_POP": "percent"})
    rows = sdmx_csv.source_rows(duckdb.connect(), [_real(OECD_FILE)], feed).df().set_index("indicator_code")
    assert sorted(rows.index) == ["indepdtr", "totpubsew", "tottr"]
    assert rows.loc["totpubsew", "source_value"] + rows.loc["indepdtr", "source_value"] == pytest.approx(
        rows.loc["tottr", "source_value"]
    )
    assert rows.loc["tottr", "source_value"] == 100
    assert set(rows["source_unit"]) == {"percent"} and set(rows["city_key"]) == {"AUT"}
    assert rows["row_error"].isna().all()
    assert rows.loc["tottr", "source_row"] == 5  # CSV line, header = line 1


def test_oecd_export_maps_to_wastewater_treated_share_of_the_mapped_city():
    feed = _feed(series=[{"filter": {"MEASURE": "TOTTR", "FREQ": "A"}, "indicator_code": "wastewater_treated_share",
                          "unit": "%"}])
    rows = sdmx_csv.parse(duckdb.connect(), [_real(OECD_FILE)], feed, YEAR_2023).df()
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["city_id"], row["indicator_code"], row["year"], row["value"], row["unit"]) == (
        "vienna", "wastewater_treated_share", 2023, 100.0, "percent"
    )
    assert row["source_ref"].startswith("OECD.ENV.EPI:DSD_WATER_TREAT@DF_WATER_TREAT(1.0) AUT.TOTTR.A 2023")
    assert row["parse_error"] is None


def test_spec_example_monthly_values_fold_into_a_flagged_annual_mean_only_when_the_series_says_so():
    feed = _feed(cities={"B": "madrid"}, city_dimension="DIM_2", time_dimension="DIM_3",
                 series=[{"filter": {"DIM_1": "A", "FREQ": "M"}, "indicator_code": "noise_lden55_share",
                          "unit": "percent", "annual": "mean"}])
    rows = sdmx_csv.source_rows(duckdb.connect(), [_real(SPEC_FILE)], feed).df()
    assert rows[["city_key", "year", "source_value"]].values.tolist() == [["B", 2014, pytest.approx(11.6)]]
    assert rows["left_out_share"].tolist() == [pytest.approx(10 / 12)]
    assert rows["note"].iloc[0].startswith("SDMX-CSV 2.0; annual mean of 2 of 12 periods; flagged, rows left out")
    assert rows["source_ref"].iloc[0].startswith("ESTAT:NA_MAIN(1.6.0) B.A 2014 (mean of 2014-01 to 2014-02)")
    del feed.options["series"][0]["annual"]
    with pytest.raises(FeedError, match=r"row 2 field DIM_3: sub_annual_period"):
        sdmx_csv.source_rows(duckdb.connect(), [_real(SPEC_FILE)], feed)


def test_sdmx_csv_1_with_id_name_headers_code_label_cells_unit_mult_and_an_empty_value(tmp_path):
    payload = _write(tmp_path, "noise.csv", (
        "DATAFLOW,REF_AREA: Reference area,INDICATOR: Indicator,TIME_PERIOD: Time period,OBS_VALUE,"
        "UNIT_MULT: Unit multiplier,OBS_STATUS: Observation status\n"
        "CP:DF_NOISE(1.0),AT13: Wien,LDEN55: Lden 55 dB or more,2023,31.5,0: Units,A: Normal\n"
        "CP:DF_NOISE(1.0),AT13: Wien,LDEN55: Lden 55 dB or more,2024,,0: Units,M: Missing\n"
        "CP:DF_NOISE(1.0),AT13: Wien,LNIGHT50: Lnight 50 dB or more,2023,0.2,2: Hundreds,E: Estimated\n"
        "CP:DF_NOISE(1.0),AT13: Wien,OTHER: Other,2023,1,0: Units,A: Normal"
    ))
    feed = _feed(cities={"AT13": "vienna"},
                 series=[{"filter": {"INDICATOR": "LDEN55"}, "indicator_code": "noise_lden55_share", "unit": "percent"},
                         {"filter": {"INDICATOR": ["LNIGHT50"]}, "indicator_code": "noise_lnight50_share",
                          "unit": "percent"}])
    rows = sdmx_csv.source_rows(duckdb.connect(), [payload], feed).df()
    assert rows[["city_key", "indicator_code", "year"]].values.tolist() == [
        ["AT13", "noise_lden55_share", 2023],
        ["AT13", "noise_lden55_share", 2024],
        ["AT13", "noise_lnight50_share", 2023],
    ]
    assert rows["source_value"].tolist()[0] == 31.5 and rows["source_value"].tolist()[2] == pytest.approx(20)
    assert rows["row_error"].tolist()[1] == "empty OBS_VALUE (OBS_STATUS M)"
    assert rows["note"].tolist()[2] == "SDMX-CSV 1.0; OBS_STATUS E"
    parsed = sdmx_csv.parse(duckdb.connect(), [payload], feed, Interval.of("2024-01-01", "2025-01-01")).df()
    assert parsed[["city_id", "parse_error"]].values.tolist() == [["vienna", "empty OBS_VALUE (OBS_STATUS M)"]]


def test_unmapped_unit_code_is_a_row_error_and_a_delete_row_removes_the_earlier_observation(tmp_path):
    payload = _write(tmp_path, "water.csv", (
        "STRUCTURE,STRUCTURE_ID,ACTION,REF_AREA,MEASURE,UNIT_MEASURE,TIME_PERIOD,OBS_VALUE\n"
        "dataflow,CP:DF_WATER(1.0),I,AUT,NRW,PT,2023,12\n"
        "dataflow,CP:DF_WATER(1.0),I,AUT,NRW,PC,2024,12\n"
        "dataflow,CP:DF_WATER(1.0),D,AUT,NRW,-,2023,-\n"
    ))
    feed = _feed(units={"PT": "percent"},
                 series=[{"filter": {"MEASURE": "NRW"}, "indicator_code": "non_revenue_water_share"}])
    found = Notices("test_sdmx", "2023")
    rows = sdmx_csv.source_rows(duckdb.connect(), [payload], feed, notices=found).df()
    no_unit = "no unit: series 1 in options.series has no unit and UNIT_MEASURE 'PC' is not mapped under options.units"
    assert rows[["year", "row_error"]].values.tolist() == [[2024, no_unit]]
    assert [(n.code, n.severity, n.row, n.field) for n in found.found] == [("action_delete", "notice", 4, "ACTION")]
    assert "row(s) 2 of this file" in found.found[0].message


def test_file_without_obs_value_is_a_feed_error_naming_the_file(tmp_path):
    payload = _write(tmp_path, "series_only.csv", (
        "STRUCTURE,STRUCTURE_ID,ACTION,REF_AREA,MEASURE,TIME_PERIOD,UNIT_MEASURE\n"
        "dataflow,CP:DF_WATER(1.0),I,AUT,NRW,2023,PT\n"
    ))
    feed = _feed(series=[{"filter": {"MEASURE": "NRW"}, "indicator_code": "non_revenue_water_share"}])
    with pytest.raises(FeedError, match=r"no OBS_VALUE column.*series_only\.csv.*what to do: export observations"):
        sdmx_csv.parse(duckdb.connect(), [payload], feed, YEAR_2023)


def test_file_that_is_not_sdmx_csv_or_names_a_missing_dimension_is_a_feed_error(tmp_path):
    feed = _feed(series=[{"filter": {"MEASURE": "NRW"}, "indicator_code": "non_revenue_water_share"}])
    plain = _write(tmp_path, "plain.csv", "city,value\nvienna,1\n")
    with pytest.raises(FeedError, match="not SDMX-CSV"):
        sdmx_csv.parse(duckdb.connect(), [plain], feed, YEAR_2023)
    with pytest.raises(FeedError, match=r"city_dimension column CITY is not in the file"):
        sdmx_csv.parse(duckdb.connect(), [_real(OECD_FILE)], _feed(city_dimension="CITY", series=[
            {"filter": {"MEASURE": "TOTTR"}, "indicator_code": "wastewater_treated_share", "unit": "percent"}]),
            YEAR_2023)
    with pytest.raises(FeedError, match="options.series is missing"):
        sdmx_csv.parse(duckdb.connect(), [_real(OECD_FILE)], _feed(), YEAR_2023)


def test_demo_files_parse_with_the_demo_feeds_of_feeds_yml(tmp_path):
    import csv

    from citypeers.demo import sdmx_csv as demo_sdmx_csv

    with (paths.dbt_project_dir() / "seeds" / "cities.csv").open(newline="", encoding="utf-8") as handle:
        cities = [c for c in csv.DictReader(handle) if c["city_id"] in ("vienna", "delhi", "hong_kong")]
    demo_sdmx_csv.write(tmp_path, cities, (2023, 2024), seed=37)
    feeds = {feed["feed_id"]: Feed(feed_id=feed["feed_id"], source=feed["source"], location=feed["location"],
                                   schedule="@yearly", options=feed.get("options") or {})
             for feed in yaml.safe_load(paths.feeds_file().read_text(encoding="utf-8"))["feeds"]}
    con = duckdb.connect()
    water = sdmx_csv.parse(con, [landed_file(tmp_path / "sdmx_csv" / "water.csv", "water.csv")], feeds["demo_water"],
                           Interval.of("2023-01-01", "2025-01-01")).df()
    assert len(water) == 3 * 3 * 2
    errors = water.dropna(subset=["parse_error"])
    # the planted missing figure: the last city (registry order) first-year non-revenue water
    assert errors[["city_id", "indicator_code", "year"]].values.tolist() == [
        ["delhi", "non_revenue_water_share", 2023]
    ]
    assert set(water["unit"]) == {"percent", "L / resident / day"}
    noise = sdmx_csv.parse(con, [landed_file(tmp_path / "sdmx_csv" / "noise.csv", "noise.csv")], feeds["demo_noise"],
                           Interval.of("2024-01-01", "2025-01-01")).df()
    assert len(noise) == 3 * 2 and noise["parse_error"].isna().all()
    lden = noise[noise["indicator_code"] == "noise_lden55_share"].set_index("city_id")["value"]
    assert lden["vienna"] < lden["delhi"]
