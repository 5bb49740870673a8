"""Impact estimates of every practice on every indicator it targets: a synthetic control of the
practice's city, built from its eligible donors (int_practice_donor_pools), by
`citypeers.impact.estimate` (pysyncon underneath; docs/architecture.md "Practice impact estimates").

A dbt Python model, so that the estimates stay in dbt's lineage, tests and docs. It returns one
long table; the practice marts split it by `row_kind`:
- `estimate`: one row per practice and indicator (effect, interval, fit, placebo p, grade);
- `series`: the city's series against its synthetic counterfactual, period by period;
- `donor`: every candidate donor with its weight and its placebo ratio (or why it was left out).

Air-quality indicators are fitted on the monthly series (fct_city_indicator_monthly); every other
indicator on its annual values (fct_city_benchmark), which mostly gives the grade "insufficient":
a few annual points cannot separate an effect from noise, and the grade says so.
"""

from __future__ import annotations

import pandas as pd

ESTIMATE_COLUMNS = {
    "practice_id": "string", "indicator_code": "string", "row_kind": "string", "city_id": "string",
    "grain": "string", "start_date": "datetime64[us]", "pre_points": "Int64", "post_points": "Int64",
    "candidate_donor_count": "Int64", "donor_count": "Int64", "effect": "float64", "effect_pct": "float64",
    "effect_lower": "float64", "effect_upper": "float64", "effect_pct_lower": "float64",
    "effect_pct_upper": "float64", "interval_method": "string", "interval_level": "float64",
    "pre_rmspe": "float64", "pre_rmspe_pct": "float64", "post_pre_rmspe_ratio": "float64",
    "placebo_p_value": "float64", "placebo_count": "Int64", "evidence_grade": "string",
    "grade_reason": "string", "effect_pct_by_post_year": "string",
    "period_start": "datetime64[us]", "actual_value": "float64", "synthetic_value": "float64",
    "is_post": "boolean", "donor_city_id": "string", "donor_weight": "float64", "placebo_ratio": "float64",
    "is_eligible": "boolean", "exclusion_reason": "string", "left_out_reason": "string",
}  # fmt: skip


def _panels(dbt) -> dict[str, pd.DataFrame]:
    """city_id, indicator_code, period_start, value, is_valid: monthly air series and annual values."""
    monthly = dbt.ref("fct_city_indicator_monthly").df()
    monthly = pd.DataFrame({
        "city_id": monthly["city_id"], "indicator_code": monthly["indicator_code"],
        "period_start": pd.to_datetime(monthly["month_start"]).dt.date, "value": monthly["value"],
        "is_valid": monthly["quality_flag"] == "ok",
    })
    annual = dbt.ref("fct_city_benchmark").df()
    annual = pd.DataFrame({
        "city_id": annual["city_id"], "indicator_code": annual["indicator_code"],
        "period_start": pd.to_datetime(annual["year"].astype(str) + "-01-01").dt.date,
        "value": annual["value"], "is_valid": annual["is_valid"].fillna(False).astype(bool),
    })
    return {"month": monthly, "year": annual}


def _donor_weight(estimate, donor) -> float | None:
    """The donor's weight in the fit: 0 for a donor used with (almost) no weight; None when no fit
    was made (insufficient) or the donor was not in it (not eligible, or left out for its data)."""
    used = donor.is_eligible and donor.donor_city_id not in estimate.dropped_donors
    if estimate.effect is None or not used:
        return None
    return estimate.donor_weights.get(donor.donor_city_id, 0.0)


def _estimate_rows(target, estimate, donor_pool: pd.DataFrame) -> list[dict]:
    by_year = "; ".join(f"{year}: {pct:+.1f}%" for year, pct in sorted(estimate.effect_pct_by_post_year.items()))
    rows = [{
        "row_kind": "estimate", "grain": estimate.grain, "pre_points": estimate.pre_points,
        "post_points": estimate.post_points, "candidate_donor_count": estimate.candidate_donor_count,
        "donor_count": estimate.donor_count, "effect": estimate.effect, "effect_pct": estimate.effect_pct,
        "effect_lower": estimate.effect_lower, "effect_upper": estimate.effect_upper,
        "effect_pct_lower": estimate.effect_pct_lower, "effect_pct_upper": estimate.effect_pct_upper,
        "interval_method": estimate.interval_method, "interval_level": estimate.interval_level,
        "pre_rmspe": estimate.pre_rmspe, "pre_rmspe_pct": estimate.pre_rmspe_pct,
        "post_pre_rmspe_ratio": estimate.post_pre_rmspe_ratio, "placebo_p_value": estimate.placebo_p_value,
        "placebo_count": estimate.placebo_count, "evidence_grade": estimate.evidence_grade,
        "grade_reason": estimate.grade_reason, "effect_pct_by_post_year": by_year or None,
    }]
    for series_row in estimate.series.itertuples(index=False):
        rows.append({
            "row_kind": "series", "period_start": series_row.period_start, "actual_value": series_row.actual,
            "synthetic_value": series_row.synthetic, "is_post": bool(series_row.is_post),
        })
    for donor in donor_pool.itertuples(index=False):
        rows.append({
            "row_kind": "donor", "donor_city_id": donor.donor_city_id,
            "donor_weight": _donor_weight(estimate, donor),
            "placebo_ratio": estimate.placebo_ratios.get(donor.donor_city_id),
            "is_eligible": bool(donor.is_eligible), "exclusion_reason": donor.exclusion_reason,
            "left_out_reason": estimate.dropped_donors.get(donor.donor_city_id),
        })
    common = {"practice_id": target.practice_id, "indicator_code": target.indicator_code,
              "city_id": target.city_id, "start_date": pd.Timestamp(target.start_date)}
    return [common | row for row in rows]


def model(dbt, session):
    dbt.config(materialized="table")
    from citypeers.impact import estimate

    # One target per practice and indicator (a practice listed by two feeds: the greatest feed id).
    targets = (
        dbt.ref("stg_practices__practice_indicators").df()
        .sort_values("feed_id")
        .drop_duplicates(["practice_id", "indicator_code"], keep="last")
    )
    pools = dbt.ref("int_practice_donor_pools").df()
    panels = _panels(dbt)

    rows: list[dict] = []
    for target in targets.sort_values(["practice_id", "indicator_code"]).itertuples(index=False):
        monthly = panels["month"][panels["month"]["indicator_code"] == target.indicator_code]
        grain = "month" if (monthly["city_id"] == target.city_id).any() else "year"
        panel = panels[grain][panels[grain]["indicator_code"] == target.indicator_code]
        donor_pool = pools[(pools["practice_id"] == target.practice_id)
                           & (pools["indicator_code"] == target.indicator_code)].sort_values("donor_city_id")
        result = estimate(
            panel[["city_id", "period_start", "value", "is_valid"]],
            target.city_id,
            pd.Timestamp(target.start_date).date(),
            list(donor_pool.loc[donor_pool["is_eligible"], "donor_city_id"]),
            grain=grain,
            end=None if pd.isna(target.end_date) else pd.Timestamp(target.end_date).date(),
        )
        rows.extend(_estimate_rows(target, result, donor_pool))

    frame = pd.DataFrame(rows, columns=list(ESTIMATE_COLUMNS))
    return frame.astype(ESTIMATE_COLUMNS)
