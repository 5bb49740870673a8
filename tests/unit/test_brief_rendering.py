"""The city brief's HTML from a small hand-made Brief: sections, caveats, languages, practices, no data.

The end-to-end tests (tests/e2e/test_city_briefs.py) compare real briefs with the real marts and
check the PDFs; these check the rules of the rendering itself, fast, without a warehouse.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from citypeers.briefs import charts
from citypeers.briefs.charts import rank_positions
from citypeers.briefs.content import Brief
from citypeers.briefs.i18n import language
from citypeers.briefs.render import render_html


def indicator(code, name, value, **extra):
    row = {
        "indicator_code": code, "indicator_name": name, "domain": "air_quality", "direction": "lower_is_better",
        "value": value, "unit": "µg/m³", "unit_label": "µg/m³", "quality_flag": "ok", "quality_note": None,
        "is_valid": True, "peer_group_label": "over 1.5M, high income", "peer_group_valid_count": 5,
        "peer_group_median": 12.25, "peer_group_rank": 2, "similar_cities_valid_count": 4, "similar_cities_rank": 2,
        "overall_valid_count": 9, "overall_rank": 3, "score": 71.0, "traffic_light": "amber",
        "highest_target_met": "who_2021_it3", "highest_target_met_name": "WHO 2021 interim target 3",
        "next_target": "who_2021_it4", "next_target_name": "WHO 2021 interim target 4", "next_target_threshold": 10.0,
        "gap_to_next_target": 1.7, "yoy_change": -0.4, "trend_slope_per_year": -0.85, "trend_point_count": 3,
        "trend_improvement_per_year": 0.85, "years_to_next_target": 2.0, "station_count": 3,
        "stations_meeting_rule": 3, "valid_day_share": 0.93, "context_year": None, "normalised_by": None,
        "basis": "station_annual_means",
    }
    return row | extra


def sample_brief(**overrides) -> Brief:
    pm25 = indicator("pm25_annual_mean", "Annual mean PM2.5 concentration", 11.7)
    no2 = indicator("no2_annual_mean", "Annual mean NO2 concentration", 47.3, quality_flag="below_completeness_rule",
                    quality_note="no station meets the completeness rule (0 of 2); Q1 only 0% covered",
                    is_valid=False, peer_group_rank=None, similar_cities_rank=None, overall_rank=None,
                    stations_meeting_rule=0, station_count=2, valid_day_share=0.61, years_to_next_target=None,
                    trend_slope_per_year=None, trend_improvement_per_year=None, traffic_light="red",
                    highest_target_met=None, highest_target_met_name=None, next_target="who_2021_it1",
                    next_target_name="WHO 2021 interim target 1", next_target_threshold=40.0)
    brief = Brief(
        city={"city_id": "tokyo", "city_name": "Tokyo", "country_name": "Japan", "country_iso3": "JPN",
              "population_size_class": "over_1500k", "peer_income_group": "high", "peer_group_city_count": 14},
        year=2025, warehouse_path=Path("/tmp/citypeers.duckdb"),
        warehouse_published_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC), years_with_values=[2024, 2025],
        scores=[
            {"domain": "overall", "score_level": "overall", "score": 64.4, "coverage": 0.5, "meets_coverage_rule": True,
             "indicator_count": 1, "scorable_indicator_count": 19, "indicators_used": "pm25_annual_mean",
             "domain_count": 1, "domains_used": "air_quality", "peer_group_median": 58.0,
             "peer_group_scored_count": 9},
            {"domain": "air_quality", "score_level": "domain", "score": None, "coverage": 0.5,
             "meets_coverage_rule": False, "indicator_count": 1, "scorable_indicator_count": 2,
             "indicators_used": "pm25_annual_mean", "domain_count": 0, "domains_used": None,
             "peer_group_median": 61.0, "peer_group_scored_count": 4},
        ],
        indicators=[no2, pm25],
        trend_points=[{"indicator_code": "pm25_annual_mean", "year": y, "value": v, "is_valid": True}
                      for y, v in ((2023, 13.4), (2024, 12.6), (2025, 11.7))]
        + [{"indicator_code": "no2_annual_mean", "year": 2025, "value": 47.3, "is_valid": False}],
        targets=[{"indicator_code": "pm25_annual_mean", "target_code": code, "target_name": name, "threshold": t,
                  "strictness_rank": r} for code, name, t, r in (
            ("who_2021_it3", "WHO 2021 interim target 3", 15.0, 3), ("who_2021_it4", "WHO 2021 interim target 4",
                                                                      10.0, 4))]
        + [{"indicator_code": "no2_annual_mean", "target_code": "who_2021_it1", "target_name": "WHO 2021 interim "
            "target 1", "threshold": 40.0, "strictness_rank": 1}],
        peer_values=[{"indicator_code": "pm25_annual_mean", "city_id": c, "city_name": c, "value": v,
                      "is_valid": True, "is_city": c == "tokyo"}
                     for c, v in (("seoul", 9.0), ("tokyo", 11.7), ("taipei", 14.0), ("busan", 16.0))],
        peers=[{"peer_rank": 1, "peer_city_id": "seoul", "peer_city_name": "Seoul", "similarity": 0.83,
                "shared_feature_count": 5, "similar_on": "similar size, same climate", "similarity_reason": "",
                "city_population": 14_047_594, "peer_population": 9_386_034, "city_density": 6400,
                "peer_density": 15500, "city_gdp": 60000, "peer_gdp": 55000, "city_climate": "temperate",
                "peer_climate": "temperate", "city_region": "Eastern Asia", "peer_region": "Eastern Asia",
                "peer_country_name": "South Korea", "peer_country_iso3": "KOR"}],
        opportunities=[{"indicator_code": "pm25_annual_mean", "indicator_name": "Annual mean PM2.5 concentration",
                        "domain": "air_quality", "direction": "lower_is_better", "unit_label": "µg/m³", "year": 2025,
                        "opportunity_type": "does_better", "opportunity_rank": 1, "peer_city_id": "seoul",
                        "peer_city_name": "Seoul", "similarity": 0.83, "similar_on": "similar size",
                        "city_value": 11.7, "peer_value": 9.0, "unit": "µg/m³", "peer_quality_flag": "ok",
                        "city_trend_slope_per_year": -0.85, "peer_trend_slope_per_year": -1.5,
                        "peer_trend_point_count": 3, "reason": "Seoul (similar: similar size) has 9.0 µg/m³"}],
        sources=[{"indicator_code": "pm25_annual_mean", "indicator_name": "Annual mean PM2.5 concentration",
                  "domain": "air_quality", "source_names": "openaq_air", "feed_ids": "demo_asia", "source_ref": None,
                  "basis": "station_annual_means", "derivation_note": ""}],
        feeds=[{"feed_id": "demo_asia", "source_name": "openaq_air", "latest_period": "2025-10-01_2026-01-01",
                "first_run_at": datetime(2026, 1, 1, 1), "last_run_at": datetime(2026, 1, 2, 2, 30),
                "last_run_is_success": True, "health_status": "passing", "quarantined_row_count": 12}],
    )
    for key, value in overrides.items():
        setattr(brief, key, value)
    return brief


def text_of(html: str, element_id: str) -> str:
    """The text of the element with this id (up to the next element with an id of the same tag)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"', html)
    assert match, f"no element #{element_id}"
    end = html.find(f"</{match.group(1)}>", match.end())
    return re.sub(r"<[^>]+>", " ", html[match.start():end]).replace("\xa0", " ")


@pytest.mark.parametrize(("lang", "words"), [("en", "Demo data: synthetic values for real city names"),
                                           ("es", "Datos de demostración: valores sintéticos")])
def test_a_brief_built_on_demo_feeds_says_so_at_the_top_and_a_real_one_does_not(lang, words):
    demo = render_html(sample_brief(demo_feeds=["demo_asia"]), lang)
    assert words in text_of(demo, "demo-data") and "demo_asia" in text_of(demo, "demo-data")
    assert demo.index('id="demo-data"') < demo.index('id="scores"')
    assert 'id="demo-data"' not in render_html(sample_brief(), lang)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_section_is_present_in_both_languages(lang):
    html = render_html(sample_brief(), lang)
    for section in ("scores", "indicators", "caveats", "peers", "learning", "sources"):
        assert f'id="{section}"' in html, section
    assert f'<html lang="{lang}">' in html
    assert html.count("<svg") == 1, "one chart per domain"


def test_english_brief_shows_the_marts_figures_with_units_ranks_and_targets():
    html = render_html(sample_brief(), "en")
    pm25 = text_of(html, "indicator-pm25_annual_mean")
    for expected in ("11.7", "12.3", "(5)", "2 of 4", "amber", "WHO 2021 interim target 3",
                     "WHO 2021 interim target 4 (10.0 µg/m³)", "about 2.0 years", "−0.85 µg/m³ a year, improving"):
        assert expected in pm25, expected
    scores = text_of(html, "scores")
    assert "64" in scores and "58" in scores and "+6" in scores and "not scored" in scores
    assert "Seoul" in text_of(html, "peers") and "83%" in text_of(html, "peers")
    assert "similar size (14M vs 9.4M residents)" in text_of(html, "peers")


def test_spanish_brief_formats_numbers_and_words_for_spain():
    html = render_html(sample_brief(), "es")
    pm25 = text_of(html, "indicator-pm25_annual_mean")
    for expected in ("11,7", "12,3", "2 de 4", "ámbar", "Meta intermedia 4 OMS 2021 (10,0 µg/m³)",
                     "−0,85 µg/m³ al año, mejora", "Concentración media anual de PM2,5"):
        assert expected in pm25, expected
    assert "Japón" in html and "Corea del Sur" in text_of(html, "peers")
    assert "Informe de ciudad" in html or "informe de ciudad" in html


@pytest.mark.parametrize("lang, caveat", [
    ("en", "Incomplete year: 0 of 2 station(s) meet the completeness rule (61% of days valid on average)"),
    ("es", "Año incompleto: 0 de 2 estación(es) cumplen la regla de completitud (61 % de días válidos de media)"),
])
def test_a_flagged_value_carries_its_caveat_and_no_rank(lang, caveat):
    html = render_html(sample_brief(), lang)
    no2 = text_of(html, "indicator-no2_annual_mean")
    assert "47.3" in no2 or "47,3" in no2
    assert "⚠1" in no2
    assert re.search(r"not ranked \(flagged\)|sin posición \(marcado\)", no2)
    caveats = text_of(html, "caveat-1")
    assert caveat in caveats
    assert "no station meets the completeness rule (0 of 2)" in caveats, "the pipeline's own note is kept"


def test_city_names_in_their_own_script_are_shown_on_demand():
    assert '<span class="native" lang="ja">東京</span>' in render_html(sample_brief(), "en")
    assert "東京" not in render_html(sample_brief(), "en", show_native=False)


def test_a_city_without_values_says_so_instead_of_failing():
    brief = sample_brief(indicators=[], scores=[], opportunities=[], sources=[], feeds=[], trend_points=[],
                         peer_values=[], years_with_values=[])
    for lang, words in (("en", "No indicator values for Tokyo in 2025."),
                        ("es", "No hay valores de indicadores para Tokyo en 2025.")):
        html = render_html(brief, lang)
        assert words in text_of(html, "no-data")
        assert 'id="indicators"' not in html and "<svg" not in html


def test_without_a_practices_registry_the_brief_says_so():
    html = render_html(sample_brief(), "en")
    assert "no practices registry yet" in text_of(html, "learning")


def test_the_peers_practices_are_shown_with_their_effect_and_evidence():
    practice = {"practice_id": "p1", "city_id": "seoul", "title": "Low-emission zone", "category_name":
                "Low-emission zone", "indicator_code": "pm25_annual_mean", "indicator_name":
                "Annual mean PM2.5 concentration", "domain": "air_quality", "effect_pct": -14.6,
                "effect_pct_lower": -19.2, "effect_pct_upper": -10.9, "evidence_grade": "moderate",
                "grade_reason": "good pre-period fit, placebo p 0.08", "effect_summary": "-15% PM2.5",
                "start_date": date(2025, 1, 1), "is_demo": True}
    brief = sample_brief(practices=[practice], has_practice_registry=True)
    en = text_of(render_html(brief, "en"), "learning")
    assert "Seoul" in en and "Low-emission zone" in en
    assert "−15% on Annual mean PM2.5 concentration (−19% to −11%)" in en
    assert "moderate evidence" in en and "good pre-period fit, placebo p 0.08" in en
    assert "Demo entry" in en
    es = text_of(render_html(brief, "es"), "learning")
    assert "evidencia moderada" in es and "(de −19 % a −11 %)" in es


def test_rank_positions_follow_the_marts_rule_best_first_ties_sharing_the_best_rank():
    values = [{"value": v} for v in (9.0, 11.7, 11.7, 14.0)]
    assert [row["rank"] for row in rank_positions(values, "lower_is_better")] == [1, 2, 2, 4]
    assert [row["rank"] for row in rank_positions(values, "higher_is_better")] == [4, 2, 2, 1]


@pytest.mark.parametrize("lang, value, expected", [
    ("en", 1234.5, "1,235"), ("es", 12345.6, "12.346"), ("en", 14.25, "14.3"), ("es", 0.512, "0,51"),
    ("en", None, "–"), ("es", -3.25, "−3,3"),
])
def test_numbers_are_written_in_the_locales_way(lang, value, expected):
    assert language(lang).number(value) == expected


def test_percentages_follow_the_locale():
    assert language("en").percent(0.615) == "62%"
    assert language("es").percent(0.615) == "62\xa0%"
    assert language("es").percent(0.6149, 1) == "61,5\xa0%"


def test_decimal_figures_from_the_warehouse_format_like_floats():
    from decimal import Decimal

    assert language("es").signed(Decimal("-19.2"), 0) == "−19"
    assert language("en").number(Decimal("12.25")) == "12.3"


def test_a_change_that_rounds_to_zero_has_no_sign():
    assert language("en").signed(-0.3, 0) == "0"
    assert language("en").signed(0.04) == "+0.04"
    assert language("es").signed(-1.25) == "−1,3"


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize("order, years, most", [
    (("Annual mean PM2.5 concentration", "Annual mean NO2 concentration"), (2023, 2024, 2025), 4),
    (("Share of residents exposed to Lden ≥ 55 dB",), (2025,), 1),
    (("a", "b", "c"), (2016, 2020, 2025), 12),
])
def test_the_chart_template_filled_for_a_shape_is_the_spec_altair_builds_for_it(lang, order, years, most):
    """The briefs draw from a per-language template instead of building each chart with altair; the
    filled template must be exactly altair's spec, or the charts would change."""
    built = charts._altair_spec(lang, list(order), list(years), [0.5, most + 0.5], list(range(1, most + 1)))
    assert charts._domain_spec(lang, order, years, most) == built
    assert charts._domain_spec(lang, order, years, most) != charts._domain_spec(lang, order, years, most + 1)
