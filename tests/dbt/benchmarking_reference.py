"""An independent Python reference of the benchmarking marts, to compare with dbt's output.

Written from the definitions in models/marts/benchmarking/_benchmarking__models.yml, not from the
SQL: Gower distance as a numpy matrix, percentiles from scipy.stats.rankdata (average ranks),
quantiles from numpy.percentile, trends from scipy.stats.theilslopes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

PEER_COUNT = 8
SIMILAR_FEATURE_DISTANCE = 0.1
MIN_DOMAIN_COVERAGE = 0.8
SIZE_BANDS = [(50_000, "under_50k"), (200_000, "50k_200k"), (500_000, "200k_500k"), (1_500_000, "500k_1500k")]


def size_class(population: float | None) -> str:
    if population is None or pd.isna(population) or population <= 0:
        return "unknown"
    for upper, name in SIZE_BANDS:
        if population < upper:
            return name
    return "over_1500k"


def peer_groups(cities: pd.DataFrame) -> pd.DataFrame:
    groups = cities[["city_id"]].copy()
    groups["population_size_class"] = [size_class(p) for p in cities["population"]]
    groups["income_group"] = cities["income_group"].fillna("unknown")
    groups["peer_group_id"] = groups["population_size_class"] + "__" + groups["income_group"]
    return groups


def _log_or_nan(values: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(numbers > 0, np.log(np.where(numbers > 0, numbers, 1.0)), np.nan)


def gower_features(cities: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-feature distance matrices (NaN where the feature is missing on either side)."""
    matrices = {}
    for name, column in [("population", "population"), ("density", "population_density"),
                         ("gdp", "gdp_per_capita_ppp")]:
        logs = _log_or_nan(cities[column])
        spread = np.nanmax(logs) - np.nanmin(logs)
        difference = np.abs(logs[:, None] - logs[None, :])
        matrices[name] = difference / spread if spread > 0 else np.where(np.isnan(difference), np.nan, 0.0)
    for name, column in [("climate", "climate_zone"), ("region", "region")]:
        labels = cities[column].to_numpy(dtype=object)
        known = np.array([label is not None and not pd.isna(label) for label in labels])
        different = (labels[:, None] != labels[None, :]).astype(float)
        matrices[name] = np.where(known[:, None] & known[None, :], different, np.nan)
    return matrices


def similar_cities(cities: pd.DataFrame, peer_count: int = PEER_COUNT) -> pd.DataFrame:
    features = gower_features(cities)
    stacked = np.stack(list(features.values()))
    shared = np.sum(~np.isnan(stacked), axis=0)
    total = np.nansum(stacked, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.where(shared > 0, total / np.where(shared > 0, shared, 1), np.nan)
    ids = cities["city_id"].to_numpy()
    names = cities["city_name"].to_numpy()
    rows = []
    for i, city_id in enumerate(ids):
        candidates = [j for j in range(len(ids)) if j != i and not np.isnan(distance[i, j])]
        candidates.sort(key=lambda j: (distance[i, j], ids[j]))
        for rank, j in enumerate(candidates[:peer_count], start=1):
            row = {"city_id": city_id, "peer_rank": rank, "peer_city_id": ids[j], "peer_city_name": names[j],
                   "similarity": 1 - distance[i, j], "shared_feature_count": int(shared[i, j])}
            for name, matrix in features.items():
                row[f"{name}_distance"] = matrix[i, j]
                row[f"{name}_share"] = matrix[i, j] / total[i, j] if total[i, j] > 0 else np.nan
            words = [word for name, word in [("population", "similar size"), ("density", "similar density"),
                                             ("gdp", "similar income")]
                     if features[name][i, j] <= SIMILAR_FEATURE_DISTANCE]
            words += [word for name, word in [("climate", "same climate"), ("region", "same region")]
                      if features[name][i, j] == 0]
            row["similar_on"] = ", ".join(words) or "nearest match"
            rows.append(row)
    return pd.DataFrame(rows)


def _mid_rank_percentile(better_first: np.ndarray) -> np.ndarray:
    """100 = best; ties share the average rank; NaN when alone."""
    n = len(better_first)
    if n < 2:
        return np.full(n, np.nan)
    return 100.0 * (n - stats.rankdata(better_first, method="average")) / (n - 1)


def _min_rank(better_first: np.ndarray) -> np.ndarray:
    return stats.rankdata(better_first, method="min")


def benchmark(
    cities: pd.DataFrame, indicators: pd.DataFrame, targets: pd.DataFrame, annual: pd.DataFrame,
    peers: pd.DataFrame,
) -> pd.DataFrame:
    scored = indicators[indicators["is_scored"]].set_index("indicator_code")
    frame = annual[annual["indicator_code"].isin(scored.index)].copy()
    frame = frame.merge(peer_groups(cities)[["city_id", "peer_group_id"]], on="city_id", how="left")
    frame["peer_group_id"] = frame["peer_group_id"].fillna("unknown__unknown")
    frame["direction"] = frame["indicator_code"].map(scored["direction"])
    frame["domain"] = frame["indicator_code"].map(scored["domain"])
    frame["is_valid"] = frame["meets_completeness_rule"] & (frame["quality_flag"] == "ok")
    sign = np.where(frame["direction"] == "higher_is_better", -1.0, 1.0)
    frame["better_first"] = sign * frame["value"]
    frame = frame.reset_index(drop=True)
    valid = frame[frame["is_valid"]]

    for column in ["peer_group_median", "peer_group_p25", "peer_group_p75", "peer_group_rank",
                   "peer_group_percentile", "overall_rank", "overall_percentile", "z_score",
                   "similar_cities_rank", "similar_cities_percentile"]:
        frame[column] = np.nan
    frame["peer_group_valid_count"] = 0
    frame["overall_valid_count"] = np.nan
    frame["similar_cities_valid_count"] = np.nan

    group_statistics = {}
    for (code, year, group), rows in valid.groupby(["indicator_code", "year", "peer_group_id"]):
        group_statistics[(code, year, group)] = [*np.percentile(rows["value"], [25, 50, 75]), len(rows)]
        frame.loc[rows.index, "peer_group_rank"] = _min_rank(rows["better_first"].to_numpy())
        frame.loc[rows.index, "peer_group_percentile"] = _mid_rank_percentile(rows["better_first"].to_numpy())
    statistics = [group_statistics.get(key, [np.nan, np.nan, np.nan, 0])
                  for key in zip(frame["indicator_code"], frame["year"], frame["peer_group_id"], strict=True)]
    frame[["peer_group_p25", "peer_group_median", "peer_group_p75", "peer_group_valid_count"]] = statistics
    for (_code, _year), rows in valid.groupby(["indicator_code", "year"]):
        values = rows["value"].to_numpy()
        frame.loc[rows.index, "overall_valid_count"] = len(rows)
        frame.loc[rows.index, "overall_rank"] = _min_rank(rows["better_first"].to_numpy())
        frame.loc[rows.index, "overall_percentile"] = _mid_rank_percentile(rows["better_first"].to_numpy())
        deviation = values.std(ddof=1) if len(values) > 1 else 0.0
        if deviation > 0:
            frame.loc[rows.index, "z_score"] = (values - values.mean()) / deviation

    peers_of = peers.groupby("city_id")["peer_city_id"].apply(list).to_dict()
    valid_lookup = valid.set_index(["city_id", "indicator_code", "year"])["better_first"].to_dict()
    similar = {}
    for row in valid.itertuples():
        key = (row.indicator_code, row.year)
        others = [valid_lookup[(peer, *key)] for peer in peers_of.get(row.city_id, [])
                  if (peer, *key) in valid_lookup]
        group = np.array([row.better_first, *others])
        similar[row.Index] = [len(group), _min_rank(group)[0], _mid_rank_percentile(group)[0]]
    similar_columns = ["similar_cities_valid_count", "similar_cities_rank", "similar_cities_percentile"]
    frame.loc[list(similar), similar_columns] = list(similar.values())

    optimum = frame["indicator_code"].map(scored["score_optimum"])
    lower = frame["indicator_code"].map(scored["score_lower_bound"])
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = 100.0 * (frame["value"] - lower) / (optimum - lower)
    frame["score"] = np.where(optimum != lower, raw.clip(0, 100), np.nan)

    green = frame["indicator_code"].map(scored["score_green_threshold"])
    red = frame["indicator_code"].map(scored["score_red_threshold"])
    lights = []
    for value, better, worse, direction in zip(frame["value"], green, red, frame["direction"], strict=True):
        if pd.isna(better) or pd.isna(worse):
            lights.append(None)
        elif direction == "lower_is_better":
            lights.append("green" if value <= better else "red" if value >= worse else "amber")
        else:
            lights.append("green" if value >= better else "red" if value <= worse else "amber")
    frame["traffic_light"] = lights

    ladders = {code: rows.sort_values("strictness_rank") for code, rows in targets.groupby("indicator_code")}
    highest, following, gaps = [], [], []
    for value, code, direction in zip(frame["value"], frame["indicator_code"], frame["direction"], strict=True):
        ladder = ladders.get(code)
        met_rank = 0
        if ladder is not None:
            met = ladder["threshold"] >= value if direction == "lower_is_better" else ladder["threshold"] <= value
            met_rank = int(ladder.loc[met, "strictness_rank"].max()) if met.any() else 0
        highest.append(ladder.loc[ladder["strictness_rank"] == met_rank, "target_code"].iloc[0] if met_rank else None)
        next_rows = ladder[ladder["strictness_rank"] == met_rank + 1] if ladder is not None else pd.DataFrame()
        if len(next_rows):
            threshold = next_rows["threshold"].iloc[0]
            following.append(next_rows["target_code"].iloc[0])
            gaps.append(value - threshold if direction == "lower_is_better" else threshold - value)
        else:
            following.append(None)
            gaps.append(np.nan)
    frame["highest_target_met"], frame["next_target"], frame["gap_to_next_target"] = highest, following, gaps

    valid_values = valid.set_index(["city_id", "indicator_code", "year"])["value"].to_dict()
    series = {key: (rows["year"].to_numpy(dtype=float), rows["value"].to_numpy())
              for key, rows in valid.groupby(["city_id", "indicator_code"])}
    no_history = (np.array([]), np.array([]))
    yoy, slopes, points = [], [], []
    for row in frame.itertuples():
        previous = valid_values.get((row.city_id, row.indicator_code, row.year - 1))
        yoy.append(row.value - previous if row.is_valid and previous is not None else np.nan)
        years, values = series.get((row.city_id, row.indicator_code), no_history)
        upto = years <= row.year
        points.append(int(upto.sum()))
        slopes.append(stats.theilslopes(values[upto], years[upto])[0] if upto.sum() >= 3 else np.nan)
    frame["yoy_change"], frame["trend_slope_per_year"], frame["trend_point_count"] = yoy, slopes, points
    frame["trend_improvement_per_year"] = np.where(
        frame["direction"] == "lower_is_better", -frame["trend_slope_per_year"], frame["trend_slope_per_year"]
    )
    improving = frame["is_valid"] & (frame["trend_improvement_per_year"] > 0)
    frame["years_to_next_target"] = np.where(
        improving, frame["gap_to_next_target"] / frame["trend_improvement_per_year"].where(improving, 1.0), np.nan
    )
    for column in ["peer_group_rank", "peer_group_percentile", "overall_rank", "overall_percentile", "z_score",
                   "similar_cities_rank", "similar_cities_percentile", "similar_cities_valid_count",
                   "overall_valid_count"]:
        frame.loc[~frame["is_valid"], column] = np.nan
    return frame


def learning_opportunities(benchmark_rows: pd.DataFrame, peers: pd.DataFrame) -> pd.DataFrame:
    rows = benchmark_rows.set_index(["city_id", "indicator_code", "year"])
    latest = benchmark_rows[benchmark_rows["is_valid"]].groupby(["city_id", "indicator_code"])["year"].max()
    out = []
    for (city_id, code), year in latest.items():
        mine = rows.loc[(city_id, code, year)]
        candidates = []
        for peer in peers[peers["city_id"] == city_id].itertuples():
            key = (peer.peer_city_id, code, year)
            if key not in rows.index:
                continue
            theirs = rows.loc[key]
            candidates.append({"peer_city_id": peer.peer_city_id, "similarity": peer.similarity,
                               "peer_value": theirs["value"], "peer_is_valid": theirs["is_valid"],
                               "better": theirs["better_first"] < mine["better_first"],
                               "improvement": theirs["trend_improvement_per_year"]})
        better = sorted((c for c in candidates if c["peer_is_valid"] and c["better"]),
                        key=lambda c: (-c["similarity"], c["peer_city_id"]))[:3]
        fastest = sorted((c for c in candidates if c["improvement"] > 0),
                         key=lambda c: (-c["improvement"], -c["similarity"], c["peer_city_id"]))[:3]
        for kind, chosen in [("does_better", better), ("improved_fastest", fastest)]:
            for rank, candidate in enumerate(chosen, start=1):
                out.append({"city_id": city_id, "indicator_code": code, "year": year, "opportunity_type": kind,
                            "opportunity_rank": rank, "peer_city_id": candidate["peer_city_id"],
                            "peer_value": candidate["peer_value"], "city_value": mine["value"]})
    return pd.DataFrame(out)


def city_scores(benchmark_rows: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    scorable = indicators[indicators["is_scored"] & indicators["score_optimum"].notna()
                          & indicators["score_lower_bound"].notna()
                          & (indicators["score_optimum"] != indicators["score_lower_bound"])]
    domain_sizes = scorable.groupby("domain").size()
    used = benchmark_rows[benchmark_rows["is_valid"] & benchmark_rows["score"].notna()]
    parts_of = {key: rows for key, rows in used.groupby(["city_id", "year", "domain"])}
    empty = used.iloc[0:0]
    out = []
    for city_id, year in benchmark_rows[["city_id", "year"]].drop_duplicates().itertuples(index=False):
        domain_scores = []
        for domain, size in domain_sizes.items():
            parts = parts_of.get((city_id, year, domain), empty)
            coverage = len(parts) / size
            score = parts["score"].mean() if coverage >= MIN_DOMAIN_COVERAGE else np.nan
            domain_scores.append(score)
            out.append({"city_id": city_id, "year": year, "domain": domain, "score": score, "coverage": coverage,
                        "indicator_count": len(parts),
                        "indicators_used": ", ".join(sorted(parts["indicator_code"])) or None})
        available = [score for score in domain_scores if not np.isnan(score)]
        out.append({"city_id": city_id, "year": year, "domain": "overall",
                    "score": float(np.mean(available)) if available else np.nan,
                    "coverage": len(available) / len(domain_sizes), "indicator_count": None,
                    "indicators_used": None})
    return pd.DataFrame(out)
