"""The impact estimator on the demo's planted practices: the known effects are recovered within
the reported interval, and the practice with no effect is rarely graded moderate or strong.

Data: `demo_city_month_means` (the demo generator's readings aggregated in memory like the
monthly mart), for the cities and pollutants needed only. Donors: the other cities of the treated
city's region (cities.csv `region`), widened to its continent when the region has fewer than 5
other cities (Warsaw is alone in Eastern Europe). This approximates the pipeline's donor-pool rule
(similar cities and peer group without a practice of the same category); the demo plants no other
practice on these pollutants, so no donor needs excluding for that.
"""

from __future__ import annotations

import csv
from datetime import date

import pandas as pd
import pytest

from citypeers import paths
from citypeers.demo.generator import demo_city_month_means
from citypeers.demo.planted_practices import DEMO_PRACTICES
from citypeers.impact import ImpactEstimate, estimate

PLANTED = {p.practice_id: p for p in DEMO_PRACTICES if p.pollutant}
EFFECTS = ("demo-bcn-lez-2025", "demo-waw-heating-2025")
NULL = "demo-tpe-parking-2025"
NULL_SEEDS = range(37, 67)  # 30 seeds
MAX_NULL_RATE = 0.10
DETECTED = {"moderate", "strong"}


def _regions() -> dict[str, str]:
    with (paths.dbt_project_dir() / "seeds" / "cities.csv").open(encoding="utf-8") as handle:
        return {row["city_id"]: row["region"] for row in csv.DictReader(handle)}


REGIONS = _regions()


def _donors(city: str) -> list[str]:
    donors = [c for c, region in REGIONS.items() if region == REGIONS[city] and c != city]
    if len(donors) < 5:
        continent = REGIONS[city].split()[-1]
        donors = [c for c, region in REGIONS.items() if region.split()[-1] == continent and c != city]
    return donors


def _estimates(seed: int) -> dict[str, ImpactEstimate]:
    """One in-memory generation per pollutant, of the treated cities and their donors only."""
    practices = [PLANTED[p] for p in (*EFFECTS, NULL)]
    results = {}
    for pollutant in sorted({p.pollutant for p in practices}):
        targets = [p for p in practices if p.pollutant == pollutant]
        cities = sorted({c for p in targets for c in (p.city_id, *_donors(p.city_id))})
        panel = demo_city_month_means(seed=seed, cities=cities, pollutants=(pollutant,))
        for practice in targets:
            start = date.fromisoformat(practice.start_date)
            results[practice.practice_id] = estimate(
                panel, practice.city_id, start, _donors(practice.city_id), grain="month"
            )
    return results


@pytest.fixture(scope="module")
def runs() -> dict[int, dict[str, ImpactEstimate]]:
    return {seed: _estimates(seed) for seed in NULL_SEEDS}


@pytest.mark.parametrize("practice_id", EFFECTS)
def test_a_planted_effect_lies_within_its_interval_and_near_the_point_estimate_at_seed_37(runs, practice_id):
    result = runs[37][practice_id]
    planted = PLANTED[practice_id].planted_effect * 100
    summary = (
        f"{practice_id}: planted {planted:+.0f}%, estimated {result.effect_pct:+.1f}% "
        f"[{result.effect_pct_lower:+.1f}%, {result.effect_pct_upper:+.1f}%], {result.grade_reason}"
    )
    print(summary)
    assert result.pre_points == 24 and result.post_points == 12, summary
    assert result.effect_pct_lower <= planted <= result.effect_pct_upper, summary
    assert abs(result.effect_pct - planted) <= 3, summary


def test_the_null_practice_is_graded_moderate_or_strong_in_at_most_10_percent_of_seeds(runs):
    def rate(practice_id: str) -> float:
        return sum(run[practice_id].evidence_grade in DETECTED for run in runs.values()) / len(runs)

    grades = pd.DataFrame({p: [run[p].evidence_grade for run in runs.values()] for p in (*EFFECTS, NULL)})
    message = (
        f"over {len(runs)} seeds, moderate or strong: null {NULL} {rate(NULL):.0%} (rule: at most "
        f"{MAX_NULL_RATE:.0%}); planted effects detected: "
        + ", ".join(f"{p} {rate(p):.0%}" for p in EFFECTS)
        + f"\n{grades.apply(pd.Series.value_counts).fillna(0).astype(int)}"
    )
    print(message)
    assert rate(NULL) <= MAX_NULL_RATE, message
    coverage = {
        p: sum(
            run[p].effect_pct_lower <= PLANTED[p].planted_effect * 100 <= run[p].effect_pct_upper
            for run in runs.values()
        )
        / len(runs)
        for p in (*EFFECTS, NULL)
    }
    print("planted effect inside the 90% interval:", {p: f"{c:.0%}" for p, c in coverage.items()})
    assert all(c >= 0.75 for c in coverage.values()), coverage
