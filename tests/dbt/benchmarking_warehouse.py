"""A synthetic warehouse for the benchmarking marts, and a dbt runner that builds only them.

The benchmarking marts (dbt_project/models/marts/benchmarking/) read four contracted inputs:
dim_city, dim_indicator, dim_indicator_target and fct_city_indicator_annual, plus the practices
(dim_practice, fct_practice_impact, stg_practices__practice_indicators), which the learning
opportunities only attach to their rows and which are written here empty. Instead of generating
hourly Parquet for hundreds of cities and building the whole project, the test writes those four
tables straight into a temporary build warehouse and runs
`dbt build --select path:models/marts/benchmarking`. dbt resolves ref() of an unselected model to
its relation name (refs omit the database, macros/builtins_overrides/ref.sql), so the benchmarking
models, their data tests and their unit tests run against the synthetic inputs. This keeps the
test independent of how the indicator layer builds those inputs; tests/dbt/test_dbt_build.py
covers the whole project on real-shaped Parquet.

The catalogue is the project's own seeds (indicators.csv, indicator_targets.csv) plus one scored
indicator without score bounds or targets (UNBOUNDED_INDICATOR), to exercise that case at scale.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"
SEEDS = DBT_PROJECT_DIR / "seeds"

UNBOUNDED_INDICATOR = "test_unbounded_index"
CLIMATE_ZONES = ["tropical", "arid", "temperate", "continental", "polar"]
REGIONS = ["Southern Europe", "Western Europe", "Northern Europe", "Eastern Asia", "Southern Asia",
           "Latin America and the Caribbean", "Northern America", "Sub-Saharan Africa"]
INCOME_GROUPS = ["high", "upper_middle", "lower_middle", "low"]
YEARS = list(range(2018, 2026))


def _float_or_none(text: str) -> float | None:
    return float(text) if text != "" else None


def catalogue() -> tuple[pd.DataFrame, pd.DataFrame]:
    """dim_indicator and dim_indicator_target rows from the seeds, plus the unbounded indicator."""
    with open(SEEDS / "indicators.csv", encoding="utf-8") as handle:
        indicators = list(csv.DictReader(handle))
    rows = [
        {
            "indicator_code": row["indicator_code"],
            "domain": row["domain"],
            "indicator_name": row["indicator_name"],
            "canonical_unit": row["canonical_unit"],
            "unit_label": row["unit_label"],
            "direction": row["direction"],
            "is_scored": row["is_scored"] == "true",
            "score_optimum": _float_or_none(row["score_optimum"]),
            "score_green_threshold": _float_or_none(row["score_green_threshold"]),
            "score_red_threshold": _float_or_none(row["score_red_threshold"]),
            "score_lower_bound": _float_or_none(row["score_lower_bound"]),
        }
        for row in indicators
    ]
    rows.append({
        "indicator_code": UNBOUNDED_INDICATOR, "domain": "experimental", "indicator_name": "Unbounded test index",
        "canonical_unit": "ratio", "unit_label": "index points", "direction": "higher_is_better", "is_scored": True,
        "score_optimum": None, "score_green_threshold": None, "score_red_threshold": None, "score_lower_bound": None,
    })  # fmt: skip
    targets = pd.read_csv(SEEDS / "indicator_targets.csv")
    targets = targets[["indicator_code", "target_code", "target_name", "threshold", "strictness_rank"]]
    return pd.DataFrame(rows), targets


def synthetic_cities(city_count: int, seed: int) -> pd.DataFrame:
    """Cities with realistic context; some with parts missing, a few with none at all."""
    rng = np.random.default_rng(seed)
    population = np.round(np.exp(rng.uniform(np.log(20_000), np.log(25_000_000), city_count)))
    area = np.round(population / np.exp(rng.uniform(np.log(300), np.log(20_000), city_count)), 1)
    gdp = np.round(np.exp(rng.uniform(np.log(1_500), np.log(90_000), city_count)), -2)
    income = np.where(gdp >= 40_000, "high", np.where(gdp >= 15_000, "upper_middle",
                                                      np.where(gdp >= 5_000, "lower_middle", "low")))
    cities = pd.DataFrame({
        "city_id": [f"city_{number:04d}" for number in range(city_count)],
        "city_name": [f"City {number:04d}" for number in range(city_count)],
        "country_name": [f"Country {number % 40:02d}" for number in range(city_count)],
        "region": rng.choice(REGIONS, city_count),
        "population": pd.array(population.astype("int64"), dtype="Int64"),
        "area_km2": area,
        "gdp_per_capita_ppp": gdp,
        "income_group": income,
        "climate_zone": rng.choice(CLIMATE_ZONES, city_count),
    })  # fmt: skip
    # Parts of the context missing at random (each feature about 5% of cities).
    for column in ["population", "area_km2", "gdp_per_capita_ppp", "income_group", "climate_zone", "region"]:
        cities.loc[rng.random(city_count) < 0.05, column] = None
    # Two cities without any context, and exact duplicates of another city's context (distance ties).
    context = ["population", "area_km2", "gdp_per_capita_ppp", "income_group", "climate_zone", "region"]
    cities.loc[[city_count - 1, city_count - 2], context] = None
    for copy in (city_count - 3, city_count - 4):
        cities.loc[copy, context] = cities.loc[0, context].to_numpy()
    # Size-class boundaries exactly.
    cities.loc[1, "population"] = 200_000
    cities.loc[2, "population"] = 1_500_000
    cities.loc[3, "population"] = 49_999
    cities["population_density"] = cities["population"].astype("float") / cities["area_km2"]
    return cities


def synthetic_annual(cities: pd.DataFrame, indicators: pd.DataFrame, seed: int) -> pd.DataFrame:
    """fct_city_indicator_annual: trends with noise, gaps, flagged years, ties and single-year series."""
    rng = np.random.default_rng(seed + 1)
    scored = indicators[indicators["is_scored"]]
    rows = []
    for city_number, city_id in enumerate(cities["city_id"]):
        for indicator in scored.itertuples():
            if rng.random() < 0.15:  # the city does not report this indicator
                continue
            low, high = indicator.score_optimum, indicator.score_lower_bound
            if pd.isna(low):
                low, high = 0.0, 100.0
            span = abs(high - low)
            start = min(low, high) + rng.uniform(-0.1, 1.1) * span
            slope = rng.normal(0, 0.04) * span
            years = YEARS if rng.random() > 0.1 else [int(rng.choice(YEARS))]  # some single-year series
            for year in years:
                if len(years) > 1 and rng.random() < 0.15:
                    continue  # a gap year
                value = max(0.0, start + slope * (year - YEARS[0]) + rng.normal(0, 0.03) * span)
                value = round(value, 0 if city_number % 7 == 0 else 1)  # coarse rounding: many ties
                flagged = rng.random() < 0.1
                rows.append({
                    "city_id": city_id, "indicator_code": indicator.indicator_code, "year": year,
                    "value": value, "unit": indicator.canonical_unit, "meets_completeness_rule": not flagged,
                    "quality_flag": "below_completeness_rule" if flagged else "ok",
                    "quality_note": "synthetic: too few valid days" if flagged else None,
                })  # fmt: skip
    annual = pd.DataFrame(rows)
    # A valid row whose flag is not 'ok' (flagged for another reason): must count as flagged too.
    annual.loc[annual.index[::97], "quality_flag"] = "suspect_outlier"
    annual.loc[annual.index[::97], "quality_note"] = "synthetic outlier flag"
    return annual


def write_inputs(build_db: Path, city_count: int = 300, seed: int = 20251122) -> dict[str, pd.DataFrame]:
    """Write the four contracted input tables into build_db; returns them as frames."""
    indicators, targets = catalogue()
    cities = synthetic_cities(city_count, seed)
    annual = synthetic_annual(cities, indicators, seed)
    build_db.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(build_db)) as con:
        con.register("cities_frame", cities)
        con.execute("""
            create or replace table dim_city as select
                cast(city_id as varchar) as city_id, cast(city_name as varchar) as city_name,
                cast(country_name as varchar) as country_name, cast(region as varchar) as region,
                cast(population as bigint) as population, cast(area_km2 as double) as area_km2,
                cast(population_density as double) as population_density,
                cast(gdp_per_capita_ppp as double) as gdp_per_capita_ppp,
                cast(income_group as varchar) as income_group, cast(climate_zone as varchar) as climate_zone
            from cities_frame
        """)
        con.register("indicators_frame", indicators)
        con.execute("""
            create or replace table dim_indicator as select
                cast(indicator_code as varchar) as indicator_code, cast(domain as varchar) as domain,
                cast(indicator_name as varchar) as indicator_name, cast(canonical_unit as varchar) as canonical_unit,
                cast(unit_label as varchar) as unit_label, cast(direction as varchar) as direction,
                cast(is_scored as boolean) as is_scored, cast(score_optimum as double) as score_optimum,
                cast(score_green_threshold as double) as score_green_threshold,
                cast(score_red_threshold as double) as score_red_threshold,
                cast(score_lower_bound as double) as score_lower_bound
            from indicators_frame
        """)
        con.register("targets_frame", targets)
        con.execute("""
            create or replace table dim_indicator_target as select
                cast(indicator_code as varchar) as indicator_code, cast(target_code as varchar) as target_code,
                cast(target_name as varchar) as target_name, cast(threshold as double) as threshold,
                cast(strictness_rank as integer) as strictness_rank
            from targets_frame
        """)
        con.register("annual_frame", annual)
        con.execute("""
            create or replace table fct_city_indicator_annual as select
                cast(city_id as varchar) as city_id, cast(indicator_code as varchar) as indicator_code,
                cast(year as integer) as year, cast(value as double) as value, cast(unit as varchar) as unit,
                cast(meets_completeness_rule as boolean) as meets_completeness_rule,
                cast(quality_flag as varchar) as quality_flag, cast(quality_note as varchar) as quality_note
            from annual_frame
        """)
        # No practices: the learning opportunities carry none (their own unit tests cover them).
        con.execute("""
            create or replace table dim_practice (practice_id varchar, city_id varchar, domain varchar,
                category_name varchar, start_date date);
            create or replace table fct_practice_impact (practice_id varchar, indicator_code varchar,
                evidence_grade varchar, effect_summary varchar);
            create or replace table stg_practices__practice_indicators (practice_id varchar, indicator_code varchar);
        """)
    return {"dim_city": cities, "dim_indicator": indicators, "dim_indicator_target": targets,
            "fct_city_indicator_annual": annual}


def build_benchmarking(home: Path, build_db: Path, *extra_args: str) -> subprocess.CompletedProcess[str]:
    """dbt build of the benchmarking marts only (models, data tests, unit tests) into build_db."""
    env = {
        **os.environ,
        "CITYPEERS_HOME": str(home),
        "CITYPEERS_BUILD_DB": str(build_db),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_PATH": str(home / "dbt_logs"),
        "DBT_EXCLUDE_RESOURCE_TYPES": "",  # the pipeline skips the unit tests; these builds run them
        "PATH": f"{DBT.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        str(DBT), "build", "--select", "path:models/marts/benchmarking", *extra_args,
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(home / "dbt_target"),
    ]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
