"""`estimate`: one practice's effect on one indicator, from a long panel of city periods.

Chooses the periods and the eligible donors, runs the synthetic control
(`citypeers.impact.synthetic_control`) and grades the evidence (`citypeers.impact.grades`). Too
little data is a grade, not a number: an `insufficient` estimate has every effect field None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from citypeers.impact.grades import MIN_DONORS, evidence_grade, too_little_data
from citypeers.impact.synthetic_control import INTERVAL_LEVEL, INTERVAL_METHOD, synthetic_control

MAX_PRE_POINTS = 36
MAX_POST_POINTS = 36
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
    reason = too_little_data(len(pre), len(post), len(eligible))
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
    control = synthetic_control(donor_values, y, len(pre))
    fit = control.fit
    synthetic_post_mean = float(fit.synthetic[len(pre) :].mean())
    series["synthetic"] = series["period_start"].map(dict(zip(periods, fit.synthetic, strict=True)))
    pct_lower, pct_upper = control.effect_pct_lower, control.effect_pct_upper
    grade, reason = evidence_grade(
        pre_points=len(pre),
        post_points=len(post),
        donor_count=len(eligible),
        pre_rmspe_pct=fit.pre_rmspe_pct,
        placebo_p_value=control.placebo_p_value,
        placebo_count=len(control.placebo_ratios),
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
        placebo_p_value=control.placebo_p_value,
        placebo_count=len(control.placebo_ratios),
        effect_pct_by_post_year=by_year,
        donor_weights={d: float(w) for d, w in zip(eligible, fit.weights, strict=True) if w > WEIGHT_SHOWN_ABOVE},
        placebo_ratios=dict(zip(eligible, control.placebo_ratios, strict=True)),
        series=series,
        evidence_grade=grade,
        grade_reason=reason,
    )


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
