"""The practices the demo plants, with their known effects: the ground truth that the impact
estimates (`fct_practice_impact`) must recover.

The demo generator multiplies the hourly readings of `pollutant` in `city_id` by
`1 + planted_effect` from `start_date` (local day) on; the demo practices feed lists the same
practices, marked as demo entries. A `planted_effect` of 0 is a practice with no effect at all
(the null case the evidence grades must not call moderate or strong). Practices without a
pollutant target an annual indicator and change nothing in the data: they show how annual-only
series are graded.

The titles say "(demo)": these are not claims about what the real cities did.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlantedPractice:
    practice_id: str
    city_id: str
    title: str
    domain: str
    category: str
    indicator_codes: tuple[str, ...]
    start_date: str
    scope: str
    description: str
    pollutant: str | None = None
    planted_effect: float = 0.0


DEMO_PRACTICES: tuple[PlantedPractice, ...] = (
    PlantedPractice(
        practice_id="demo-bcn-lez-2025",
        city_id="barcelona",
        title="Low-emission zone extended citywide (demo)",
        domain="air_quality",
        category="low_emission_zone",
        indicator_codes=("no2_annual_mean",),
        start_date="2025-01-01",
        scope="citywide",
        description="Demo entry: the demo data cut NO2 by 15% from the start date on.",
        pollutant="no2",
        planted_effect=-0.15,
    ),
    PlantedPractice(
        practice_id="demo-waw-heating-2025",
        city_id="warsaw",
        title="Coal boiler replacement programme (demo)",
        domain="air_quality",
        category="clean_heating_programme",
        indicator_codes=("pm25_annual_mean",),
        start_date="2025-01-01",
        scope="citywide",
        description="Demo entry: the demo data cut PM2.5 by 8% from the start date on.",
        pollutant="pm25",
        planted_effect=-0.08,
    ),
    PlantedPractice(
        practice_id="demo-tpe-parking-2025",
        city_id="taipei",
        title="On-street parking pricing in the centre (demo)",
        domain="mobility",
        category="parking_pricing",
        indicator_codes=("no2_annual_mean",),
        start_date="2025-01-01",
        scope="zone",
        description="Demo entry with no effect at all: the demo data are left unchanged.",
        pollutant="no2",
        planted_effect=0.0,
    ),
    PlantedPractice(
        practice_id="demo-vlc-payt-2024",
        city_id="valencia",
        title="Pay-as-you-throw waste fees (demo)",
        domain="waste",
        category="pay_as_you_throw",
        indicator_codes=("msw_recycled_share",),
        start_date="2024-01-01",
        scope="pilot",
        description="Demo entry on an annual-only indicator: too few points for an estimate.",
    ),
)


def planted_air_effects() -> list[tuple[str, str, str, float]]:
    """(city_id, pollutant, start_date, planted_effect) of every demo practice that changes air data."""
    return [
        (p.city_id, p.pollutant, p.start_date, p.planted_effect)
        for p in DEMO_PRACTICES
        if p.pollutant and p.planted_effect
    ]
