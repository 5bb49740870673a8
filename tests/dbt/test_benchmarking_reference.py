"""The benchmarking marts agree with an independent Python reference on 300 synthetic cities.

dbt builds only models/marts/benchmarking on a warehouse holding the four contracted inputs
(benchmarking_warehouse.py says why that is enough); benchmarking_reference.py recomputes every
formula with numpy, pandas and scipy (rankdata, percentile, theilslopes). The synthetic data has
every awkward case at scale: cities without any context, partial context, identical contexts
(distance ties), size-class boundaries, flagged years (two kinds of flag), gaps, single-year series,
tied values and an indicator without score bounds.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from tests.citypeers_home import temporary_home
from tests.dbt import benchmarking_reference as reference
from tests.dbt.benchmarking_warehouse import UNBOUNDED_INDICATOR, build_benchmarking, write_inputs

CITY_COUNT = 300


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    home = tmp_path_factory.mktemp("benchmarking_home")
    build_db = home / "warehouse" / "build.duckdb"
    inputs = write_inputs(build_db, CITY_COUNT)
    result = build_benchmarking(home, build_db)
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    marts = {}
    with duckdb.connect(str(build_db), read_only=True) as con:
        for table in ["dim_city_peer_group", "fct_city_peers", "fct_city_benchmark", "fct_learning_opportunities",
                      "fct_city_scores"]:
            marts[table] = con.execute(f"select * from {table}").df()
    return {**inputs, **marts, "build_db": build_db}


@pytest.fixture(scope="module")
def expected_peers(built) -> pd.DataFrame:
    return reference.similar_cities(built["dim_city"])


@pytest.fixture(scope="module")
def expected_benchmark(built, expected_peers) -> pd.DataFrame:
    return reference.benchmark(
        built["dim_city"], built["dim_indicator"], built["dim_indicator_target"],
        built["fct_city_indicator_annual"], expected_peers,
    )


def assert_columns_match(actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str], columns: list[str]) -> None:
    """Same keys, and each column equal (floats to 1e-9; NULL only where the reference has NaN/None)."""
    merged = actual.merge(expected, on=keys, how="outer", suffixes=("_dbt", "_ref"), indicator=True)
    unmatched = merged[merged["_merge"] != "both"]
    assert unmatched.empty, f"rows only on one side:\n{unmatched[keys + ['_merge']].head(10)}"
    for column in columns:
        left, right = merged[f"{column}_dbt"], merged[f"{column}_ref"]
        if pd.api.types.is_numeric_dtype(right) or pd.api.types.is_numeric_dtype(left):
            left, right = pd.to_numeric(left).astype(float), pd.to_numeric(right).astype(float)
            same = np.isclose(left, right, rtol=1e-9, atol=1e-9) | (left.isna() & right.isna())
        else:
            same = (left == right) | (left.isna() & right.isna())
        wrong = merged.loc[~same, keys + [f"{column}_dbt", f"{column}_ref"]]
        assert wrong.empty, f"{column} differs in {len(wrong)} rows:\n{wrong.head(10)}"


def test_peer_groups_match_size_bands_and_income(built):
    expected = reference.peer_groups(built["dim_city"])
    assert_columns_match(built["dim_city_peer_group"], expected, ["city_id"],
                         ["population_size_class", "income_group", "peer_group_id"])
    classes = built["dim_city_peer_group"].set_index("city_id")["population_size_class"]
    assert classes["city_0001"] == "200k_500k"  # exactly 200 000: lower bounds are inclusive
    assert classes["city_0002"] == "over_1500k"  # exactly 1.5M
    assert classes["city_0003"] == "under_50k"
    assert built["dim_city_peer_group"].set_index("city_id").loc[f"city_{CITY_COUNT - 1:04d}", "peer_group_id"] == (
        "unknown__unknown"
    )


def test_similar_cities_match_an_independent_gower_computation(built, expected_peers):
    assert_columns_match(
        built["fct_city_peers"], expected_peers, ["city_id", "peer_rank"],
        ["peer_city_id", "similarity", "shared_feature_count", "population_distance", "density_distance",
         "gdp_distance", "climate_distance", "region_distance", "population_share", "density_share", "gdp_share",
         "climate_share", "region_share", "similar_on"],
    )
    assert len(built["fct_city_peers"]) > CITY_COUNT * 7


def test_cities_without_context_have_no_peers_and_are_nobodys_peer(built):
    no_context = {f"city_{CITY_COUNT - 1:04d}", f"city_{CITY_COUNT - 2:04d}"}
    peers = built["fct_city_peers"]
    assert not set(peers["city_id"]) & no_context
    assert not set(peers["peer_city_id"]) & no_context
    # ...but they are still benchmarked (peer group unknown__unknown, overall ranks).
    benchmark = built["fct_city_benchmark"]
    assert set(benchmark["city_id"]) >= no_context


def test_identical_contexts_are_distance_zero_ties_broken_by_city_id(built):
    peers = built["fct_city_peers"]
    first = peers[(peers["city_id"] == "city_0000") & (peers["peer_rank"] <= 2)]
    assert list(first["peer_city_id"]) == [f"city_{CITY_COUNT - 4:04d}", f"city_{CITY_COUNT - 3:04d}"]
    assert list(first["similarity"]) == [1.0, 1.0]
    assert first["population_share"].isna().all()  # no distance to share out


def test_benchmark_matches_reference_for_every_formula(built, expected_benchmark):
    assert_columns_match(
        built["fct_city_benchmark"], expected_benchmark, ["city_id", "indicator_code", "year"],
        ["is_valid", "peer_group_id", "peer_group_valid_count", "peer_group_median", "peer_group_p25",
         "peer_group_p75", "peer_group_rank", "peer_group_percentile", "similar_cities_valid_count",
         "similar_cities_rank", "similar_cities_percentile", "overall_valid_count", "overall_rank",
         "overall_percentile", "z_score", "score", "traffic_light", "highest_target_met", "next_target",
         "gap_to_next_target", "yoy_change", "trend_slope_per_year", "trend_point_count", "years_to_next_target"],
    )


def test_flagged_rows_are_shown_but_take_no_rank(built):
    benchmark = built["fct_city_benchmark"]
    flagged = benchmark[~benchmark["is_valid"]]
    assert set(flagged["quality_flag"]) == {"below_completeness_rule", "suspect_outlier"}
    assert flagged[["peer_group_rank", "overall_rank", "similar_cities_rank", "z_score"]].isna().all().all()
    assert flagged["score"].notna().any()  # their own value is still scored and shown
    # Ranks of valid rows are 1..n per indicator-year with no gaps left by flagged rows.
    valid = benchmark[benchmark["is_valid"]]
    counts = valid.groupby(["indicator_code", "year"]).size()
    assert (valid.groupby(["indicator_code", "year"])["overall_valid_count"].max() == counts).all()


def test_indicator_without_bounds_has_no_score_and_no_light_and_no_composite(built):
    benchmark = built["fct_city_benchmark"]
    unbounded = benchmark[benchmark["indicator_code"] == UNBOUNDED_INDICATOR]
    assert len(unbounded) > 0
    assert unbounded["score"].isna().all() and unbounded["traffic_light"].isna().all()
    assert unbounded["overall_rank"].notna().any()  # still ranked
    scores = built["fct_city_scores"]
    assert "experimental" not in set(scores["domain"])
    assert not scores["indicators_used"].fillna("").str.contains(UNBOUNDED_INDICATOR).any()


def test_learning_opportunities_match_reference(built, expected_benchmark, expected_peers):
    expected = reference.learning_opportunities(expected_benchmark, expected_peers)
    assert_columns_match(
        built["fct_learning_opportunities"], expected,
        ["city_id", "indicator_code", "opportunity_type", "opportunity_rank"],
        ["year", "peer_city_id", "peer_value", "city_value"],
    )


def test_composite_scores_match_reference(built, expected_benchmark):
    expected = reference.city_scores(expected_benchmark, built["dim_indicator"])
    actual = built["fct_city_scores"]
    assert_columns_match(actual, expected, ["city_id", "year", "domain"], ["score", "coverage"])
    domains = actual[actual["score_level"] == "domain"]
    assert_columns_match(domains, expected[expected["domain"] != "overall"], ["city_id", "year", "domain"],
                         ["indicator_count", "indicators_used"])
    assert actual["score"].notna().any() and actual["score"].isna().any()


def test_build_is_reproducible(built, tmp_path: Path):
    """A second build of the same inputs gives the same benchmark, row for row (deterministic ties)."""
    build_db = tmp_path / "warehouse" / "build.duckdb"
    write_inputs(build_db, CITY_COUNT)
    result = build_benchmarking(tmp_path, build_db, "--resource-type", "model")
    assert result.returncode == 0, result.stdout[-4000:]
    with duckdb.connect(str(build_db), read_only=True) as con:
        again = con.execute("select * from fct_learning_opportunities").df()
    order = ["city_id", "indicator_code", "opportunity_type", "opportunity_rank"]
    pd.testing.assert_frame_equal(
        again.sort_values(order).reset_index(drop=True),
        built["fct_learning_opportunities"].sort_values(order).reset_index(drop=True),
    )


def test_publish_gate_suites_pass_on_the_marts_and_catch_out_of_range_values(built, tmp_path: Path):
    from citypeers.validation import validate_frame
    from citypeers.warehouse import MART_SUITES

    assert {"marts__fct_city_benchmark", "marts__fct_city_peers"} <= set(MART_SUITES)
    with temporary_home(tmp_path):
        for suite, table in [("marts__fct_city_benchmark", "fct_city_benchmark"),
                             ("marts__fct_city_peers", "fct_city_peers")]:
            outcome = validate_frame(built[table], suite, run_label="test")
            assert outcome.failures == [], [failure.describe() for failure in outcome.failures]
        broken = built["fct_city_benchmark"].copy()
        broken.loc[broken.index[0], "score"] = 120.0
        broken.loc[broken.index[1], "overall_percentile"] = -5.0
        outcome = validate_frame(broken, "marts__fct_city_benchmark", run_label="test")
        assert {failure.column for failure in outcome.failures} == {"score", "overall_percentile"}
        peers = built["fct_city_peers"].copy()
        peers.loc[peers.index[0], "similarity"] = 1.5
        outcome = validate_frame(peers, "marts__fct_city_peers", run_label="test")
        assert [failure.column for failure in outcome.failures] == ["similarity"]
