"""Demo feed for the `wide_table` source: a What-a-Waste-like city waste table, one row per city
and year (`root/wide_table/waste_cities.csv`), read through the declarative mapping of the
`demo_waste` feed in feeds.yml.

What a Waste 2.0 itself has one row per city, each in its own reporting year; the demo table is
the same layout repeated for every demo year (as a network collecting it yearly would hold it),
so that trends and peers have a series. Every yearly interval reads the rows of its year.
Columns carry What a Waste's names: total MSW in tonnes a year, population (of the reporting
year), recycling and composting shares (% of MSW), and collection coverage (% of population).
Figures are the project's own, drawn from ranges that follow the city's income group; they are
demo figures, not statistics.

Planted quirks, each handled by the mapping, not by code:
- two cities carry their local names (`València`, `Hà Nội`) written double-encoded (UTF-8 read as
  Windows-1252 and saved again: `ValÃ¨ncia`), as in the real What a Waste file; the feed repairs
  them (`fix_double_encoded_text`) and maps them under `cities:`;
- one city leaves its collection coverage empty in the middle year: not reported, so missing
  (quarantined with the reason), not zero.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from citypeers.demo.indicator_template import city_rng, population

FILE_NAME = "waste_cities.csv"
HEADER = (
    "iso3c", "country_name", "income_id", "city_name", "year",
    "total_msw_total_msw_generated_tons_year", "population_population_number_of_people",
    "waste_treatment_recycling_percent", "waste_treatment_compost_percent",
    "waste_collection_coverage_total_percent_of_population_percent_of_population",
)
INCOME_IDS = {"high": "HIC", "upper_middle": "UMC", "lower_middle": "LMC", "low": "LIC"}
LOCAL_NAMES = {"valencia": "València", "hanoi": "Hà Nội"}
# income group → (kg per resident per day, recycling %, compost %, collection coverage %) ranges
LEVELS = {
    "high": ((1.1, 1.8), (22.0, 42.0), (5.0, 15.0), (98.0, 100.0)),
    "upper_middle": ((0.8, 1.4), (8.0, 24.0), (2.0, 8.0), (85.0, 99.0)),
    "lower_middle": ((0.45, 0.9), (3.0, 12.0), (0.0, 5.0), (55.0, 90.0)),
}
DAYS_PER_YEAR = 365.25


def double_encode(text: str) -> str:
    """'València' → 'ValÃ¨ncia': UTF-8 bytes read as Windows-1252 (Latin-1 where it has a gap)."""
    out = []
    for byte in text.encode("utf-8"):
        try:
            out.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(byte))
    return "".join(out)


def _row(city: dict[str, str], year: int, seed: int, leaves_coverage_empty: bool) -> tuple:
    """The city's row for one year: its own base level (drawn once) with a small yearly drift."""
    rng = city_rng(seed, city["city_id"], "waste")
    drift = city_rng(seed, city["city_id"], f"waste:{year}")
    kg, recycling, compost, coverage = LEVELS.get(city["income_group"], LEVELS["upper_middle"])
    residents = population(city, year, seed)
    tonnes = round(rng.uniform(*kg) * drift.uniform(0.96, 1.04) * residents * DAYS_PER_YEAR / 1000)
    name = LOCAL_NAMES.get(city["city_id"], city["city_name"])
    return (
        city["country_iso3"], city["country_name"], INCOME_IDS.get(city["income_group"], ""),
        double_encode(name) if not name.isascii() else name, year, tonnes, residents,
        round(rng.uniform(*recycling) * drift.uniform(0.95, 1.1), 1),
        round(rng.uniform(*compost) * drift.uniform(0.95, 1.1), 1),
        "" if leaves_coverage_empty else round(min(100.0, rng.uniform(*coverage) * drift.uniform(0.99, 1.01)), 1),
    )


def write(root: Path, cities: list[dict[str, str]], years: tuple[int, ...], seed: int) -> dict[str, int]:
    """Write `root/wide_table/waste_cities.csv`; returns counts for the summary."""
    folder = Path(root) / "wide_table"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    ordered = sorted(cities, key=lambda city: city["city_id"])
    middle_year = sorted(years)[len(years) // 2]
    rows = [_row(city, year, seed, leaves_coverage_empty=index == len(ordered) // 2 and year == middle_year)
            for year in sorted(years) for index, city in enumerate(ordered)]
    with (folder / FILE_NAME).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return {"wide_table_rows": len(rows)}
