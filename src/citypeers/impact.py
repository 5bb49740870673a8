"""The effect of a city's practice on one indicator: a synthetic control from its donor cities.

Method (chosen by measurement; figures in docs/architecture.md, "Evidence grades"):

* **Fit**: pysyncon's `Synth`, outcome-only (the pre-period outcomes are the predictors, with a
  `custom_V` that undoes pysyncon's per-period scaling, so the weights minimise the plain
  pre-period squared error; no outer V search, one quadratic programme per fit). Every series is
  first divided by its own pre-period mean: convex weights cannot reach a treated city whose
  level lies outside its donors' range, and on the demo data the raw fit missed Barcelona's
  planted -15% NO2 by +4.5 points on average over 10 seeds, the relative fit by 0.0. pysyncon's
  `AugSynth` (ridge-augmented) recovered the planted effects no better (within 0.1 point of the
  relative Synth) at 0.7 s a fit instead of 5 ms: with a placebo fit per donor, 100 practices
  would take about 25 minutes, against the 60 s goal.
* **Placebos in space**: each eligible donor in turn is treated as if it had adopted the
  practice, fitted from the other donors. p-value = rank / (n + 1), where rank is the treated
  city's post/pre RMSPE ratio ranked from the largest among itself and its n donors (ties count
  against the treated city); the smallest possible p is 1 / (n + 1).
* **Interval** (90%, `interval_method` "placebo_standardised_t"): each donor's placebo "effect"
  (in %) is pure estimation error; divided by that donor's own pre-period fit error (in %) it is
  comparable across cities that fit well or badly. The interval is
  effect_pct ± t(n-1, 0.95) × RMS(placebo effect / placebo pre-fit error) × √(1 + 1/n) ×
  the treated city's pre-fit error: a prediction interval for one more estimation error, scaled
  to the treated city's fit. pysyncon's conformal `confidence_interval` gives intervals per
  period, not for the mean effect, and took 1.9 s per practice with a fixed V (321 s with an
  optimised V): too slow for the benchmark goal.

Too little data is a grade, not a number: an `insufficient` estimate has every effect field None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

MIN_PRE_POINTS = 12
MIN_DONORS = 5
MAX_PRE_POINTS = 36
MAX_POST_POINTS = 36
STRONG_MIN_PRE_POINTS = 24
STRONG_MAX_PRE_RMSPE_PCT = 10.0
STRONG_MAX_P_VALUE = 0.10
MODERATE_MAX_PRE_RMSPE_PCT = 15.0
MODERATE_MAX_P_VALUE = 0.25
INTERVAL_LEVEL = 0.90
INTERVAL_METHOD = "placebo_standardised_t"
WEIGHT_SHOWN_ABOVE = 0.001
GRAINS = ("month", "year")


@dataclass(frozen=True)
class ImpactEstimate:
    """One practice's estimated effect on one indicator, with its uncertainty and evidence grade.

    Effects are actual − synthetic over the post period: `effect` in the indicator's unit,
    `effect_pct` as % of the synthetic (the counterfactual) mean. `donor_weights` are the weights
    on the donors' relative series (each donor divided by its pre-period mean), summing to 1.
    """

    treated: str
    start: date
    end: date | None
    grain: str
    pre_points: int
    post_points: int
    candidate_donor_count: int
    donor_count: int
    effect: float | None
    effect_pct: float | None
    effect_lower: float | None
    effect_upper: float | None
    effect_pct_lower: float | None
    effect_pct_upper: float | None
    interval_method: str | None
    interval_level: float | None
    pre_rmspe: float | None
    pre_rmspe_pct: float | None
    post_pre_rmspe_ratio: float | None
    placebo_p_value: float | None
    placebo_count: int
    effect_pct_by_post_year: dict[int, float]
    donor_weights: dict[str, float]
    placebo_ratios: dict[str, float]
    series: pd.DataFrame
    evidence_grade: str
    grade_reason: str
    dropped_donors: dict[str, str] = field(default_factory=dict)


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

    Calibrated on the demo's null practice (Taipei NO2, no effect): graded moderate or strong in
    0 of 40 seeds (tests/integration/test_impact_recovery.py measures it again).
    """
    too_little = _too_little_data(pre_points, post_points, donor_count)
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


def _too_little_data(pre_points: int, post_points: int, donor_count: int) -> str | None:
    if pre_points < MIN_PRE_POINTS:
        return f"insufficient: {pre_points} pre-period points (rule: at least {MIN_PRE_POINTS})"
    if donor_count < MIN_DONORS:
        return f"insufficient: {donor_count} eligible donors (rule: at least {MIN_DONORS})"
    if post_points < 1:
        return "insufficient: no valid post-period point yet"
    return None


def estimate(
    panel: pd.DataFrame,
    treated: str,
    start: date,
    donors: list[str] | tuple[str, ...],
    *,
    grain: str,
    end: date | None = None,
) -> ImpactEstimate:
    """Estimate the effect on `treated` of a practice started on `start` (a day).

    `panel`: city_id, period_start (first day of the month or year), value, is_valid.
    `donors`: candidate donor cities, already filtered by the donor-pool rule. Pre period: the
    treated city's valid periods before the one containing `start` (the latest 36); post: its
    valid periods from that one to `end` or the data's end (the first 36). A donor is eligible
    only with a valid value in every one of those periods.
    """
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {GRAINS}, not {grain!r}")
    start_period = _period_of(start, grain)
    end_period = _period_of(end, grain) if end is not None else None
    candidates = list(dict.fromkeys(d for d in donors if d != treated))
    rows = panel[panel["city_id"].isin([treated, *candidates])]
    rows = rows.assign(period_start=pd.to_datetime(rows["period_start"]).dt.date)
    wide = rows.pivot(index="period_start", columns="city_id", values="value")
    valid = rows.pivot(index="period_start", columns="city_id", values="is_valid")
    mine = rows[rows["city_id"] == treated].set_index("period_start").sort_index()
    usable = mine[mine["is_valid"].astype(bool) & mine["value"].notna()]
    pre = [p for p in usable.index if p < start_period][-MAX_PRE_POINTS:]
    post = [p for p in usable.index if p >= start_period and (end_period is None or p <= end_period)]
    post = post[:MAX_POST_POINTS]
    eligible, dropped = _eligible_donors(candidates, wide, valid, pre, post)

    window = _window(mine, pre, post, start_period, end_period, grain)
    series = pd.DataFrame(
        {
            "period_start": list(window.index),
            "actual": window["value"].to_numpy(dtype=float),
            "synthetic": np.nan,
            "is_post": [p >= start_period for p in window.index],
            "is_valid": window["is_valid"].astype(bool).to_numpy(),
        }
    )
    reason = _too_little_data(len(pre), len(post), len(eligible))
    base = dict(
        treated=treated,
        start=start,
        end=end,
        grain=grain,
        pre_points=len(pre),
        post_points=len(post),
        candidate_donor_count=len(candidates),
        donor_count=len(eligible),
        dropped_donors=dropped,
    )
    if mine.empty:
        reason = f"insufficient: no data for {treated} on this indicator"
    elif reason is None and usable.loc[pre, "value"].mean() <= 0:
        reason = "insufficient: the pre-period mean is not positive (the fit compares series relative to it)"
    if reason is not None:
        if len(eligible) < MIN_DONORS and dropped:
            reason += f"; {len(dropped)} of {len(candidates)} candidate donors dropped (see dropped_donors)"
        return _insufficient(base, series, reason)

    periods = pre + post
    y = usable.loc[periods, "value"].to_numpy(dtype=float)
    donor_values = wide.loc[periods, eligible].to_numpy(dtype=float)
    # One BLAS thread: on matrices this small, OpenBLAS threads only contend (5 times slower on 2 busy cores).
    with threadpool_limits(limits=1, user_api="blas"):
        fit = _fit(donor_values, y, len(pre))
        placebos = [
            _fit(np.delete(donor_values, j, axis=1), donor_values[:, j], len(pre)) for j in range(len(eligible))
        ]
    ratios = np.array([p.ratio for p in placebos])
    placebo_p = float((1 + np.sum(ratios >= fit.ratio)) / (len(placebos) + 1))
    half_width = _interval_half_width(fit, placebos)
    synthetic_post_mean = float(fit.synthetic[len(pre) :].mean())
    series["synthetic"] = series["period_start"].map(dict(zip(periods, fit.synthetic, strict=True)))
    pct_lower, pct_upper = fit.effect_pct - half_width, fit.effect_pct + half_width
    grade, reason = evidence_grade(
        pre_points=len(pre),
        post_points=len(post),
        donor_count=len(eligible),
        pre_rmspe_pct=fit.pre_rmspe_pct,
        placebo_p_value=placebo_p,
        placebo_count=len(placebos),
        effect_pct_lower=pct_lower,
        effect_pct_upper=pct_upper,
    )
    post_years = pd.DataFrame(
        {"year": [p.year for p in post], "gap": fit.gaps[len(pre) :], "synthetic": fit.synthetic[len(pre) :]}
    ).groupby("year")[["gap", "synthetic"]].mean()
    by_year = {int(year): float(row.gap / row.synthetic * 100) for year, row in post_years.iterrows()}
    return ImpactEstimate(
        **base,
        effect=fit.effect_pct / 100 * synthetic_post_mean,
        effect_pct=fit.effect_pct,
        effect_lower=pct_lower / 100 * synthetic_post_mean,
        effect_upper=pct_upper / 100 * synthetic_post_mean,
        effect_pct_lower=pct_lower,
        effect_pct_upper=pct_upper,
        interval_method=INTERVAL_METHOD,
        interval_level=INTERVAL_LEVEL,
        pre_rmspe=fit.pre_rmspe,
        pre_rmspe_pct=fit.pre_rmspe_pct,
        post_pre_rmspe_ratio=fit.ratio,
        placebo_p_value=placebo_p,
        placebo_count=len(placebos),
        effect_pct_by_post_year=by_year,
        donor_weights={d: float(w) for d, w in zip(eligible, fit.weights, strict=True) if w > WEIGHT_SHOWN_ABOVE},
        placebo_ratios={d: float(r) for d, r in zip(eligible, ratios, strict=True)},
        series=series,
        evidence_grade=grade,
        grade_reason=reason,
    )


@dataclass(frozen=True)
class _Fit:
    weights: np.ndarray
    synthetic: np.ndarray
    gaps: np.ndarray
    pre_rmspe: float
    pre_rmspe_pct: float
    ratio: float
    effect_pct: float


def _fit(donor_values: np.ndarray, y: np.ndarray, pre_count: int) -> _Fit:
    """pysyncon's Synth on series relative to their pre-period means (see the module docstring)."""
    from pysyncon import Synth  # imported here: pysyncon loads matplotlib, which the CLI need not pay for

    donor_scale = donor_values[:pre_count].mean(axis=0)
    treated_scale = y[:pre_count].mean()
    x0 = pd.DataFrame(donor_values[:pre_count] / donor_scale)
    x1 = pd.Series(y[:pre_count] / treated_scale, name="treated")
    spread = pd.concat([x0, x1], axis=1).std(axis=1)
    informative = spread.to_numpy() > 0  # a period where all series agree constrains no weight
    x0, x1, spread = x0[informative], x1[informative], spread[informative]
    synth = Synth()
    synth.fit(X0=x0, X1=x1, Z0=x0, Z1=x1, custom_V=spread.to_numpy() ** 2)
    weights = np.asarray(synth.W, dtype=float)
    synthetic = (donor_values / donor_scale) @ weights * treated_scale
    gaps = y - synthetic
    pre_rmspe = float(np.sqrt(np.mean(gaps[:pre_count] ** 2)))
    post_rmspe = float(np.sqrt(np.mean(gaps[pre_count:] ** 2)))
    return _Fit(
        weights=weights,
        synthetic=synthetic,
        gaps=gaps,
        pre_rmspe=pre_rmspe,
        pre_rmspe_pct=pre_rmspe / treated_scale * 100,
        ratio=post_rmspe / pre_rmspe if pre_rmspe > 0 else math.inf,
        effect_pct=float(gaps[pre_count:].mean() / synthetic[pre_count:].mean() * 100),
    )


def _interval_half_width(fit: _Fit, placebos: list[_Fit]) -> float:
    """Half-width (in %) of the placebo-standardised t interval of the module docstring."""
    standardised = np.array([p.effect_pct / p.pre_rmspe_pct for p in placebos if p.pre_rmspe_pct > 0])
    n = len(standardised)
    t = stats.t.ppf(0.5 + INTERVAL_LEVEL / 2, n - 1)
    return float(t * np.sqrt(np.mean(standardised**2)) * np.sqrt(1 + 1 / n) * fit.pre_rmspe_pct)


def _eligible_donors(
    candidates: list[str], wide: pd.DataFrame, valid: pd.DataFrame, pre: list[date], post: list[date]
) -> tuple[list[str], dict[str, str]]:
    """Donors with a valid value in every pre and post period used, and why each other one is not."""
    periods = pre + post
    eligible, dropped = [], {}
    for donor in candidates:
        if donor not in wide.columns:
            dropped[donor] = "no data for the indicator"
            continue
        values = wide[donor].reindex(periods)
        ok = valid[donor].reindex(periods).fillna(False).astype(bool) & values.notna()
        if not ok.all():
            missing = [p.isoformat() for p in ok.index[~ok]]
            more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
            dropped[donor] = f"no valid value in {len(missing)} period(s) used: {', '.join(missing[:3])}{more}"
        elif pre and values.loc[pre].mean() <= 0:
            dropped[donor] = "pre-period mean not positive (the fit compares series relative to it)"
        else:
            eligible.append(donor)
    return eligible, dropped


def _window(
    mine: pd.DataFrame, pre: list[date], post: list[date], start_period: date, end_period: date | None, grain: str
) -> pd.DataFrame:
    """The treated city's rows shown in `series`: from the first pre period used to the last post
    period used (or up to 36 periods from the start when no post period is valid), every one of
    them, flagged or not."""
    first = pre[0] if pre else start_period
    if post:
        last = post[-1]
    else:
        last = _shift(start_period, MAX_POST_POINTS - 1, grain)
        if end_period is not None:
            last = min(last, end_period)
    rows = mine[(mine.index >= first) & (mine.index <= last)]
    return rows[["value", "is_valid"]]


def _insufficient(base: dict, series: pd.DataFrame, reason: str) -> ImpactEstimate:
    none = dict.fromkeys(
        (
            "effect",
            "effect_pct",
            "effect_lower",
            "effect_upper",
            "effect_pct_lower",
            "effect_pct_upper",
            "interval_method",
            "interval_level",
            "pre_rmspe",
            "pre_rmspe_pct",
            "post_pre_rmspe_ratio",
            "placebo_p_value",
        )
    )
    return ImpactEstimate(
        **base,
        **none,
        placebo_count=0,
        effect_pct_by_post_year={},
        donor_weights={},
        placebo_ratios={},
        series=series,
        evidence_grade="insufficient",
        grade_reason=reason,
    )


def _period_of(day: date, grain: str) -> date:
    day = pd.Timestamp(day).date()
    return date(day.year, day.month, 1) if grain == "month" else date(day.year, 1, 1)


def _shift(period: date, count: int, grain: str) -> date:
    if grain == "year":
        return date(period.year + count, 1, 1)
    months = period.year * 12 + period.month - 1 + count
    return date(months // 12, months % 12 + 1, 1)
