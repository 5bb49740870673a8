"""Harmonise units, in one place, with pint: air concentrations to µg/m³, and every other
indicator to the canonical unit its row of the catalogue (dbt seed `indicators.csv`) names.

Feeds write units in many spellings ("µg/m3", "ug/m3", "µg/m³", "mg/m3", "ppb", "ppm"). Mass
concentrations convert by their prefix alone. Mixing ratios (ppb, ppm) of a gas convert through
its molar mass and the molar volume at a reference temperature and pressure: we use the EU air
quality Directive's convention for gases (20 °C, 101.325 kPa), so 1 ppb NO₂ = 1.9125 µg/m³.
Particulate matter has no molar mass, so a mixing ratio for PM is refused, not guessed.

A unit that cannot be converted raises `UnknownUnitError`; its message is the quarantine reason.
Parsers do not call `conversion_factor` per row: they ask `factor_table_sql` for a small VALUES
table of the distinct (source_unit, pollutant) pairs they saw and join it in DuckDB.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from functools import lru_cache

import pint

from citypeers import paths
from citypeers.errors import CitypeersError

CANONICAL_UNIT = "µg/m³"
POLLUTANTS = ("pm25", "pm10", "no2")
PARTICULATE_POLLUTANTS = frozenset({"pm25", "pm10"})

# Reference conditions for converting gas mixing ratios (EU Directive 2008/50/EC and its 2024
# recast: gases "standardised at a temperature of 293 K and an atmospheric pressure of 101.3 kPa").
REFERENCE_TEMPERATURE_C = 20.0
REFERENCE_TEMPERATURE_K = 293.15
REFERENCE_PRESSURE_KPA = 101.325
REFERENCE_CONDITIONS = "20 °C (293.15 K), 101.325 kPa — EU air quality Directive convention for gases"

# g/mol; NO₂ is the only gas the platform benchmarks today, the others are ready for feeds that add them.
MOLAR_MASS_G_PER_MOL = {"no2": 46.0055, "o3": 47.9982, "so2": 64.064, "co": 28.010}

_MIXING_RATIO = re.compile(r"^pp([mbt])v?$")
_BARE_POWER = re.compile(r"(?<=[a-z])([23])\b")
# The EEA unit vocabulary's notation (dd.eionet.europa.eu/vocabulary/uom/concentration), used by
# the Air Quality Download Service's Parquet files: 'ug.m-3' is µg per m³.
_EEA_PER_CUBIC_METRE = re.compile(r"^([a-zµ]*g)\.m-3$")


class UnknownUnitError(CitypeersError, ValueError):
    """A source unit that cannot be turned into µg/m³ for this pollutant; str() is the reason."""

    def __init__(self, unit: str | None, pollutant: str | None, why: str = ""):
        self.unit = unit
        self.pollutant = pollutant
        reason = (
            f"unknown unit {unit!r} for {pollutant}" if unit and unit.strip() else f"no unit for {pollutant}"
        )
        super().__init__(f"{reason}: {why}" if why else reason)


@lru_cache(maxsize=1)
def _registry() -> pint.UnitRegistry:
    registry = pint.UnitRegistry()
    registry.define("ppb = 1e-9 = parts_per_billion")
    registry.define("ppt = 1e-12 = parts_per_trillion")
    # Counted things, so that per-resident and per-area figures are checked by dimension too.
    registry.define("resident = [population] = residents")
    registry.define("thousand_residents = 1000 * resident")
    registry.define("departure = [scheduled_departure] = departures")
    registry.define("transit_stop = [transit_stop] = transit_stops")
    registry.define("bike = [shared_vehicle] = bikes")
    registry.define("intl_dollar = [ppp_currency] = international_dollar")
    registry.define("ratio = []")
    return registry


def normalise_unit(unit: str) -> str:
    """Feed spelling → pint spelling: 'ug/m3' → 'ug/m^3', 'μg/m³' (Greek mu) → 'µg/m³', 'PPB' → 'ppb',
    EEA's 'ug.m-3' → 'ug/m^3'."""
    text = unit.strip().replace("μ", "µ").replace("³", "^3").replace("²", "^2")
    text = _EEA_PER_CUBIC_METRE.sub(r"\1/m^3", text)
    if _MIXING_RATIO.match(text.lower()):
        return text.lower().rstrip("v")
    return _BARE_POWER.sub(r"^\1", text)


@lru_cache(maxsize=256)
def conversion_factor(source_unit: str | None, pollutant: str | None) -> float:
    """Multiply a value in `source_unit` by this to get µg/m³; raises UnknownUnitError."""
    if not source_unit or not source_unit.strip():
        raise UnknownUnitError(source_unit, pollutant, "the feed sent none")
    registry = _registry()
    spelled = normalise_unit(source_unit)
    try:
        quantity = registry.Quantity(1.0, spelled)
    except Exception as exc:  # pint raises assorted tokenizer and definition errors on odd strings
        raise UnknownUnitError(source_unit, pollutant, "not a unit pint knows") from exc
    canonical = registry.Quantity(1.0, "µg/m^3")
    if quantity.dimensionality == canonical.dimensionality:
        return _tidy(quantity.to(canonical.units).magnitude)
    if quantity.dimensionless and _MIXING_RATIO.match(spelled):
        return _mixing_ratio_factor(quantity, source_unit, pollutant)
    raise UnknownUnitError(
        source_unit, pollutant, f"not a concentration (dimension {quantity.dimensionality})"
    )


def _mixing_ratio_factor(quantity: pint.Quantity, source_unit: str, pollutant: str | None) -> float:
    if pollutant in PARTICULATE_POLLUTANTS:
        raise UnknownUnitError(
            source_unit, pollutant, "particulate matter has no molar mass; ppb/ppm cannot apply"
        )
    if pollutant not in MOLAR_MASS_G_PER_MOL:
        raise UnknownUnitError(source_unit, pollutant, "no molar mass known for this pollutant")
    registry = _registry()
    molar_mass = registry.Quantity(MOLAR_MASS_G_PER_MOL[pollutant], "g/mol")
    molar_density = registry.Quantity(REFERENCE_PRESSURE_KPA, "kPa") / (
        registry.molar_gas_constant * registry.Quantity(REFERENCE_TEMPERATURE_K, "K")
    )
    return _tidy((quantity * molar_density * molar_mass).to("µg/m^3").magnitude)


def _tidy(factor: float) -> float:
    """Drop float noise from unit arithmetic (1e3 rather than 1000.0000000000001)."""
    return float(f"{factor:.12g}")


def factor_rows(
    pairs: Iterable[tuple[str | None, str | None]],
) -> list[tuple[str | None, str | None, float | None, str | None]]:
    """(source_unit, pollutant, factor, unit_error) per distinct pair; either factor or unit_error is set."""
    rows = []
    for source_unit, pollutant in sorted(set(pairs), key=lambda pair: (str(pair[0]), str(pair[1]))):
        try:
            rows.append((source_unit, pollutant, conversion_factor(source_unit, pollutant), None))
        except UnknownUnitError as exc:
            rows.append((source_unit, pollutant, None, str(exc)))
    return rows


def _literal(value: str | float | None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def factor_table_sql(pairs: Iterable[tuple[str | None, str | None]]) -> str:
    """A DuckDB subquery `(VALUES ...) AS unit_factors(source_unit, pollutant, factor, unit_error)`.

    Join it on source_unit and pollutant (`IS NOT DISTINCT FROM`, so a missing unit finds its error).
    Inlined as literals, so a relation built on it stays valid however long the caller keeps it.
    """
    rows = factor_rows(pairs) or [(None, None, None, None)]
    values = ", ".join(
        f"({_literal(u)}::VARCHAR, {_literal(p)}::VARCHAR, {_literal(f)}::DOUBLE, {_literal(e)}::VARCHAR)"
        for u, p, f, e in rows
    )
    return f"(VALUES {values}) AS unit_factors(source_unit, pollutant, factor, unit_error)"


# --- Indicators other than air concentrations -------------------------------------------------

# How a parsed indicator value relates to its indicator's canonical unit (parsed column `basis`).
RATE = "rate"    # already in the canonical unit
TOTAL = "total"  # a city total: divided by the city's population (residents) or area (km²) of the
#                  year, it gives the canonical unit (the catalogue's `normalised_by` says which)
DENOMINATOR_UNITS = {"population": "resident", "area": "km ** 2"}


class IndicatorUnitError(CitypeersError, ValueError):
    """A source unit that fits neither the indicator's canonical unit nor its city-total form."""


@lru_cache(maxsize=1)
def indicator_catalogue() -> dict[str, dict[str, str]]:
    """The catalogue seed by indicator code (read once per process)."""
    seed = paths.dbt_project_dir() / "seeds" / "indicators.csv"
    with seed.open(newline="", encoding="utf-8") as handle:
        return {row["indicator_code"]: row for row in csv.DictReader(handle)}


# Years a figure may describe when the catalogue's min_year / max_year cells are empty: wide
# enough for historical series (national water and air tables go back to the 1970s).
DEFAULT_MIN_YEAR = 1950
DEFAULT_MAX_YEAR = 2100


def catalogue_table_sql() -> str:
    """The numeric indicators of the catalogue as an inline DuckDB table `catalogue(indicator_code,
    canonical_unit, normalised_by, plausible_min, plausible_max, min_year, max_year)`: what the
    ingest gate checks a parsed indicator row against."""

    def number(text: str | None) -> str:
        return repr(float(text)) if text not in (None, "") else "NULL"

    rows = [
        f"({_literal(code)}, {_literal(row['canonical_unit'])}, {_literal(row.get('normalised_by') or None)}, "
        f"{number(row.get('plausible_min'))}::DOUBLE, {number(row.get('plausible_max'))}::DOUBLE, "
        f"{int(row.get('min_year') or DEFAULT_MIN_YEAR)}, {int(row.get('max_year') or DEFAULT_MAX_YEAR)})"
        for code, row in sorted(indicator_catalogue().items())
        if row["canonical_unit"] != "category"
    ]
    return (
        f"(VALUES {', '.join(rows)}) AS catalogue(indicator_code, canonical_unit, normalised_by, "
        "plausible_min, plausible_max, min_year, max_year)"
    )


@lru_cache(maxsize=1024)
def indicator_factor(indicator_code: str | None, source_unit: str | None) -> tuple[float, str]:
    """(factor, basis) turning a value of `indicator_code` given in `source_unit` into the canonical
    unit (basis `rate`) or into the city total whose division by population or area gives it
    (basis `total`). Raises IndicatorUnitError with a reason fit for the quarantine."""
    indicator = indicator_catalogue().get(indicator_code or "")
    if indicator is None:
        raise IndicatorUnitError(
            f"unknown indicator {indicator_code!r}: not in the catalogue dbt_project/seeds/indicators.csv"
        )
    canonical = indicator["canonical_unit"]
    if canonical == "category":
        raise IndicatorUnitError(
            f"indicator {indicator_code} is a category kept in the city registry (cities.csv), not a number"
        )
    if indicator.get("pollutant"):
        return conversion_factor(source_unit, indicator["pollutant"]), RATE
    if not source_unit or not source_unit.strip():
        raise IndicatorUnitError(f"no unit for {indicator_code} (expected {canonical})")
    registry = _registry()
    try:
        quantity = registry.Quantity(1.0, normalise_unit(source_unit))
    except Exception as exc:  # pint raises assorted tokenizer and definition errors on odd strings
        raise IndicatorUnitError(f"unknown unit {source_unit!r} for {indicator_code}: not a unit pint knows") from exc
    target = registry.Quantity(1.0, canonical)
    if quantity.dimensionality == target.dimensionality:
        return _tidy(quantity.to(target.units).magnitude), RATE
    denominator = DENOMINATOR_UNITS.get(indicator.get("normalised_by") or "")
    if denominator:
        per_denominator = quantity / registry.Quantity(1.0, denominator)
        if per_denominator.dimensionality == target.dimensionality:
            return _tidy(per_denominator.to(target.units).magnitude), TOTAL
    accepted = f"{canonical}" + (f", or a city total in {canonical} × {denominator}" if denominator else "")
    raise IndicatorUnitError(
        f"unit {source_unit!r} does not fit indicator {indicator_code} (dimension {quantity.dimensionality}); "
        f"expected {accepted}"
    )


def indicator_factor_table_sql(pairs: Iterable[tuple[str | None, str | None]]) -> str:
    """A DuckDB subquery `(VALUES ...) AS indicator_factors(indicator_code, source_unit, factor, basis,
    unit, unit_error)` for the distinct (indicator_code, source_unit) pairs a parser saw."""
    rows = []
    for code, source_unit in sorted(set(pairs), key=lambda pair: (str(pair[0]), str(pair[1]))):
        unit = indicator_catalogue().get(code or "", {}).get("canonical_unit")
        try:
            factor, basis = indicator_factor(code, source_unit)
            rows.append((code, source_unit, factor, basis, unit, None))
        except (IndicatorUnitError, UnknownUnitError) as exc:
            rows.append((code, source_unit, None, None, unit, str(exc)))
    rows = rows or [(None, None, None, None, None, None)]
    values = ", ".join(
        f"({_literal(c)}::VARCHAR, {_literal(u)}::VARCHAR, {_literal(f)}::DOUBLE, {_literal(b)}::VARCHAR, "
        f"{_literal(cu)}::VARCHAR, {_literal(e)}::VARCHAR)"
        for c, u, f, b, cu, e in rows
    )
    return f"(VALUES {values}) AS indicator_factors(indicator_code, source_unit, factor, basis, unit, unit_error)"
