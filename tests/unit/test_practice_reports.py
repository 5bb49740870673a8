"""`citypeers practices` and `citypeers impact`: read-only reports of the practice marts, with every
effect next to its interval and grade, and clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from citypeers import paths
from citypeers.benchmarking import BenchmarkLookupError
from citypeers.cli import main
from citypeers.practice_reports import impact_report, practices_report
from tests.citypeers_home import temporary_home


@pytest.fixture
def serving_home(tmp_path: Path):
    """A serving warehouse with two practices: one estimated (moderate), one insufficient."""
    with temporary_home(tmp_path):
        database = paths.serving_db()
        database.parent.mkdir(parents=True)
        with duckdb.connect(str(database)) as con:
            con.execute("""
                create table dim_city as select * from (values ('barcelona', 'Barcelona'), ('valencia', 'Valencia'),
                    ('rome', 'Rome')) as t(city_id, city_name);
                create table dim_practice as select * from (values
                    ('bcn-lez', 'barcelona', 'Barcelona', 'Low-emission zone citywide', 'air_quality',
                     'Low-emission zone', date '2025-01-01', true),
                    ('vlc-payt', 'valencia', 'Valencia', 'Pay-as-you-throw', 'waste', 'Pay-as-you-throw',
                     date '2024-01-01', false))
                    as t(practice_id, city_id, city_name, title, domain, category_name, start_date, is_demo);
                create table fct_practice_impact as select * from (values
                    ('bcn-lez', 'no2_annual_mean', 'Annual mean NO2 concentration', 'µg/m³', 'month', 24, 12, 7, 6,
                     -4.8, -6.1, -3.5, -14.6, -18.5, -10.7, 'placebo_standardised_t', 0.9, '2025: -14.6%', 2.1, 6.4,
                     2.9, 0.143, 6, 'moderate', 'moderate: pre-period fit within 6.4%, placebo rank 1 of 7',
                     '-15% NO2 (-19% to -11%), moderate evidence'),
                    ('vlc-payt', 'msw_recycled_share', 'Recycled share', '%', 'year', 1, 2, 3, 3, null, null, null,
                     null, null, null, null, null, null, null, null, null, null, 0, 'insufficient',
                     'insufficient: 1 pre-period point (rule: at least 12)', 'evidence insufficient'))
                    as t(practice_id, indicator_code, indicator_name, unit, grain, pre_points, post_points,
                         candidate_donor_count, donor_count, effect, effect_lower, effect_upper, effect_pct,
                         effect_pct_lower, effect_pct_upper, interval_method, interval_level,
                         effect_pct_by_post_year, pre_rmspe, pre_rmspe_pct, post_pre_rmspe_ratio, placebo_p_value,
                         placebo_count, evidence_grade, grade_reason, effect_summary);
                create table fct_practice_impact_series as select * from (values
                    ('bcn-lez', 'no2_annual_mean', date '2024-12-01', false, 33.0, 32.5, 0.5),
                    ('bcn-lez', 'no2_annual_mean', date '2025-01-01', true, 28.0, 33.1, -5.1))
                    as t(practice_id, indicator_code, period_start, is_post, actual_value, synthetic_value, gap);
                create table fct_practice_impact_donors as select * from (values
                    ('bcn-lez', 'no2_annual_mean', 'rome', 'Rome', 0.62, 1.4, true, true, null, null),
                    ('bcn-lez', 'no2_annual_mean', 'valencia', 'Valencia', null, null, true, false,
                     'adopted a practice of the same category', null),
                    ('bcn-lez', 'no2_annual_mean', 'delhi', 'Delhi', null, null, true, false, null,
                     'no valid value in 4 period(s) used'))
                    as t(practice_id, indicator_code, donor_city_id, donor_city_name, donor_weight, placebo_ratio,
                         is_similar_city, is_in_peer_group, exclusion_reason, left_out_reason);
            """)
        yield tmp_path


def test_practices_list_every_practice_with_its_effect_and_grade(serving_home):
    report = practices_report()
    assert "bcn-lez" in report and "-15% NO2 (-19% to -11%), moderate evidence" in report
    assert "vlc-payt" in report and "evidence insufficient" in report


def test_practices_of_one_city_or_one_domain(serving_home):
    assert "vlc-payt" not in practices_report("Barcelona")
    assert "bcn-lez" not in practices_report(domain="waste")
    assert practices_report("rome") == "No practices registered for Rome."


def test_an_unknown_domain_lists_the_domains_with_practices(serving_home):
    with pytest.raises(BenchmarkLookupError, match="domains with practices: air_quality, waste"):
        practices_report(domain="noise")


def test_impact_prints_the_effect_with_its_interval_the_series_donors_and_placebos(serving_home):
    report = impact_report("bcn-lez")
    assert "evidence MODERATE" in report and "placebo rank 1 of 7" in report
    assert "effect -4.80 µg/m³ (-14.6% of the counterfactual), 90% interval -6.10 to -3.50 µg/m³" in report
    assert "placebo p = 0.143 over 6 placebos" in report
    assert re.search(r"2025-01 +after +28\.0+ +33\.10* +-5\.10*", report)
    assert "Rome" in report and "adopted a practice of the same category" in report
    assert "no valid value in 4 period(s) used" in report


def test_an_insufficient_estimate_prints_its_reason_and_no_number(serving_home):
    report = impact_report("vlc-payt")
    assert "evidence INSUFFICIENT" in report and "1 pre-period point (rule: at least 12)" in report
    assert "effect " not in report and "interval" not in report


def test_an_unknown_practice_suggests_close_ids(serving_home, capsys):
    assert main(["impact", "bcn-le"]) == 2
    assert "did you mean: bcn-lez" in capsys.readouterr().err


def test_a_warehouse_without_the_practice_marts_asks_for_a_rebuild(tmp_path):
    with temporary_home(tmp_path):
        paths.serving_db().parent.mkdir(parents=True)
        with duckdb.connect(str(paths.serving_db())) as con:
            con.execute("create table dim_city (city_id varchar, city_name varchar)")
        with pytest.raises(BenchmarkLookupError, match="has no dim_practice"):
            practices_report()
