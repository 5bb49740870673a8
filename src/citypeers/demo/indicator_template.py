"""Demo feed in the citypeers indicator template (long CSV, one file per year): housing indicators
and yearly city context for every demo city, as a city statistics office would fill it in.

Figures are the project's own, drawn per city from ranges that follow the city's income group
(`cities.csv`), with a small drift from year to year; they are demo figures, not statistics.
Population grows mildly (0.2-1.5 % a year) from the registry's population in its
`population_year`; area stays the registry's; GDP per capita PPP grows 1-3 % a year.

One year (the middle demo year) carries planted problems so that the quarantine shows
something: a row with a unit nobody knows (`percent_of_income`) and a row for a city that is
not in the registry (`Atlantis`). Both are quarantined with their reason; the rest is published.
"""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

SOURCE_TEXT = "citypeers demo (generated figures, not official statistics)"
TEMPLATE_HEADER = ("city", "indicator_code", "period", "value", "unit", "source", "note")

# indicator → (unit, {income group: (low, high)}) of the city's base level
HOUSING = {
    "house_price_to_income_ratio": ("ratio", {"high": (6.0, 14.0), "upper_middle": (9.0, 20.0),
                                              "lower_middle": (12.0, 28.0)}),
    "rent_to_income_share": ("%", {"high": (24.0, 40.0), "upper_middle": (30.0, 50.0),
                                   "lower_middle": (35.0, 60.0)}),
    "housing_cost_overburden_share": ("%", {"high": (5.0, 15.0), "upper_middle": (10.0, 25.0),
                                            "lower_middle": (15.0, 35.0)}),
    "overcrowding_share": ("%", {"high": (4.0, 22.0), "upper_middle": (15.0, 35.0),
                                 "lower_middle": (25.0, 50.0)}),
}


def city_rng(seed: int, city_id: str, topic: str) -> random.Random:
    """A generator of its own per city and topic: adding a city or a year changes no other figure."""
    return random.Random(f"{seed}:{city_id}:{topic}")


def population(city: dict[str, str], year: int, seed: int) -> int:
    """Residents in `year`: the registry's population grown (or shrunk back) at the city's own rate."""
    growth = city_rng(seed, city["city_id"], "population_growth").uniform(0.002, 0.015)
    return round(int(city["population"]) * (1 + growth) ** (year - int(city["population_year"])))


def _gdp_per_capita(city: dict[str, str], year: int, seed: int) -> int:
    growth = city_rng(seed, city["city_id"], "gdp_growth").uniform(0.01, 0.03)
    return int(round(float(city["gdp_per_capita_ppp"]) * (1 + growth) ** (year - int(city["gdp_year"])), -2))


def _housing(city: dict[str, str], indicator: str, year: int, seed: int) -> float:
    low, high = HOUSING[indicator][1].get(city["income_group"], HOUSING[indicator][1]["upper_middle"])
    base = city_rng(seed, city["city_id"], indicator).uniform(low, high)
    drift = city_rng(seed, city["city_id"], f"{indicator}:{year}").uniform(-0.04, 0.05)
    return round(base * (1 + drift), 1)


def rows_for_year(cities: list[dict[str, str]], year: int, seed: int, *, planted: bool) -> list[tuple]:
    rows = []
    for city in cities:
        name = city["city_name"]
        for indicator, (unit, _) in HOUSING.items():
            rows.append((name, indicator, year, _housing(city, indicator, year, seed), unit, SOURCE_TEXT, ""))
        rows += [
            (name, "population", year, population(city, year, seed), "residents", SOURCE_TEXT, "1 January estimate"),
            (name, "area_km2", year, city["area_km2"], "km²", SOURCE_TEXT, ""),
            (name, "gdp_per_capita_ppp", year, _gdp_per_capita(city, year, seed), "intl_dollar/resident",
             SOURCE_TEXT, ""),
        ]
    if planted and rows:
        first = cities[0]["city_name"]
        rows[1] = (first, "rent_to_income_share", year, rows[1][3], "percent_of_income", SOURCE_TEXT,
                   "planted problem: a unit nobody knows")
        rows.append(("Atlantis", "overcrowding_share", year, 12.5, "%", SOURCE_TEXT,
                     "planted problem: a city not in the registry"))
    return rows


def write(root: Path, cities: list[dict[str, str]], years: tuple[int, ...], seed: int) -> dict[str, int]:
    """Write `root/indicator_template/<year>.csv` for every year; returns counts for the summary."""
    folder = Path(root) / "indicator_template"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    planted_year = sorted(years)[len(years) // 2]
    total = 0
    for year in sorted(years):
        rows = rows_for_year(cities, year, seed, planted=year == planted_year)
        with (folder / f"{year}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(TEMPLATE_HEADER)
            writer.writerows(rows)
        total += len(rows)
    return {"indicator_template_files": len(years), "indicator_template_rows": total}
