"""SDMX REST data queries (OECD Data Explorer and Eurostat syntax) for the sdmx_csv source: the
query string of an interval, the demo feed server's `/sdmx/rest/data/...` through the demo feeds of
feeds.yml, a query the service rejects, an empty result, and wrong content over pytest-httpserver."""

from __future__ import annotations

import csv
import logging

import duckdb
import pandas as pd
import pytest
import yaml

from citypeers import landing, paths
from citypeers.demo import sdmx_csv as demo_sdmx_csv
from citypeers.demo.feed_server import serve
from citypeers.demo.generator import demo_dir
from citypeers.errors import FeedError
from citypeers.feeds import sdmx_csv, sdmx_rest
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.citypeers_home import temporary_home

OECD = "https://sdmx.oecd.org/public/rest/data/OECD.ENV.EPI,DSD_WATER_TREAT@DF_WATER_TREAT,1.0/AUT.A.TOTTR."
EUROSTAT = "https://ec.europa.eu/eurostat/api/dissemination/sdmx/2.1/data/urb_cenv/A.EN2002V.ES001C"
OECD_SAMPLE = paths.REPO_ROOT.parent / "shared" / "data" / "sdmx_samples" / "oecd_wastewater_treatment_input.csv"
YEAR_2023 = Interval.of("2023-01-01", "2024-01-01")
YEAR_2024 = Interval.of("2024-01-01", "2025-01-01")
CITIES = ("vienna", "madrid", "delhi")


def _feed(location: str, feed_id: str = "test_sdmx_rest", **options) -> Feed:
    return Feed(feed_id=feed_id, source="sdmx_csv", location=location, schedule="@yearly",
                city_keys={"AUT": "vienna"}, options=options)


# --- the query of an interval ----------------------------------------------------------------------

def test_oecd_query_asks_the_interval_year_as_csv_with_labels():
    url, params = sdmx_rest.query(_feed(OECD), YEAR_2024)
    assert url == OECD
    assert params == {"startPeriod": "2024", "endPeriod": "2024", "format": "csvfilewithlabels"}


def test_eurostat_query_asks_sdmx_csv_and_a_decade_ends_with_its_last_year():
    url, params = sdmx_rest.query(_feed(EUROSTAT), Interval.of("2016-01-01", "2026-01-01"))
    assert url == EUROSTAT
    assert params == {"startPeriod": "2016", "endPeriod": "2025", "format": "SDMX-CSV"}


def test_months_and_days_are_asked_as_sdmx_periods():
    assert sdmx_rest.periods(Interval.of("2024-03-01", "2024-04-01")) == ("2024-03", "2024-03")
    assert sdmx_rest.periods(Interval.of("2024-01-01", "2024-07-01")) == ("2024-01", "2024-06")
    assert sdmx_rest.periods(Interval.of("2024-03-05", "2024-03-06")) == ("2024-03-05", "2024-03-05")


def test_a_copied_data_explorer_url_keeps_its_parameters_but_not_its_periods_and_the_format_option_wins():
    copied = f"{OECD}?startPeriod=2010&endPeriod=2012&dimensionAtObservation=AllDimensions&format=jsondata"
    url, params = sdmx_rest.query(_feed(copied, format="csvfile", params={"labels": "both"}), YEAR_2024)
    assert url == OECD
    assert params == {"startPeriod": "2024", "endPeriod": "2024", "dimensionAtObservation": "AllDimensions",
                      "format": "csvfile", "labels": "both"}
    assert sdmx_rest.query(_feed(f"{OECD}?format=csvfile"), YEAR_2024)[1]["format"] == "csvfile"


def test_a_location_that_is_not_a_data_query_is_a_feed_error():
    with pytest.raises(FeedError, match=r"not an SDMX REST data query.*at https://sdmx\.oecd\.org/public/rest/"):
        sdmx_rest.query(_feed("https://sdmx.oecd.org/public/rest/dataflow/all"), YEAR_2024)


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (b'<?xml version="1.0"?><mes:Error xmlns:mes="m" xmlns:com="c"><mes:ErrorMessage code="150">'
     b'<com:Text xml:lang="en">Semantic error: bad &amp; wrong</com:Text></mes:ErrorMessage></mes:Error>',
     "application/xml", "Semantic error: bad & wrong (SDMX error 150)"),
    (b"<S:Fault><faultcode>S:Server</faultcode><faultstring>No Results Found</faultstring></S:Fault>", "text/xml",
     "No Results Found"),
    (b'{"errors": [{"code": 140, "title": "Syntax error", "detail": "key too long"}]}', "application/json",
     "Syntax error — key too long (SDMX error 140)"),
    (b"NoResultsFound", "text/plain", "NoResultsFound"),
    (b"", "", "(empty body)"),
])
def test_the_service_message_is_read_from_each_error_format(body, content_type, message):
    assert sdmx_rest.service_message(body, content_type) == message


def test_only_the_no_results_answer_counts_as_an_empty_period():
    assert sdmx_rest.is_no_results(404, "NoResultsFound")
    assert sdmx_rest.is_no_results(404, "No Results Found (SDMX error 100)")
    assert sdmx_rest.is_no_results(400, "Query returned no data (SDMX error 100)")
    assert not sdmx_rest.is_no_results(404, "Could not find Dataflow and/or DSD related with this data request")
    assert not sdmx_rest.is_no_results(400, "Semantic error: no such code (SDMX error 150)")
    assert not sdmx_rest.is_no_results(500, "No Results Found")


# --- the demo feed server ---------------------------------------------------------------------------

@pytest.fixture
def demo(tmp_path):
    """The demo's water and noise files for three cities, 2023-2025, served on a free port, and the
    demo feeds of feeds.yml pointed at it."""
    home = tmp_path / "home"
    with (paths.dbt_project_dir() / "seeds" / "cities.csv").open(newline="", encoding="utf-8") as handle:
        cities = [city for city in csv.DictReader(handle) if city["city_id"] in CITIES]
    demo_sdmx_csv.write(demo_dir(home), cities, (2023, 2024, 2025), seed=37)
    server = serve(home, 0, modules=("citypeers.demo.serve_sdmx",), rate_limit_every=0)
    text = paths.feeds_file().read_text(encoding="utf-8").replace("http://127.0.0.1:8765", server.base_url)
    feeds = {raw["feed_id"]: Feed(feed_id=raw["feed_id"], source=raw["source"], location=raw["location"],
                                  schedule=raw["schedule"], options=raw.get("options") or {})
             for raw in yaml.safe_load(text)["feeds"] if raw["source"] == "sdmx_csv"}
    yield home, server, feeds
    server.shutdown()


def _ingest(feed: Feed, interval: Interval, home):
    with temporary_home(home):
        landed = landing.keep(feed, interval, sdmx_csv.fetch(feed, interval))
        return landed, sdmx_csv.parse(duckdb.connect(), landed, feed, interval).df()


def test_demo_water_is_an_oecd_shaped_query_that_lands_only_the_interval_year(demo):
    home, server, feeds = demo
    landed, rows = _ingest(feeds["demo_water"], YEAR_2024, home)
    assert [payload.request for payload in landed] == [
        f"{server.base_url}/sdmx/rest/data/CITYPEERS,DF_CITY_WATER,1.0/.A.WATER_CONS+NRW+WW_TREATED."
        "?startPeriod=2024&endPeriod=2024&format=csvfilewithlabels"]
    text = landed[0].path.read_text(encoding="utf-8")
    assert text.startswith("STRUCTURE,STRUCTURE_ID,STRUCTURE_NAME,ACTION,REF_AREA,Reference area,")
    assert ",2023," not in text and ",2025," not in text
    assert len(rows) == len(CITIES) * 3 and set(rows["year"]) == {2024}
    assert rows["parse_error"].isna().all()
    assert set(rows["indicator_code"]) == {"water_l_per_resident_day", "non_revenue_water_share",
                                           "wastewater_treated_share"}


def test_demo_noise_is_a_eurostat_shaped_query_and_its_figures_match_the_file(demo):
    home, _, feeds = demo
    landed, rows = _ingest(feeds["demo_noise"], YEAR_2024, home)
    assert "/sdmx/rest/data/DF_CITY_NOISE/A.LDEN55+LNIGHT50.?startPeriod=2024&endPeriod=2024&format=SDMX-CSV" \
        in landed[0].request
    assert landed[0].path.read_text(encoding="utf-8").startswith("DATAFLOW,REF_AREA: Reference area,")
    expected = {}
    for line in (demo_dir(home) / "sdmx_csv" / "noise.csv").read_text(encoding="utf-8").splitlines()[1:]:
        _, area, _, indicator, year, value, _ = line.split(",")
        if year == "2024":
            expected[(area.split(":")[0].lower(), indicator.split(":")[0])] = float(value)
    published = {(row["city_id"], "LDEN55" if "lden" in row["indicator_code"] else "LNIGHT50"): row["value"]
                 for row in rows.to_dict("records")}
    assert published == pytest.approx(expected) and len(published) == len(CITIES) * 2


def test_a_rejected_key_names_feed_url_status_and_the_service_message(demo):
    home, server, feeds = demo
    feed = _feed(f"{server.base_url}/sdmx/rest/data/DF_CITY_NOISE/A.LDEN55", format="SDMX-CSV",
                 series=feeds["demo_noise"].options["series"])
    with temporary_home(home), pytest.raises(FeedError) as raised:
        sdmx_csv.fetch(feed, YEAR_2024)
    message = str(raised.value)
    assert message.startswith("feed 'test_sdmx_rest': the SDMX service rejected the query: HTTP 400: ")
    assert "Semantic error: the key A.LDEN55 has 2 dimensions, the dataflow DF_CITY_NOISE has 3" in message
    assert f"at {server.base_url}/sdmx/rest/data/DF_CITY_NOISE/A.LDEN55?startPeriod=2024" in message
    assert "the answer is kept at" in message and "/rejected/" in message


def test_an_unknown_dataflow_is_an_error_not_an_empty_period(demo):
    home, server, _ = demo
    feed = _feed(f"{server.base_url}/sdmx/rest/data/CITYPEERS,DF_CITY_WAETR,1.0/all", series=[])
    with temporary_home(home), pytest.raises(FeedError, match=r"HTTP 404: Could not find Dataflow.*DF_CITY_WAETR"):
        sdmx_csv.fetch(feed, YEAR_2024)


@pytest.mark.parametrize(("location", "said"), [
    ("/sdmx/rest/data/CITYPEERS,DF_CITY_WATER,1.0/XXX.A..", "NoResultsFound"),  # OECD: 404 text
    ("/sdmx/rest/data/DF_CITY_NOISE/A..XXX?format=SDMX-CSV", "No Results Found (SDMX error 100)"),  # Eurostat
])
def test_no_results_for_the_period_is_an_empty_period_logged_or_an_error_when_the_feed_says_so(
    demo, caplog, location, said
):
    home, server, feeds = demo
    series = feeds["demo_noise"].options["series"]
    feed = _feed(f"{server.base_url}{location}", series=series)
    with caplog.at_level(logging.WARNING, logger="citypeers.feeds.sdmx_rest"):
        landed, rows = _ingest(feed, YEAR_2024, home)
    assert landed == [] and rows.empty
    assert f"no results for 2024 (HTTP 404: {said})" in caplog.text and "check the codes of the key" in caplog.text
    strict = _feed(f"{server.base_url}{location}", series=series, empty_period="error")
    with temporary_home(home), pytest.raises(FeedError, match=rf"no results for 2024: HTTP 404: {said[:14]}"):
        sdmx_csv.fetch(strict, YEAR_2024)


# --- a real OECD export and wrong content, over pytest-httpserver -----------------------------------

def test_the_oecd_csv_with_labels_export_is_landed_and_read_unchanged(tmp_path, httpserver):
    if not OECD_SAMPLE.exists():
        pytest.fail(f"the real SDMX sample is missing: {OECD_SAMPLE} (the tests need ../shared/data next to the repo)")
    path = "/public/rest/data/OECD.ENV.EPI,DSD_WATER_TREAT@DF_WATER_TREAT,1.0/AUT.A..PT_POP"
    httpserver.expect_request(path, query_string={
        "startPeriod": "2023", "endPeriod": "2023", "format": "csvfilewithlabels"}).respond_with_data(
        OECD_SAMPLE.read_bytes(), content_type="application/vnd.sdmx.data+csv; charset=utf-8; labels=both")
    feed = _feed(httpserver.url_for(path), units={"PT_POP": "percent"},
                 series=[{"filter": {"MEASURE": "TOTTR"}, "indicator_code": "wastewater_treated_share"}])
    landed, rows = _ingest(feed, YEAR_2023, tmp_path)
    assert landed[0].path.read_bytes() == OECD_SAMPLE.read_bytes()
    assert rows[["city_id", "indicator_code", "year", "value"]].values.tolist() == [
        ["vienna", "wastewater_treated_share", 2023, 100.0]]


def test_a_eurostat_shaped_answer_with_lower_case_ids_is_read_by_its_own_dimension_names(tmp_path, httpserver):
    # the header of Eurostat's SDMX-CSV 1.0 answers (lower-case dimension ids, "LAST UPDATE", OBS_FLAG and
    # CONF_STATUS); the rows are written for this test, not downloaded
    path = "/eurostat/api/dissemination/sdmx/2.1/data/urb_cenv/A.EN2002V.AT001C+ES001C"
    httpserver.expect_request(path, query_string={
        "startPeriod": "2024", "endPeriod": "2024", "format": "SDMX-CSV"}).respond_with_data(
        "DATAFLOW,LAST UPDATE,freq,indic_ur,cities,TIME_PERIOD,OBS_VALUE,OBS_FLAG,CONF_STATUS\r\n"
        "ESTAT:URB_CENV(1.0),12/02/25 23:00:00,A,EN2002V,AT001C,2024,31.5,,\r\n"
        "ESTAT:URB_CENV(1.0),12/02/25 23:00:00,A,EN2002V,ES001C,2024,,c,\r\n",
        content_type="application/vnd.sdmx.data+csv;version=1.0.0")
    feed = Feed(feed_id="test_sdmx_rest", source="sdmx_csv", location=httpserver.url_for(path), schedule="@yearly",
                city_keys={"AT001C": "vienna", "ES001C": "madrid"},
                options={"city_dimension": "cities", "series": [
                    {"filter": {"indic_ur": "EN2002V", "freq": "A"}, "indicator_code": "noise_lden55_share",
                     "unit": "percent"}]})
    _, rows = _ingest(feed, YEAR_2024, tmp_path)
    by_city = rows.set_index("city_id")
    assert by_city.loc["vienna", "value"] == 31.5 and pd.isna(by_city.loc["vienna", "parse_error"])
    assert by_city.loc["madrid", "parse_error"].startswith("empty OBS_VALUE")


def test_a_header_without_rows_is_a_period_without_figures(tmp_path, httpserver):
    httpserver.expect_request("/rest/data/DF_X/all").respond_with_data(
        "STRUCTURE,STRUCTURE_ID,ACTION,REF_AREA,MEASURE,TIME_PERIOD,OBS_VALUE\r\n", content_type="text/csv")
    feed = _feed(httpserver.url_for("/rest/data/DF_X/all"),
                 series=[{"filter": {"MEASURE": "NRW"}, "indicator_code": "non_revenue_water_share",
                          "unit": "percent"}])
    landed, rows = _ingest(feed, YEAR_2024, tmp_path)
    assert len(landed) == 1 and rows.empty


@pytest.mark.parametrize(("body", "content_type", "problem"), [
    ('{"data": {"dataSets": []}}', "application/vnd.sdmx.data+json",
     "CSV expected, got application/vnd.sdmx.data+json"),
    ("<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html",
     "an HTML page arrived where CSV was expected"),
])
def test_json_or_an_html_page_where_sdmx_csv_should_be_is_a_clear_error(tmp_path, httpserver, body, content_type,
                                                                       problem):
    httpserver.expect_request("/rest/data/DF_X/all").respond_with_data(body, content_type=content_type)
    feed = _feed(httpserver.url_for("/rest/data/DF_X/all"), series=[])
    with temporary_home(tmp_path), pytest.raises(FeedError) as raised:
        sdmx_csv.fetch(feed, YEAR_2024)
    assert "feed 'test_sdmx_rest'" in str(raised.value) and f"HTTP 200: {problem}" in str(raised.value)
    assert httpserver.url_for("/rest/data/DF_X/all") in str(raised.value)
