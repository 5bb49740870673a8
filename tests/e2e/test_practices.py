"""End to end: the demo's practices feed and the practice marts, in the shared published home
(the 9-city slice, run under Airflow like every other feed).

The slice holds Barcelona and a few cities of its peer group (Rome, Paris, Berlin, Madrid, Seoul,
Tokyo), enough donors for a synthetic control of its demo low-emission zone; these tests protect the
wiring and the honesty rules (a grade and its reason everywhere, no number without evidence). How
well the planted effects are recovered, and how often a null practice is graded moderate or strong,
is measured on the demo's 36 cities over many seeds (tests/integration/test_impact_recovery.py).
"""

from __future__ import annotations

import subprocess

import pytest

from citypeers.demo.planted_practices import DEMO_PRACTICES
from tests.e2e.pipeline import BIN, E2E_CITIES, environment
from tests.e2e.test_pipeline import query

pytestmark = pytest.mark.e2e

SLICE_PRACTICES = sorted(p.practice_id for p in DEMO_PRACTICES if p.city_id in E2E_CITIES)


def test_the_demo_practices_of_the_slice_reach_the_registry_mart(published_home):
    rows = query(published_home, "select practice_id, city_id, category, is_demo from dim_practice order by 1")
    assert [row[0] for row in rows] == SLICE_PRACTICES
    planted = {p.practice_id: p for p in DEMO_PRACTICES}
    for practice_id, city_id, category, is_demo in rows:
        assert (city_id, category, is_demo) == (planted[practice_id].city_id, planted[practice_id].category, True)


def test_every_targeted_indicator_has_a_grade_with_its_reason_and_no_number_without_evidence(published_home):
    rows = query(published_home, """
        select practice_id, indicator_code, grain, evidence_grade, grade_reason, effect, effect_pct,
               effect_lower, effect_upper, donor_count, effect_summary
        from fct_practice_impact order by practice_id, indicator_code
    """)
    expected = sorted((p.practice_id, code) for p in DEMO_PRACTICES if p.city_id in E2E_CITIES
                      for code in p.indicator_codes)
    assert [(row[0], row[1]) for row in rows] == expected
    for practice_id, _, _, grade, reason, effect, pct, lower, upper, _, summary in rows:
        assert grade in {"insufficient", "weak", "moderate", "strong"}
        assert reason and reason.startswith(grade), (practice_id, reason)
        if grade == "insufficient":
            assert (effect, pct, lower, upper) == (None, None, None, None), practice_id
            assert summary == "evidence insufficient"
        else:
            assert lower <= effect <= upper, practice_id


def test_air_practices_use_the_monthly_series_and_annual_only_ones_say_why_they_are_insufficient(published_home):
    grains = dict(query(published_home, "select practice_id, grain from fct_practice_impact"))
    assert grains["demo-bcn-lez-2025"] == "month"
    assert grains["demo-vlc-payt-2024"] == "year"
    grade, reason = query(published_home, """
        select evidence_grade, grade_reason from fct_practice_impact where practice_id = 'demo-vlc-payt-2024'
    """)[0]
    assert grade == "insufficient" and "pre-period" in reason, reason


def test_the_counterfactual_series_holds_the_city_values_split_at_the_start(published_home):
    rows = query(published_home, """
        select period_start, is_post, actual_value, actual_before_start, actual_from_start
        from fct_practice_impact_series
        where practice_id = 'demo-bcn-lez-2025' order by period_start
    """)
    assert len(rows) >= 30  # 36 months of 2023-2025, less any flagged month
    for period_start, is_post, actual, before, after in rows:
        assert is_post == (period_start.isoformat() >= "2025-01-01")
        assert (after if is_post else before) == actual


def test_the_planted_no2_cut_shows_in_barcelonas_monthly_series(published_home):
    """The data the estimates start from: Barcelona's NO2 months of 2025 sit ~15% below 2024's
    (the plant), while Madrid's (no practice) do not move like that."""
    rows = dict(query(published_home, """
        select city_id, avg(case when year = 2025 then value end) / avg(case when year = 2024 then value end)
        from fct_city_indicator_monthly
        where indicator_code = 'no2_annual_mean' and quality_flag = 'ok' and city_id in ('barcelona', 'madrid')
        group by city_id
    """))
    assert 0.78 < rows["barcelona"] < 0.92, rows
    assert rows["madrid"] > 0.92, rows


def test_donors_are_listed_with_eligibility_and_never_the_city_itself(published_home):
    rows = query(published_home, """
        select city_id, donor_city_id, is_eligible, exclusion_reason, donor_weight
        from fct_practice_impact_donors where practice_id = 'demo-bcn-lez-2025'
    """)
    assert rows, "Barcelona's candidate donors are listed"
    assert all(city != donor for city, donor, *_ in rows)
    assert all((reason is None) == eligible for _, _, eligible, reason, _ in rows)


def test_practice_commands_print_the_registry_and_the_evidence(published_home):
    env = environment(published_home, published_home / "feeds.yml")
    listed = subprocess.run([str(BIN / "citypeers"), "practices", "barcelona"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "demo-bcn-lez-2025" in listed.stdout and "Low-emission zone" in listed.stdout
    detail = subprocess.run([str(BIN / "citypeers"), "impact", "demo-bcn-lez-2025"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert detail.returncode == 0, detail.stderr
    grade = query(published_home,
                  "select evidence_grade from fct_practice_impact where practice_id = 'demo-bcn-lez-2025'")[0][0]
    assert f"evidence {grade.upper()}" in detail.stdout
    assert "synthetic control" in detail.stdout and "Donors" in detail.stdout
    unknown = subprocess.run([str(BIN / "citypeers"), "impact", "demo-bcn-lez"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "demo-bcn-lez-2025" in unknown.stderr


def test_learning_opportunities_from_barcelona_on_no2_carry_its_practice(published_home):
    """Barcelona's planted NO2 cut makes it a fast improver (or a better performer) for its peers;
    every such row says what Barcelona did, with the evidence grade, in the reason too."""
    rows = query(published_home, """
        select city_id, opportunity_type, peer_practices, peer_practice_count, peer_best_evidence_grade, reason
        from fct_learning_opportunities
        where peer_city_id = 'barcelona' and indicator_code = 'no2_annual_mean'
    """)
    assert rows, "Barcelona is offered to a peer on NO2"
    grade = query(published_home,
                  "select evidence_grade from fct_practice_impact where practice_id = 'demo-bcn-lez-2025'")[0][0]
    for _, _, practices, count, best_grade, reason in rows:
        assert count == 1 and "since 2025-01" in practices
        assert best_grade == grade
        assert reason.endswith(practices)
    others = query(published_home, """
        select count(*) from fct_learning_opportunities
        where peer_practices is not null and peer_city_id not in (select city_id from dim_practice)
    """)[0][0]
    assert others == 0
