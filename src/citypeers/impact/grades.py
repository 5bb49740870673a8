"""The written rules that grade an impact estimate's evidence (documented in docs/architecture.md,
"Evidence grades"): one small pure function, so the rules are read, tested and changed in one place."""

from __future__ import annotations

MIN_PRE_POINTS = 12
MIN_DONORS = 5
STRONG_MIN_PRE_POINTS = 24
STRONG_MAX_PRE_RMSPE_PCT = 10.0
STRONG_MAX_P_VALUE = 0.10
MODERATE_MAX_PRE_RMSPE_PCT = 15.0
MODERATE_MAX_P_VALUE = 0.25


def evidence_grade(
    *,
    pre_points: int,
    post_points: int,
    donor_count: int,
    pre_rmspe_pct: float | None = None,
    placebo_p_value: float | None = None,
    placebo_count: int = 0,
    effect_pct_lower: float | None = None,
    effect_pct_upper: float | None = None,
) -> tuple[str, str]:
    """The written grading rules: (grade, one plain sentence saying why).

    - insufficient: fewer than 12 pre-period points, fewer than 5 eligible donors, or no
      post-period point (no effect is reported);
    - strong: pre-period fit within 10% (RMSPE as % of the treated pre mean), at least 24
      pre-period points, placebo p <= 0.10 and a 90% interval that excludes 0;
    - moderate: fit within 15%, placebo p <= 0.25 and an interval that excludes 0;
    - weak: anything else (an effect is reported, but it is not told apart from noise).

    Calibrated on null practices: the demo's Taipei NO2 (no effect) is graded moderate or strong
    in 0 of 30 seeds (tests/integration/test_impact_recovery.py), the benchmark's null practices in
    10 of 206 (4.9%, 10 seeds); the rule allows at most 10%.
    """
    too_little = too_little_data(pre_points, post_points, donor_count)
    if too_little:
        return "insufficient", too_little
    if pre_rmspe_pct is None or placebo_p_value is None or effect_pct_lower is None or effect_pct_upper is None:
        return "insufficient", "insufficient: the synthetic control could not be fitted"
    rank = round(placebo_p_value * (placebo_count + 1))
    fit = f"pre-period fit within {pre_rmspe_pct:.0f}%"
    placebo = f"placebo rank {rank} of {placebo_count + 1} (p = {placebo_p_value:.2f})"
    interval = f"interval {effect_pct_lower:+.0f}% to {effect_pct_upper:+.0f}%"
    excludes_zero = effect_pct_upper < 0 or effect_pct_lower > 0
    if not excludes_zero:
        return "weak", f"weak: the {interval} includes 0"
    if pre_rmspe_pct > MODERATE_MAX_PRE_RMSPE_PCT:
        return "weak", (
            f"weak: pre-period fit off by {pre_rmspe_pct:.0f}% "
            f"(moderate needs within {MODERATE_MAX_PRE_RMSPE_PCT:.0f}%), {interval}"
        )
    if placebo_p_value > MODERATE_MAX_P_VALUE:
        return "weak", f"weak: {placebo} (moderate needs p <= {MODERATE_MAX_P_VALUE:.2f}), {interval}"
    missing = [
        rule
        for rule, met in (
            (f"a fit within {STRONG_MAX_PRE_RMSPE_PCT:.0f}%", pre_rmspe_pct <= STRONG_MAX_PRE_RMSPE_PCT),
            (f"{STRONG_MIN_PRE_POINTS} pre-period points (has {pre_points})", pre_points >= STRONG_MIN_PRE_POINTS),
            (f"p <= {STRONG_MAX_P_VALUE:.2f}", placebo_p_value <= STRONG_MAX_P_VALUE),
        )
        if not met
    ]
    if missing:
        return "moderate", f"moderate: {fit} and {placebo}, {interval}; strong needs {' and '.join(missing)}"
    return "strong", f"strong: {fit}, {pre_points} pre-period points and {placebo}, {interval}"


def too_little_data(pre_points: int, post_points: int, donor_count: int) -> str | None:
    if pre_points < MIN_PRE_POINTS:
        return f"insufficient: {pre_points} pre-period points (rule: at least {MIN_PRE_POINTS})"
    if donor_count < MIN_DONORS:
        return f"insufficient: {donor_count} eligible donors (rule: at least {MIN_DONORS})"
    if post_points < 1:
        return "insufficient: no valid post-period point yet"
    return None
