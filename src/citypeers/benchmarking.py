"""Read the marts from the serving warehouse for `citypeers values`, `citypeers peers` and `citypeers learn`.

The serving file is opened read-only, like any analyst or Superset would: a reader never blocks
the pipeline's publish (an atomic rename). The formulas live in dbt
(dbt_project/models/marts/benchmarking/); this module only finds a city or an indicator from what
a person types and prints the marts as plain tables.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from citypeers import paths
from citypeers.errors import CitypeersError


class BenchmarkLookupError(CitypeersError):
    """A city or indicator that the warehouse does not know, or a warehouse not built yet."""


BENCHMARKING_MARTS = ("dim_city", "dim_indicator", "fct_city_peers", "fct_learning_opportunities")


def open_serving(
    database: Path | None = None, required: Sequence[str] = BENCHMARKING_MARTS
) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the serving warehouse, or a clear error when there is none yet or
    it lacks one of the `required` marts (built by an older version)."""
    database = database or paths.serving_db()
    if not database.exists():
        raise BenchmarkLookupError(
            f"the serving warehouse {database} is not built yet: run `citypeers build` "
            f"(or `make demo`) first"
        )
    con = duckdb.connect(str(database), read_only=True)
    present = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
    missing = set(required) - present
    if missing:
        con.close()
        raise BenchmarkLookupError(
            f"the serving warehouse {database} has no {', '.join(sorted(missing))}: it was built before these "
            f"marts existed; run `citypeers build` again"
        )
    return con


def _close_matches(typed: str, candidates: dict[str, str], what: str) -> BenchmarkLookupError:
    """An error listing the candidates closest to what was typed (ids and display names)."""
    lowered = {text.lower(): key for text, key in candidates.items()}
    near = difflib.get_close_matches(typed.lower(), list(lowered), n=5, cutoff=0.5)
    near += [text for text in lowered if typed.lower() in text and text not in near]
    suggestions = list(dict.fromkeys(lowered[text] for text in near))[:5]
    hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
    return BenchmarkLookupError(f"unknown {what} '{typed}'{hint}")


def resolve_city(con: duckdb.DuckDBPyConnection, typed: str) -> tuple[str, str]:
    """(city_id, city_name) for a city id or name, case-insensitive."""
    rows = con.execute("select city_id, coalesce(city_name, city_id) from dim_city").fetchall()
    for city_id, city_name in rows:
        if typed.lower() in (city_id.lower(), city_name.lower()):
            return city_id, city_name
    candidates = {city_id: city_id for city_id, _ in rows} | {name: city_id for city_id, name in rows}
    raise _close_matches(typed, candidates, "city")


def resolve_indicator(con: duckdb.DuckDBPyConnection, typed: str) -> tuple[str, str]:
    """(indicator_code, indicator_name) of a scored indicator, by code or name, case-insensitive."""
    rows = con.execute(
        "select indicator_code, coalesce(indicator_name, indicator_code) from dim_indicator where is_scored"
    ).fetchall()
    for code, name in rows:
        if typed.lower() in (code.lower(), name.lower()):
            return code, name
    candidates = {code: code for code, _ in rows} | {name: code for code, name in rows}
    raise _close_matches(typed, candidates, "indicator")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: columns padded to their widest cell, numbers to 2 decimals, NULL as '-'."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.2f}"
        return str(value)

    cells = [[cell(value) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    lines = ["  ".join(header.ljust(width) for header, width in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def peers_report(typed_city: str, database: Path | None = None) -> str:
    """The city's similar cities, most similar first, with why."""
    with open_serving(database) as con:
        city_id, city_name = resolve_city(con, typed_city)
        rows = con.execute(
            """
            select peer_rank, peer_city_name, peer_city_id, similarity, shared_feature_count, similarity_reason
            from fct_city_peers where city_id = ? order by peer_rank
            """,
            [city_id],
        ).fetchall()
    if not rows:
        return (
            f"{city_name} ({city_id}) has no similar cities: it shares no context (population, density, GDP per "
            f"capita, climate zone, region) with any other city. Add its context to dbt_project/seeds/cities.csv."
        )
    headers = ["rank", "city", "city_id", "similarity", "features", "why"]
    return f"Cities most similar to {city_name} ({city_id})\n" + format_table(headers, rows)


def learn_report(typed_city: str, typed_indicator: str, database: Path | None = None) -> str:
    """Whom the city can learn from on one indicator: better now, and improved fastest."""
    with open_serving(database) as con:
        city_id, city_name = resolve_city(con, typed_city)
        code, indicator_name = resolve_indicator(con, typed_indicator)
        unit_label = con.execute(
            "select unit_label from dim_indicator where indicator_code = ?", [code]
        ).fetchone()[0]
        rows = con.execute(
            """
            select opportunity_type, opportunity_rank, peer_city_name, similarity, peer_value,
                   peer_trend_slope_per_year, peer_quality_flag, reason, year, city_value, unit
            from fct_learning_opportunities
            where city_id = ? and indicator_code = ?
            order by opportunity_type, opportunity_rank
            """,
            [city_id, code],
        ).fetchall()
    if not rows:
        return (
            f"No learning opportunities for {city_name} on {indicator_name}: either {city_name} has no valid value "
            f"for it yet, or none of its similar cities does better or improves (see `citypeers peers {city_id}`)."
        )
    year, city_value, unit = rows[0][8], rows[0][9], rows[0][10]
    sections = [f"{city_name}: {indicator_name}, {city_value:.1f} {unit_label or unit} in {year} (latest valid year)"]
    for kind, title in [("does_better", "Similar cities doing better"),
                        ("improved_fastest", "Similar cities improving fastest")]:
        chosen = [row for row in rows if row[0] == kind]
        if chosen:
            table = format_table(
                ["#", "city", "similarity", "value", "trend/yr", "quality"], [row[1:7] for row in chosen]
            )
            reasons = "\n".join(f"  {row[1]}. {row[7]}" for row in chosen)
            sections.append(f"\n{title}\n{table}\n{reasons}")
    return "\n".join(sections)


def value_sources_report(typed_indicator: str, typed_city: str, year: int | None = None,
                         database: Path | None = None) -> str:
    """Where one city's value comes from (fct_value_sources): every landed payload behind it, with
    the URL or file it was fetched from, when, the HTTP status and the payload's hash."""
    with open_serving(database, required=("dim_city", "dim_indicator", "fct_value_sources")) as con:
        code, indicator_name = resolve_indicator(con, typed_indicator)
        city_id, city_name = resolve_city(con, typed_city)
        if year is None:
            year = con.execute("select max(year) from fct_city_indicator_annual where indicator_code = ? "
                               "and city_id = ?", [code, city_id]).fetchone()[0]
        value = con.execute("select value, unit, basis, quality_flag from fct_city_indicator_annual "
                            "where indicator_code = ? and city_id = ? and year = ?", [code, city_id, year]).fetchone()
        rows = con.execute(
            """
            select feed_id, ingest_period, payload_sha256, fetched_at, http_status, payload_bytes,
                   station_count, reported_hour_count, payload_row_number,
                   coalesce(source_location, 'not in the period''s latest fetch manifest')
            from fct_value_sources
            where indicator_code = ? and city_id = ? and year = ?
            order by feed_id, ingest_period, payload_sha256
            """,
            [code, city_id, year],
        ).fetchall()
    if value is None:
        return f"{city_name} has no value for {indicator_name} ({code}) in {year}."
    title = (f"{city_name}: {indicator_name} ({code}) in {year} = {value[0]:.2f} {value[1]} ({value[2]}, "
             f"{value[3]}), from {len(rows)} landed payload(s)")
    return title + "\n" + format_table(
        ["feed", "period", "payload sha256", "fetched (UTC)", "http", "bytes", "stations", "hours", "row", "source"],
        rows)


def values_report(typed_indicator: str, year: int | None = None, database: Path | None = None) -> str:
    """Every city's value of one indicator (latest year by default), best first, with its sources."""
    with open_serving(database) as con:
        code, indicator_name = resolve_indicator(con, typed_indicator)
        domain, unit_label, direction = con.execute(
            "select domain, unit_label, direction from dim_indicator where indicator_code = ?", [code]
        ).fetchone()
        if year is None:
            year = con.execute(
                "select max(year) from fct_city_indicator_annual where indicator_code = ?", [code]
            ).fetchone()[0]
        rows = con.execute(
            f"""
            select city_name, city_id, value, quality_flag, source_names, feed_ids
            from fct_city_indicator_annual
            where indicator_code = ? and year = ?
            order by value {"desc" if direction == "higher_is_better" else "asc"} nulls last, city_id
            """,
            [code, year],
        ).fetchall()
    if not rows:
        return f"No city has a value for {indicator_name} ({code}) in {year}."
    better = {"lower_is_better": "lower is better", "higher_is_better": "higher is better"}.get(
        direction, "no direction")
    title = f"{indicator_name} ({code}, {domain}) in {year}: {unit_label}, {better}"
    return title + "\n" + format_table(["city", "city_id", "value", "quality", "sources", "feeds"], rows)
