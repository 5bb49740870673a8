"""The synthetic control behind an impact estimate: the fit, the placebos in space and the interval.

Chosen by measurement (figures in docs/architecture.md, "Evidence grades"):

* **Fit**: pysyncon's `Synth`, outcome-only (the pre-period outcomes are the predictors, with a
  `custom_V` that undoes pysyncon's per-period scaling, so the weights minimise the plain
  pre-period squared error; no outer V search, one quadratic programme per fit). Every series is
  first divided by its own pre-period mean: convex weights cannot reach a treated city whose
  level lies outside its donors' range, and on the demo data the raw fit missed Barcelona's
  planted -15% NO2 by +4.5 points on average over 10 seeds, the relative fit by 0.0. pysyncon's
  `AugSynth` (ridge-augmented) missed it by +4.2 on raw levels and did no better than this on
  relative series (RMSE within 0.1 point) at 0.7 s a fit instead of 5-10 ms: with a placebo fit
  per donor, 100 practices would take about 25 minutes, against the 60 s goal.
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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

INTERVAL_LEVEL = 0.90
INTERVAL_METHOD = "placebo_standardised_t"


@dataclass(frozen=True)
class SyntheticControl:
    fit: Fit
    placebo_ratios: list[float]  # post/pre RMSPE ratio of each donor's placebo fit, in donor order
    placebo_p_value: float
    effect_pct_lower: float
    effect_pct_upper: float


def synthetic_control(donor_values: np.ndarray, y: np.ndarray, pre_count: int) -> SyntheticControl:
    """Fit the treated series `y` from the donors' (columns of `donor_values`; rows are the pre then
    the post periods), then each donor from the others; the p-value and interval of the module docstring."""
    # One BLAS thread: on matrices this small, OpenBLAS threads only contend (5 times slower on 2 busy cores).
    with threadpool_limits(limits=1, user_api="blas"):
        fit = _fit(donor_values, y, pre_count)
        placebos = [
            _fit(np.delete(donor_values, j, axis=1), donor_values[:, j], pre_count)
            for j in range(donor_values.shape[1])
        ]
    ratios = [p.ratio for p in placebos]
    half_width = _interval_half_width(fit, placebos)
    return SyntheticControl(
        fit=fit,
        placebo_ratios=ratios,
        placebo_p_value=(1 + sum(r >= fit.ratio for r in ratios)) / (len(ratios) + 1),
        effect_pct_lower=fit.effect_pct - half_width,
        effect_pct_upper=fit.effect_pct + half_width,
    )


@dataclass(frozen=True)
class Fit:
    weights: np.ndarray
    synthetic: np.ndarray
    gaps: np.ndarray
    pre_rmspe: float
    pre_rmspe_pct: float
    ratio: float
    effect_pct: float


def _fit(donor_values: np.ndarray, y: np.ndarray, pre_count: int) -> Fit:
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
    return Fit(
        weights=weights,
        synthetic=synthetic,
        gaps=gaps,
        pre_rmspe=pre_rmspe,
        pre_rmspe_pct=pre_rmspe / treated_scale * 100,
        ratio=post_rmspe / pre_rmspe if pre_rmspe > 0 else math.inf,
        effect_pct=float(gaps[pre_count:].mean() / synthetic[pre_count:].mean() * 100),
    )


def _interval_half_width(fit: Fit, placebos: list[Fit]) -> float:
    """Half-width (in %) of the placebo-standardised t interval of the module docstring."""
    standardised = np.array([p.effect_pct / p.pre_rmspe_pct for p in placebos if p.pre_rmspe_pct > 0])
    n = len(standardised)
    t = stats.t.ppf(0.5 + INTERVAL_LEVEL / 2, n - 1)
    return float(t * np.sqrt(np.mean(standardised**2)) * np.sqrt(1 + 1 / n) * fit.pre_rmspe_pct)
