"""Demo SDMX-CSV files: water indicators as SDMX-CSV 2.0, noise indicators as SDMX-CSV 1.0.

- `root/sdmx_csv/water.csv`: SDMX-CSV 2.0 shaped like the real OECD export (label columns
  interleaved with the code columns, CRLF line ends): MEASURE `WATER_CONS` (unit code
  `L_PER_CAP_DAY`), `NRW` (`PT_SUPPLY`), `WW_TREATED` (`PT_POP`); the feed maps the unit codes to
  pint units under `options.units`. The last city's first-year NRW figure is sent empty with
  OBS_STATUS `M` (missing), as agencies do, so the demo shows a quarantined row.
- `root/sdmx_csv/noise.csv`: SDMX-CSV 1.0 in the `labels=both` form (`ID: Name` headers,
  `code: label` cells): INDICATOR `LDEN55` and `LNIGHT50`, the share of residents exposed.

REF_AREA is the city id upper-cased. The figures are the project's own plausible assumptions,
not measurements: a level by region or income group, a city factor from a hash of the seed and
the city, and a mild yearly trend (less water use and loss, more treatment, slowly less noise).
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
from pathlib import Path

WATER_L_PER_DAY = {
    "Southern Europe": 140, "Western Europe": 125, "Eastern Europe": 150, "Eastern Asia": 230,
    "South-eastern Asia": 200, "Southern Asia": 135,
}
NON_REVENUE_SHARE = {"high": 12.0, "upper_middle": 25.0, "lower_middle": 38.0}
TREATED_SHARE = {"high": 97.0, "upper_middle": 78.0, "lower_middle": 45.0}
LDEN55_SHARE = {
    "Southern Europe": 35, "Western Europe": 30, "Eastern Europe": 33, "Eastern Asia": 40,
    "South-eastern Asia": 48, "Southern Asia": 55,
}
WATER_STRUCTURE = "CITYPEERS:DF_CITY_WATER(1.0)"
NOISE_DATAFLOW = "CITYPEERS:DF_CITY_NOISE(1.0)"


def _unit(*keys: object) -> float:
    """A uniform number in [0, 1) from the keys (stable across runs and Python versions)."""
    digest = hashlib.sha256("|".join(map(str, keys)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _factor(seed: int, city_id: str, what: str, spread: float) -> float:
    return 1 + spread * (2 * _unit(seed, city_id, what) - 1)


def water_figures(city: dict[str, str], year: int, first_year: int, seed: int) -> dict[str, float]:
    """MEASURE code → the demo figure for a city and year."""
    city_id, years_on = city["city_id"], year - first_year
    noise = _unit(seed, city_id, year, "water_year") - 0.5
    litres = WATER_L_PER_DAY.get(city["region"], 150) * _factor(seed, city_id, "water", 0.15) * 0.99 ** years_on
    lost = NON_REVENUE_SHARE.get(city["income_group"], 25) * _factor(seed, city_id, "nrw", 0.25) - 0.4 * years_on
    treated = TREATED_SHARE.get(city["income_group"], 70) * _factor(seed, city_id, "treated", 0.06) + 0.8 * years_on
    return {
        "WATER_CONS": round(litres + 2 * noise, 1),
        "NRW": round(max(3.0, lost + noise), 1),
        "WW_TREATED": round(min(100.0, treated + noise), 1),
    }


def noise_figures(city: dict[str, str], year: int, first_year: int, seed: int) -> dict[str, float]:
    """INDICATOR code → the demo figure for a city and year."""
    city_id, years_on = city["city_id"], year - first_year
    income = {"high": 0.95, "upper_middle": 1.05, "lower_middle": 1.1}.get(city["income_group"], 1.0)
    lden = LDEN55_SHARE.get(city["region"], 40) * income * _factor(seed, city_id, "lden", 0.2) - 0.3 * years_on
    lnight = lden * 0.65 * _factor(seed, city_id, "lnight", 0.1)
    return {"LDEN55": round(min(95.0, lden), 1), "LNIGHT50": round(min(90.0, lnight), 1)}


WATER_MEASURES = {
    "WATER_CONS": ("Water consumption per resident", "L_PER_CAP_DAY", "Litres per resident per day"),
    "NRW": ("Non-revenue water", "PT_SUPPLY", "Percentage of water supplied"),
    "WW_TREATED": ("Wastewater safely treated", "PT_POP", "Percentage of population"),
}
NOISE_INDICATORS = {
    "LDEN55": "Residents exposed to road noise Lden >= 55 dB",
    "LNIGHT50": "Residents exposed to road noise Lnight >= 50 dB",
}


def _csv_text(rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def write(root: Path, cities: list[dict[str, str]], years: tuple[int, ...], seed: int) -> dict[str, int]:
    """The water (SDMX-CSV 2.0) and noise (SDMX-CSV 1.0) files below `root/sdmx_csv/`."""
    target = root / "sdmx_csv"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    years = tuple(sorted(years))
    water = [["STRUCTURE", "STRUCTURE_ID", "STRUCTURE_NAME", "ACTION", "REF_AREA", "Reference area", "FREQ",
              "Frequency of observation", "MEASURE", "Measure", "UNIT_MEASURE", "Unit of measure", "TIME_PERIOD",
              "Time period", "OBS_VALUE", "OBS_STATUS", "Observation status"]]
    noise = [["DATAFLOW", "REF_AREA: Reference area", "FREQ: Frequency of observation", "INDICATOR: Indicator",
              "TIME_PERIOD: Time period", "OBS_VALUE: Observation value", "OBS_STATUS: Observation status"]]
    for city in cities:
        code, name = city["city_id"].upper(), city["city_name"]
        for year in years:
            for measure, value in water_figures(city, year, years[0], seed).items():
                label, unit, unit_label = WATER_MEASURES[measure]
                missing = measure == "NRW" and city is cities[-1] and year == years[0]
                water.append(["dataflow", WATER_STRUCTURE, "City water and wastewater (citypeers demo)", "I",
                              code, name, "A", "Annual", measure, label, unit, unit_label, year, "",
                              "" if missing else value, "M" if missing else "A",
                              "Missing value" if missing else "Normal value"])
            for indicator, value in noise_figures(city, year, years[0], seed).items():
                noise.append([NOISE_DATAFLOW, f"{code}: {name}", "A: Annual",
                              f"{indicator}: {NOISE_INDICATORS[indicator]}", year, value, "A: Normal value"])
    (target / "water.csv").write_bytes(_csv_text(water).encode("utf-8"))
    (target / "noise.csv").write_bytes(_csv_text(noise).encode("utf-8"))
    return {"sdmx_water_rows": len(water) - 1, "sdmx_noise_rows": len(noise) - 1}
