"""Impact estimates of practices: a synthetic control per practice and indicator, with its
uncertainty and an evidence grade from written rules. Pure Python (pysyncon for the fit); the dbt
Python model behind `fct_practice_impact` calls `estimate`."""

from citypeers.impact.estimator import ImpactEstimate, estimate
from citypeers.impact.grades import evidence_grade

__all__ = ["ImpactEstimate", "estimate", "evidence_grade"]
