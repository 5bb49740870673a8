"""The impact estimator: grading rules at each boundary, donor eligibility, windows, and the
estimate on hand-built panels whose truth is known."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from citypeers.impact import estimate, evidence_grade

GOOD = dict(
    pre_points=24,
    post_points=12,
    donor_count=15,
    pre_rmspe_pct=6.0,
    placebo_p_value=1 / 16,
    placebo_count=15,
    effect_pct_lower=-19.0,
    effect_pct_upper=-11.0,
)


def _grade(**changes) -> tuple[str, str]:
    return evidence_grade(**{**GOOD, **changes})


def _panel(
    *,
    donors: int = 10,
    months: int = 48,
    first: date = date(2021, 1, 1),
    effect: float = 0.0,
    effect_from: int = 36,
    seed: int = 3,
    freq: str = "MS",
) -> pd.DataFrame:
    """A treated city 't' and donors 'd00'.. sharing a seasonal cycle and a common shock, each with
    its own level and noise; the treated city's values times (1 + effect) from period `effect_from`."""
    rng = np.random.default_rng(seed)
    periods = pd.date_range(first, periods=months, freq=freq)
    season = 1 + 0.3 * np.cos(2 * np.pi * (periods.month.to_numpy() - 1) / 12)
    common = np.exp(rng.normal(0, 0.05, months))
    rows = []
    for city in ["t", *[f"d{i:02d}" for i in range(donors)]]:
        level = rng.uniform(10, 40)
        values = level * season * common * np.exp(rng.normal(0, 0.03, months))
        if city == "t":
            values[effect_from:] *= 1 + effect
        rows += [
            {"city_id": city, "period_start": p.date(), "value": float(v), "is_valid": True}
            for p, v in zip(periods, values, strict=True)
        ]
    return pd.DataFrame(rows)


def _donors(count: int = 10) -> list[str]:
    return [f"d{i:02d}" for i in range(count)]


def _set(panel: pd.DataFrame, city: str, period: date, **values) -> pd.DataFrame:
    panel = panel.copy()
    where = (panel["city_id"] == city) & (panel["period_start"] == period)
    for column, value in values.items():
        panel.loc[where, column] = value
    return panel


# --- the grading rules, boundary by boundary ---------------------------------------------------


def test_a_good_fit_with_24_pre_points_p_at_most_0_1_and_an_interval_excluding_0_is_strong():
    grade, reason = _grade()
    assert grade == "strong"
    assert reason == (
        "strong: pre-period fit within 6%, 24 pre-period points and placebo rank 1 of 16 (p = 0.06), "
        "interval -19% to -11%"
    )


def test_fewer_than_12_pre_period_points_is_insufficient_and_12_is_not():
    assert _grade(pre_points=11) == ("insufficient", "insufficient: 11 pre-period points (rule: at least 12)")
    assert _grade(pre_points=12)[0] == "moderate"


def test_fewer_than_5_eligible_donors_is_insufficient_and_5_is_not():
    assert _grade(donor_count=4) == ("insufficient", "insufficient: 4 eligible donors (rule: at least 5)")
    assert _grade(donor_count=5)[0] == "strong"


def test_no_post_period_point_is_insufficient():
    assert _grade(post_points=0) == ("insufficient", "insufficient: no valid post-period point yet")


def test_strong_needs_24_pre_points_else_moderate_and_says_so():
    grade, reason = _grade(pre_points=23)
    assert grade == "moderate"
    assert reason.endswith("strong needs 24 pre-period points (has 23)")


def test_strong_needs_a_fit_within_10_percent_else_moderate():
    assert _grade(pre_rmspe_pct=10.0)[0] == "strong"
    grade, reason = _grade(pre_rmspe_pct=10.4)
    assert grade == "moderate" and "strong needs a fit within 10%" in reason


def test_strong_needs_p_at_most_0_10_else_moderate():
    assert _grade(placebo_p_value=0.10, placebo_count=19)[0] == "strong"
    grade, reason = _grade(placebo_p_value=2 / 16)
    assert grade == "moderate"
    assert reason == (
        "moderate: pre-period fit within 6% and placebo rank 2 of 16 (p = 0.12), interval -19% to -11%; "
        "strong needs p <= 0.10"
    )


def test_moderate_needs_p_at_most_0_25_else_weak():
    assert _grade(placebo_p_value=0.25, placebo_count=7)[0] == "moderate"
    grade, reason = _grade(placebo_p_value=5 / 16)
    assert grade == "weak"
    assert reason == "weak: placebo rank 5 of 16 (p = 0.31) (moderate needs p <= 0.25), interval -19% to -11%"


def test_moderate_needs_a_fit_within_15_percent_else_weak():
    assert _grade(pre_rmspe_pct=15.0)[0] == "moderate"
    grade, reason = _grade(pre_rmspe_pct=15.3)
    assert grade == "weak" and reason.startswith("weak: pre-period fit off by 15% (moderate needs within 15%)")


def test_an_interval_that_includes_or_touches_0_is_weak_whatever_the_rest():
    assert _grade(effect_pct_lower=-12.0, effect_pct_upper=3.0) == (
        "weak",
        "weak: the interval -12% to +3% includes 0",
    )
    assert _grade(effect_pct_upper=0.0)[0] == "weak"


def test_an_increase_whose_interval_excludes_0_can_be_graded_too():
    assert _grade(effect_pct_lower=4.0, effect_pct_upper=12.0)[0] == "strong"


# --- what the estimator uses and drops ----------------------------------------------------------


def test_a_city_with_no_eligible_donors_is_insufficient_with_the_reason_and_no_numbers():
    result = estimate(_panel(), "t", date(2024, 1, 1), [], grain="month")
    assert result.evidence_grade == "insufficient"
    assert result.grade_reason == "insufficient: 0 eligible donors (rule: at least 5)"
    assert result.effect is None and result.effect_pct is None and result.effect_pct_lower is None
    assert result.placebo_p_value is None and result.donor_weights == {}


def test_donors_missing_or_flagged_in_a_used_period_are_dropped_with_the_count_and_reason():
    panel = _panel()
    panel = panel[~((panel["city_id"] == "d01") & (panel["period_start"] == date(2022, 5, 1)))]
    panel = _set(panel, "d02", date(2024, 3, 1), is_valid=False)
    result = estimate(panel, "t", date(2024, 1, 1), _donors(), grain="month")
    assert (result.candidate_donor_count, result.donor_count) == (10, 8)
    assert result.dropped_donors == {
        "d01": "no valid value in 1 period(s) used: 2022-05-01",
        "d02": "no valid value in 1 period(s) used: 2024-03-01",
    }
    assert "d01" not in result.placebo_ratios and "d02" not in result.placebo_ratios


def test_too_few_donors_after_dropping_says_how_many_candidates_were_dropped():
    panel = _panel(donors=6)
    for donor in ("d00", "d01"):
        panel = _set(panel, donor, date(2024, 6, 1), is_valid=False)
    result = estimate(panel, "t", date(2024, 1, 1), _donors(6), grain="month")
    assert result.evidence_grade == "insufficient"
    assert result.grade_reason == (
        "insufficient: 4 eligible donors (rule: at least 5); 2 of 6 candidate donors dropped (see dropped_donors)"
    )


def test_annual_grain_with_three_years_is_insufficient_but_shows_the_actual_series():
    panel = _panel(months=3, first=date(2023, 1, 1), freq="YS")
    result = estimate(panel, "t", date(2025, 3, 1), _donors(), grain="year")
    assert result.evidence_grade == "insufficient"
    assert result.grade_reason == "insufficient: 2 pre-period points (rule: at least 12)"
    assert list(result.series["period_start"]) == [date(2023, 1, 1), date(2024, 1, 1), date(2025, 1, 1)]
    assert result.series["actual"].notna().all() and result.series["synthetic"].isna().all()
    assert list(result.series["is_post"]) == [False, False, True]


def test_the_series_has_the_actual_value_of_every_treated_period_even_when_insufficient():
    panel = _panel(months=20)
    result = estimate(panel, "t", date(2021, 7, 1), _donors(), grain="month")
    assert result.evidence_grade == "insufficient" and result.pre_points == 6
    treated = panel[panel["city_id"] == "t"].reset_index(drop=True)
    assert list(result.series["period_start"]) == list(treated["period_start"])
    assert np.allclose(result.series["actual"], treated["value"])


def test_only_valid_treated_periods_count_and_a_flagged_one_stays_in_the_series_without_synthetic():
    panel = _set(_panel(), "t", date(2022, 2, 1), is_valid=False)
    result = estimate(panel, "t", date(2024, 1, 1), _donors(), grain="month")
    assert (result.pre_points, result.post_points) == (35, 12)
    flagged = result.series[result.series["period_start"] == date(2022, 2, 1)].iloc[0]
    assert not flagged["is_valid"] and not math.isnan(flagged["actual"]) and math.isnan(flagged["synthetic"])
    assert result.series["synthetic"].notna().sum() == 47


def test_pre_and_post_periods_are_capped_at_36_and_end_limits_the_post_period():
    panel = _panel(months=90, effect_from=48)
    capped = estimate(panel, "t", date(2025, 1, 1), _donors(), grain="month")
    assert (capped.pre_points, capped.post_points) == (36, 36)
    assert capped.series["period_start"].iloc[0] == date(2022, 1, 1)
    ended = estimate(panel, "t", date(2025, 1, 1), _donors(), grain="month", end=date(2025, 6, 30))
    assert ended.post_points == 6 and ended.series["period_start"].iloc[-1] == date(2025, 6, 1)


def test_a_start_in_mid_month_puts_that_month_in_the_post_period_and_the_treated_city_is_no_donor():
    result = estimate(_panel(), "t", date(2024, 1, 15), ["t", *_donors()], grain="month")
    assert (result.pre_points, result.post_points, result.candidate_donor_count) == (36, 12, 10)


def test_an_unknown_grain_is_refused():
    with pytest.raises(ValueError, match="grain"):
        estimate(_panel(), "t", date(2024, 1, 1), _donors(), grain="week")


# --- the estimate itself ------------------------------------------------------------------------


def test_a_planted_20_percent_drop_is_recovered_within_its_interval_and_graded_strong():
    result = estimate(_panel(effect=-0.20, donors=12), "t", date(2024, 1, 1), _donors(12), grain="month")
    assert result.effect_pct_lower <= -20 <= result.effect_pct_upper
    assert abs(result.effect_pct + 20) < 3
    assert result.evidence_grade == "strong", result.grade_reason
    assert result.effect_pct_by_post_year.keys() == {2024}
    assert result.interval_method == "placebo_standardised_t" and result.interval_level == 0.9


def test_the_effect_in_units_is_the_percent_effect_of_the_synthetic_post_mean():
    result = estimate(_panel(effect=-0.10), "t", date(2024, 1, 1), _donors(), grain="month")
    post = result.series[result.series["is_post"]]
    synthetic_mean = post["synthetic"].mean()
    assert result.effect == pytest.approx((post["actual"] - post["synthetic"]).mean())
    assert result.effect == pytest.approx(result.effect_pct / 100 * synthetic_mean)
    assert result.effect_lower == pytest.approx(result.effect_pct_lower / 100 * synthetic_mean)
    assert result.effect_lower < result.effect < result.effect_upper


def test_the_placebo_p_value_is_the_treated_rank_over_n_plus_1():
    result = estimate(_panel(effect=-0.05), "t", date(2024, 1, 1), _donors(), grain="month")
    rank = 1 + sum(r >= result.post_pre_rmspe_ratio for r in result.placebo_ratios.values())
    assert result.placebo_count == 10 == len(result.placebo_ratios)
    assert result.placebo_p_value == pytest.approx(rank / 11)


def test_donor_weights_sum_to_1_and_only_weights_above_0_001_are_listed():
    result = estimate(_panel(), "t", date(2024, 1, 1), _donors(), grain="month")
    assert sum(result.donor_weights.values()) == pytest.approx(1, abs=0.01)
    assert all(weight > 0.001 for weight in result.donor_weights.values())


def test_a_long_annual_series_is_estimated_over_years():
    panel = _panel(months=30, first=date(1996, 1, 1), freq="YS", effect=-0.2, effect_from=20, donors=8)
    result = estimate(panel, "t", date(2016, 1, 1), _donors(8), grain="year")
    assert (result.pre_points, result.post_points) == (20, 10)
    assert result.effect_pct_by_post_year.keys() == set(range(2016, 2026))
    assert result.effect_pct_lower <= -20 <= result.effect_pct_upper
