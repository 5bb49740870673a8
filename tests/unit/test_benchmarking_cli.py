"""`citypeers peers` and `citypeers learn`: read-only lookups in the serving warehouse, clear errors."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from citypeers import paths
from citypeers.benchmarking import BenchmarkLookupError, learn_report, peers_report, values_report
from citypeers.cli import main
from tests.citypeers_home import temporary_home

REASON = "Valencia (similar: same climate, similar income) has 9.8 µg/m³ against your 14.2 in 2025"


@pytest.fixture
def serving_home(tmp_path: Path):
    """A serving warehouse holding the few mart rows the commands read."""
    with temporary_home(tmp_path):
        database = paths.serving_db()
        database.parent.mkdir(parents=True)
        with duckdb.connect(str(database)) as con:
            con.execute("""
                create table dim_city as select * from (values
                    ('madrid', 'Madrid'), ('valencia', 'Valencia'), ('atlantis', 'Atlantis'))
                    as t(city_id, city_name);
                create table dim_indicator as select * from (values
                    ('pm25_annual_mean', 'Annual mean PM2.5 concentration', 'µg/m³', true, 'air_quality',
                     'lower_is_better'),
                    ('msw_recycled_share', 'Municipal solid waste recycled', '% of waste', true, 'waste',
                     'higher_is_better'),
                    ('population', 'Population', 'residents', false, 'context', 'none'))
                    as t(indicator_code, indicator_name, unit_label, is_scored, domain, direction);
                create table fct_city_indicator_annual as select * from (values
                    ('madrid', 'Madrid', 'msw_recycled_share', 2024, 31.0, 'ok', 'wide_table', 'demo_waste'),
                    ('valencia', 'Valencia', 'msw_recycled_share', 2024, 44.5, 'ok', 'wide_table', 'demo_waste'),
                    ('valencia', 'Valencia', 'msw_recycled_share', 2025, 47.25, 'ok', 'wide_table', 'demo_waste'),
                    ('madrid', 'Madrid', 'pm25_annual_mean', 2025, 14.2, 'ok', 'eea_air', 'demo_europe'),
                    ('valencia', 'Valencia', 'pm25_annual_mean', 2025, 9.8, 'ok', 'eea_air', 'demo_europe'))
                    as t(city_id, city_name, indicator_code, year, value, quality_flag, source_names, feed_ids);
                create table fct_city_peers as select * from (values
                    ('madrid', 1, 'valencia', 'Valencia', 0.91, 5, 'same climate (temperate), same region'))
                    as t(city_id, peer_rank, peer_city_id, peer_city_name, similarity, shared_feature_count,
                         similarity_reason);
            """)
            con.execute(
                """
                create table fct_learning_opportunities as select * from (values
                    ('madrid', 'pm25_annual_mean', 2025, 'does_better', 1, 'valencia', 'Valencia', 0.91, 9.8,
                     -1.2, 'ok', ?, 14.2, 'µg/m³'))
                    as t(city_id, indicator_code, year, opportunity_type, opportunity_rank, peer_city_id,
                         peer_city_name, similarity, peer_value, peer_trend_slope_per_year, peer_quality_flag,
                         reason, city_value, unit)
                """,
                [REASON],
            )
        yield tmp_path


def test_peers_accepts_a_city_name_in_any_case(serving_home):
    report = peers_report("MADRID")
    assert "Cities most similar to Madrid (madrid)" in report
    assert "Valencia" in report and "0.91" in report and "same climate (temperate)" in report


def test_city_without_peers_says_why_instead_of_an_empty_table(serving_home):
    assert "has no similar cities" in peers_report("atlantis")


def test_unknown_city_lists_close_matches(serving_home):
    with pytest.raises(BenchmarkLookupError, match=r"unknown city 'madird'; did you mean: madrid"):
        peers_report("madird")


def test_learn_prints_evidence_and_reason(serving_home):
    report = learn_report("Madrid", "PM25_ANNUAL_MEAN")
    assert "Madrid: Annual mean PM2.5 concentration, 14.2 µg/m³ in 2025" in report
    assert "Similar cities doing better" in report
    assert REASON in report


def test_unknown_indicator_lists_close_matches_among_scored_indicators(serving_home):
    with pytest.raises(BenchmarkLookupError, match=r"unknown indicator 'pm25'; did you mean: pm25_annual_mean"):
        learn_report("madrid", "pm25")
    with pytest.raises(BenchmarkLookupError, match="unknown indicator 'population'"):
        learn_report("madrid", "population")  # context, not benchmarked


def test_learn_without_opportunities_explains(serving_home):
    assert "No learning opportunities for Valencia" in learn_report("valencia", "pm25_annual_mean")


def test_commands_read_the_serving_file_without_locking_it(serving_home):
    with duckdb.connect(str(paths.serving_db()), read_only=True):
        assert "Valencia" in peers_report("madrid")


def test_missing_warehouse_is_a_clear_error_with_exit_code_2(tmp_path, capsys):
    with temporary_home(tmp_path):
        assert main(["peers", "madrid"]) == 2
    error = capsys.readouterr().err
    assert "is not built yet: run `citypeers build`" in error


def test_cli_prints_the_table(serving_home, capsys):
    assert main(["learn", "madrid", "pm25_annual_mean"]) == 0
    assert REASON in capsys.readouterr().out


def test_warehouse_built_before_the_benchmarking_marts_asks_for_a_rebuild(tmp_path):
    with temporary_home(tmp_path):
        paths.serving_db().parent.mkdir(parents=True)
        with duckdb.connect(str(paths.serving_db())) as con:
            con.execute("create table dim_city (city_id varchar, city_name varchar)")
        missing = "has no dim_indicator, fct_city_peers, fct_learning_opportunities: it was built before these marts"
        with pytest.raises(BenchmarkLookupError, match=missing):
            peers_report("madrid")


def test_values_lists_cities_best_first_in_the_indicators_direction(serving_home):
    recycled = values_report("msw_recycled_share", 2024).splitlines()
    assert recycled[0] == (
        "Municipal solid waste recycled (msw_recycled_share, waste) in 2024: % of waste, higher is better"
    )
    assert [line.split()[0] for line in recycled[3:]] == ["Valencia", "Madrid"]
    assert "44.50" in recycled[3] and "wide_table" in recycled[3] and "demo_waste" in recycled[3]
    pm25 = values_report("pm25_annual_mean").splitlines()
    assert "in 2025" in pm25[0] and "lower is better" in pm25[0]
    assert [line.split()[0] for line in pm25[3:]] == ["Valencia", "Madrid"]


def test_values_defaults_to_the_latest_year_and_says_when_a_year_is_empty(serving_home, capsys):
    assert main(["values", "msw_recycled_share"]) == 0
    out = capsys.readouterr().out
    assert "in 2025" in out and "47.25" in out and "Madrid" not in out
    assert "No city has a value" in values_report("msw_recycled_share", 1999)


def test_values_for_one_city_traces_the_value_to_its_url_fetch_time_and_hash(tmp_path, capsys):
    """`citypeers values <indicator> --city <city>`: every payload behind the value, from fct_value_sources;
    a payload no longer in its period's manifest says so instead of showing nothing."""
    url = "https://api.example.org/v3/sensors/7/measurements?page=1"
    with temporary_home(tmp_path):
        database = paths.serving_db()
        database.parent.mkdir(parents=True)
        with duckdb.connect(str(database)) as con:
            con.execute("""
                create table dim_city as select 'madrid' as city_id, 'Madrid' as city_name;
                create table dim_indicator as select 'pm25_annual_mean' as indicator_code,
                    'Annual mean PM2.5 concentration' as indicator_name, true as is_scored;
                create table fct_city_indicator_annual as select 'madrid' as city_id, 'pm25_annual_mean' as
                    indicator_code, 2025 as year, 14.2 as value, 'µg/m³' as unit, 'station_annual_means' as basis,
                    'ok' as quality_flag;
            """)
            con.execute("""
                create table fct_value_sources as select * from (values
                    ('madrid', 'pm25_annual_mean', 2025, 'city_api', '2025', 'a1b2', timestamp '2026-01-01 00:00:05',
                     200, 5000, 2, 8000, null, ?),
                    ('madrid', 'pm25_annual_mean', 2025, 'city_api', '2025-12', 'c3d4', null, null, null, 1, 700,
                     null, null))
                    as t(city_id, indicator_code, year, feed_id, ingest_period, payload_sha256, fetched_at,
                         http_status, payload_bytes, station_count, reported_hour_count, payload_row_number,
                         source_location)
            """, [url])
        assert main(["values", "PM25_ANNUAL_MEAN", "--city", "Madrid"]) == 0
        report = capsys.readouterr().out
    assert "Madrid: Annual mean PM2.5 concentration (pm25_annual_mean) in 2025 = 14.20 µg/m³" in report
    assert "from 2 landed payload(s)" in report
    [traced] = [line for line in report.splitlines() if "a1b2" in line]
    assert url in traced and "2026-01-01 00:00:05" in traced and " 200 " in traced
    [lost] = [line for line in report.splitlines() if "c3d4" in line]
    assert "not in the period's latest fetch manifest" in lost
