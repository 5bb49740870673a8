"""The publish gate's suite on fct_practice_impact holds the honesty rules: a grade with its reason,
no number for an insufficient estimate, an interval for every effect, the effect inside it."""

from __future__ import annotations

import pandas as pd
import pytest

from citypeers.validation import validate_frame


def _impact_rows(**changes) -> pd.DataFrame:
    rows = pd.DataFrame({
        "practice_id": ["a", "b"], "indicator_code": ["no2", "waste"],
        "evidence_grade": ["moderate", "insufficient"],
        "grade_reason": ["moderate: fit within 6%", "insufficient: 1 pre-period point (rule: at least 12)"],
        "effect_pct": [-14.6, None], "effect_pct_lower": [-18.5, None], "effect_pct_upper": [-10.7, None],
        "placebo_p_value": [0.14, None], "pre_rmspe": [2.1, None],
    })
    for column, values in changes.items():
        rows[column] = values
    return rows


def _failed(frame: pd.DataFrame) -> set[tuple[str, str | None]]:
    outcome = validate_frame(frame, "marts__fct_practice_impact", run_label="test")
    return {(failure.expectation, failure.column) for failure in outcome.contract_failures}


def test_well_formed_estimates_pass():
    assert _failed(_impact_rows()) == set()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"effect_pct": [-14.6, -3.0]}, ("expect_column_values_to_be_null", "effect_pct")),
        ({"effect_pct_lower": [None, None]}, ("expect_column_values_to_not_be_null", "effect_pct_lower")),
        ({"effect_pct": [-20.0, None]}, ("expect_column_pair_values_a_to_be_greater_than_b", None)),
        ({"grade_reason": ["moderate: fit within 6%", None]}, ("expect_column_values_to_not_be_null", "grade_reason")),
        ({"evidence_grade": ["convincing", "insufficient"]}, ("expect_column_values_to_be_in_set", "evidence_grade")),
    ],
    ids=["number_without_evidence", "effect_without_interval", "effect_outside_interval", "grade_without_reason",
         "unknown_grade"],
)
def test_a_broken_honesty_rule_stops_the_publish(changes, expected):
    failed = _failed(_impact_rows(**changes))
    expectation, column = expected
    assert any(name == expectation and column in (None, failed_column) for name, failed_column in failed), failed
