"""Unit harmonisation: every spelling feeds use, gases through molar mass at 20 °C, nothing guessed."""

from __future__ import annotations

import duckdb
import pytest

from citypeers import units


@pytest.mark.parametrize("spelling", ["µg/m³", "µg/m3", "ug/m3", "μg/m³", "ug/m^3", " µg/m3 ", "ug.m-3"])
def test_spellings_of_micrograms_per_cubic_metre_convert_with_factor_one(spelling):
    assert units.conversion_factor(spelling, "pm10") == 1.0


def test_milligrams_and_nanograms_per_cubic_metre_convert_by_their_prefix():
    assert units.conversion_factor("mg/m3", "pm25") == 1000.0
    assert units.conversion_factor("ng/m3", "pm25") == 0.001
    assert units.conversion_factor("mg.m-3", "pm25") == 1000.0  # the EEA vocabulary's notation


def test_no2_ppb_converts_at_20_celsius_and_101_325_kpa():
    expected = 46.0055 * 101_325 / (8.314462618 * 293.15) / 1000  # µg/m³ per ppb
    factor = units.conversion_factor("ppb", "no2")
    assert factor == pytest.approx(expected, rel=1e-6)
    assert factor == pytest.approx(1.9125, abs=1e-4)  # the 25 °C convention would give 1.88


def test_ppm_is_a_thousand_ppb_and_spelling_case_does_not_matter():
    assert units.conversion_factor("ppm", "no2") == pytest.approx(
        1000 * units.conversion_factor("PPB", "no2")
    )


def test_reference_conditions_are_recorded_as_constants():
    assert units.REFERENCE_TEMPERATURE_K == pytest.approx(273.15 + units.REFERENCE_TEMPERATURE_C)
    assert units.REFERENCE_TEMPERATURE_C == 20.0
    assert units.REFERENCE_PRESSURE_KPA == 101.325
    assert "20 °C" in units.REFERENCE_CONDITIONS


@pytest.mark.parametrize("pollutant", ["pm25", "pm10"])
def test_mixing_ratio_for_particulate_matter_is_refused(pollutant):
    with pytest.raises(units.UnknownUnitError, match="particulate matter has no molar mass"):
        units.conversion_factor("ppb", pollutant)


@pytest.mark.parametrize("unit", ["furlongs", "%", "c", "particles/cm³", "µg/m3 (hourly)", "", None])
def test_unknown_or_missing_unit_is_refused_with_a_reason(unit):
    with pytest.raises(units.UnknownUnitError) as raised:
        units.conversion_factor(unit, "no2")
    assert "no2" in str(raised.value)
    assert raised.value.unit == unit


def test_factor_table_joins_in_duckdb_with_errors_as_reasons():
    pairs = [("µg/m3", "pm10"), ("ppb", "no2"), ("ppb", "pm25"), ("it's", "no2"), (None, "pm10")]
    rows = duckdb.sql(
        f"SELECT source_unit, pollutant, factor, unit_error FROM {units.factor_table_sql(pairs)} ORDER BY ALL"
    ).fetchall()
    by_pair = {(unit, pollutant): (factor, error) for unit, pollutant, factor, error in rows}
    assert by_pair[("µg/m3", "pm10")] == (1.0, None)
    assert by_pair[("ppb", "no2")][0] == pytest.approx(1.9125, abs=1e-4)
    assert by_pair[("ppb", "pm25")][0] is None and "molar mass" in by_pair[("ppb", "pm25")][1]
    assert by_pair[("it's", "no2")][0] is None and "it's" in by_pair[("it's", "no2")][1]
    assert by_pair[(None, "pm10")] == (None, "no unit for pm10: the feed sent none")


# --- indicators other than air concentrations ---


@pytest.mark.parametrize(
    ("code", "unit", "factor", "basis"),
    [
        ("msw_kg_per_resident_day", "kg/resident/day", 1.0, units.RATE),
        ("msw_kg_per_resident_day", "t/year/resident", 1000 / 365.25, units.RATE),
        ("msw_kg_per_resident_day", "t/year", 1000 / 365.25, units.TOTAL),
        ("pt_departures_per_1000", "departures/week", 1000.0, units.TOTAL),
        ("pt_stops_per_km2", "transit_stop", 1.0, units.TOTAL),
        ("shared_bikes_per_1000", "bikes", 1000.0, units.TOTAL),
        ("water_l_per_resident_day", "m3/year", 1000 / 365.25, units.TOTAL),
        ("msw_recycled_share", "%", 1.0, units.RATE),
        ("msw_recycled_share", "ratio", 100.0, units.RATE),
        ("house_price_to_income_ratio", "ratio", 1.0, units.RATE),
        ("population", "residents", 1.0, units.RATE),
        ("area_km2", "km²", 1.0, units.RATE),
        ("area_km2", "hectare", 0.01, units.RATE),
        ("pm25_annual_mean", "mg/m3", 1000.0, units.RATE),
    ],
)
def test_indicator_units_convert_to_the_catalogue_unit_or_its_city_total(code, unit, factor, basis):
    assert units.indicator_factor(code, unit) == (pytest.approx(factor, rel=1e-9), basis)


def test_a_city_total_divided_by_its_denominator_gives_the_canonical_value():
    """1.2 Mt/year for 3.3 M residents is about 1 kg per resident per day."""
    factor, basis = units.indicator_factor("msw_kg_per_resident_day", "t/year")
    assert basis == units.TOTAL
    assert 1_200_000 * factor / 3_300_000 == pytest.approx(1_200_000 * 1000 / 365.25 / 3_300_000)


@pytest.mark.parametrize(
    ("code", "unit", "reason"),
    [
        ("msw_recycled_share", "kg", "does not fit indicator msw_recycled_share"),
        ("pt_departures_per_1000", "departures/week/km2", "does not fit"),  # per area is not per resident
        ("rent_to_income_share", "t/year", "does not fit"),  # no city total for a share
        ("msw_recycled_share", "zorkmids", "not a unit pint knows"),
        ("msw_recycled_share", "", "no unit"),
        ("no_such_indicator", "%", "unknown indicator 'no_such_indicator'"),
        ("income_group", "category", "is a category"),
    ],
)
def test_indicator_units_that_do_not_fit_are_refused_with_a_reason(code, unit, reason):
    with pytest.raises(units.IndicatorUnitError, match=reason):
        units.indicator_factor(code, unit)


def test_every_catalogue_unit_is_a_unit_pint_reads():
    for code, row in units.indicator_catalogue().items():
        if row["canonical_unit"] != "category":
            assert units.indicator_factor(code, row["canonical_unit"]) == (1.0, units.RATE), code
