"""Benchmark of the impact step: `citypeers.impact.estimate` for 100 planted practices over 1,000
synthetic cities (tier M). Goal (issue 13): every practice estimated in <= 60 s on 2 cores.

    python benchmarks/impact.py [--cities 1000 --practices 100]   # prints the figures as one JSON line

The monthly panel is built by DuckDB from a seed: cities fall into groups of about 21 similar
cities (one seasonal amplitude and phase per group, as a climate zone would give) with their own
level; a group-month shock shared by the group (weather) and a city-month shock; 0.2% of city-months
flagged invalid. Each practice's city gets a known step (-5% to -20%; one in five has no effect,
the null case) from a start month that leaves at least 24 months before it and 12 after. A
practice's donor pool is the rest of its group minus the other treated cities, about 19 cities:
what the pipeline's rule (similar cities without a practice of the category in the window) gives.
"""

from __future__ import annotations

import time
from datetime import date

import duckdb

from citypeers.impact import estimate

GROUP_SIZE = 21
FIRST_MONTH = date(2021, 1, 1)


def build_panel(con: duckdb.DuckDBPyConnection, *, city_count: int, practice_count: int, months: int, seed: int):
    """Create the tables `bench_cities`, `bench_practices` and `bench_panel` (city_id, period_start,
    value, is_valid). The first `practice_count` cities are treated, spread over the groups."""
    groups = max(1, city_count // GROUP_SIZE)

    # u(...) is a uniform in (0, 1) from the keys; a standard normal is sqrt(-2 ln u1) cos(2 pi u2).
    def u(*keys: str) -> str:
        return f"((hash({seed}, {', '.join(keys)}) % 1000000) + 0.5) / 1e6"

    def normal(*keys: str) -> str:
        first, second = u(*keys, "'n1'"), u(*keys, "'n2'")
        return f"sqrt(-2 * ln({first})) * cos(2 * pi() * {second})"

    con.execute(f"""
    CREATE TABLE bench_cities AS
    SELECT printf('c%04d', i) AS city_id, i % {groups} AS group_id,
        exp(ln(8) + 1.5 * {u('i', "'level'")}) AS level,
        0.10 + 0.40 * {u('i % ' + str(groups), "'amplitude'")} + 0.05 * {u('i', "'amp_jitter'")} AS amplitude,
        CASE WHEN {u('i % ' + str(groups), "'south'")} < 0.2 THEN 6 ELSE 0 END AS phase,
        i < {practice_count} AS is_treated
    FROM range({city_count}) AS t(i)
    """)
    con.execute(f"""
    CREATE TABLE bench_practices AS
    SELECT city_id, group_id,
        24 + floor({u('city_id', "'start'")} * ({months} - 36 + 1))::INTEGER AS start_index,
        CASE WHEN {u('city_id', "'null'")} < 0.2 THEN 0.0
             ELSE -0.05 - 0.15 * {u('city_id', "'effect'")} END AS planted_effect
    FROM bench_cities WHERE is_treated
    """)
    con.execute(f"""
    CREATE TABLE bench_panel AS
    WITH months AS (SELECT m, (DATE '{FIRST_MONTH}' + to_months(m))::DATE AS period_start FROM range({months}) AS t(m)),
    group_shocks AS (
        SELECT g AS group_id, m, 0.06 * {normal('g', 'm', "'group'")} AS shock
        FROM range({groups}) AS t(g) CROSS JOIN months
    )
    SELECT c.city_id, months.period_start,
        c.level
        * (1 + c.amplitude * cos(2 * pi() * (month(months.period_start) - 1 - c.phase) / 12))
        * exp(s.shock + 0.06 * {normal('c.city_id', 'months.m', "'city'")})
        * CASE WHEN months.m >= p.start_index THEN 1 + p.planted_effect ELSE 1 END AS value,
        hash({seed}, c.city_id, months.m, 'invalid') % 1000 >= 2 AS is_valid
    FROM bench_cities AS c
    CROSS JOIN months
    JOIN group_shocks AS s ON s.group_id = c.group_id AND s.m = months.m
    LEFT JOIN bench_practices AS p ON p.city_id = c.city_id
    """)


def run(city_count: int = 1000, practice_count: int = 100, months: int = 60, seed: int = 13) -> dict:
    """Build the panel, estimate every practice; wall seconds, practices per second, and recovery."""
    started = time.perf_counter()
    con = duckdb.connect()
    try:
        build_panel(con, city_count=city_count, practice_count=practice_count, months=months, seed=seed)
        panel = con.sql("SELECT * FROM bench_panel").df()
        practices = con.sql(f"""
            SELECT p.city_id, (DATE '{FIRST_MONTH}' + to_months(p.start_index))::DATE AS start_date,
                p.planted_effect, list(c.city_id ORDER BY c.city_id) AS donors
            FROM bench_practices AS p
            JOIN bench_cities AS c ON c.group_id = p.group_id AND NOT c.is_treated
            GROUP BY ALL ORDER BY p.city_id
        """).fetchall()
    finally:
        con.close()
    built = time.perf_counter()
    estimates = [
        (planted, estimate(panel, city_id, start_date, donors, grain="month"))
        for city_id, start_date, planted, donors in practices
    ]
    seconds = time.perf_counter() - built  # the goal's figure: every practice estimated
    graded = [(planted * 100, e) for planted, e in estimates if e.effect_pct is not None]
    nulls = [e for planted, e in graded if planted == 0]
    planted_nonzero = [e for planted, e in graded if planted != 0]
    detected = {"moderate", "strong"}
    return {
        "cities": city_count,
        "practices": len(practices),
        "months": months,
        "seed": seed,
        "wall_seconds": round(time.perf_counter() - started, 2),
        "panel_build_seconds": round(built - started, 2),
        "estimate_seconds": round(seconds, 2),
        "practices_per_second": round(len(practices) / seconds, 2),
        "median_donors": sorted(e.donor_count for _, e in estimates)[len(estimates) // 2],
        "estimated": len(graded),
        "planted_inside_interval": sum(e.effect_pct_lower <= p <= e.effect_pct_upper for p, e in graded),
        "mean_abs_error_points": round(sum(abs(e.effect_pct - p) for p, e in graded) / max(1, len(graded)), 2),
        "null_practices": len(nulls),
        "null_graded_moderate_or_strong": sum(e.evidence_grade in detected for e in nulls),
        "planted_practices": len(planted_nonzero),
        "planted_graded_moderate_or_strong": sum(e.evidence_grade in detected for e in planted_nonzero),
        "grades": {g: sum(e.evidence_grade == g for _, e in estimates) for g in
                   ("insufficient", "weak", "moderate", "strong")},
    }


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=int, default=1000)
    parser.add_argument("--practices", type=int, default=100)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    # one line: benchmarks/run.py reads the step's last output line
    print(json.dumps(run(args.cities, args.practices, args.months, args.seed)))
