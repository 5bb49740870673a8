"""Feed sources: one module per source format, each with `fetch(feed, interval)` and
`parse(con, payloads, feed, interval)` (see docs/architecture.md).

Both air parsers first turn their payloads into *source rows* (one per reported hour, with
`row_error` for what is wrong in the row itself) and then share the last step here,
`finish_air_rows`: map stations to cities, convert units through `citypeers.units`, collect every
row problem into `parse_error`, keep the interval, and return the parsed air columns in contract
order and types. Keeping that step in one place keeps the two sources' rows comparable.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import duckdb

from citypeers import units
from citypeers.intervals import Interval
from citypeers.registry import Feed

# The "Parsed air measurements" table without source, feed_id and period (the caller adds them).
PARSED_AIR_COLUMNS: tuple[tuple[str, str], ...] = (
    ("station_id", "VARCHAR"),
    ("city_id", "VARCHAR"),
    ("pollutant", "VARCHAR"),
    ("measured_at_utc", "TIMESTAMP"),
    ("local_date", "DATE"),
    ("value", "DOUBLE"),
    ("unit", "VARCHAR"),
    ("source_value", "DOUBLE"),
    ("source_unit", "VARCHAR"),
    ("is_valid", "BOOLEAN"),
    ("payload_sha256", "VARCHAR"),
    ("source_row", "BIGINT"),
    ("parse_error", "VARCHAR"),
)

# What a parser's source rows hold before `finish_air_rows` (extra columns may follow, e.g. for dedup).
SOURCE_ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("station_id", "VARCHAR"),
    ("pollutant", "VARCHAR"),
    ("measured_at_utc", "TIMESTAMP"),
    ("local_date", "DATE"),
    ("source_value", "DOUBLE"),
    ("source_unit", "VARCHAR"),
    ("is_valid", "BOOLEAN"),
    ("payload_sha256", "VARCHAR"),
    ("source_row", "BIGINT"),
    ("row_error", "VARCHAR"),
)


def sql_literal(value: object) -> str:
    """A SQL literal for a value the feed or the registry gave us (never trusted as SQL)."""
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def new_table_name(prefix: str) -> str:
    """A temp table name no other parse on the same connection uses, so earlier relations stay valid."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def empty_source_rows_sql(*extra_columns: str) -> str:
    """Zero source rows with the right types, for a period that delivered no payload."""
    columns = [f"NULL::{sql_type} AS {name}" for name, sql_type in SOURCE_ROW_COLUMNS]
    return f"SELECT {', '.join([*columns, *extra_columns])} LIMIT 0"


def _station_cities_sql(feed: Feed) -> str:
    if not feed.stations:
        return "(SELECT NULL::VARCHAR AS station_id, NULL::VARCHAR AS city_id LIMIT 0) AS station_cities"
    values = ", ".join(
        f"({sql_literal(station)}, {sql_literal(city)})" for station, city in sorted(feed.stations.items())
    )
    return f"(VALUES {values}) AS station_cities(station_id, city_id)"


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S}'"


def finish_air_rows(
    con: duckdb.DuckDBPyConnection,
    rows_table: str,
    feed: Feed,
    interval: Interval,
    *,
    dedupe_order: str | None = None,
) -> duckdb.DuckDBPyRelation:
    """Source rows → parsed air rows (contract columns, order and types), restricted to the interval.

    With `dedupe_order`, keeps one row per station, pollutant and hour: a usable row before a
    broken one, a valid before an invalid one, then `dedupe_order` (SQL over the source rows).
    Rows whose time could not be read have no hour to belong to; they are kept for every interval
    so the reason reaches the quarantine.
    """
    pairs = con.sql(f"SELECT DISTINCT source_unit, pollutant FROM {rows_table}").fetchall()
    in_interval = (
        f"measured_at_utc IS NULL OR (measured_at_utc >= {_timestamp(interval.start)} "
        f"AND measured_at_utc < {_timestamp(interval.end)})"
    )
    unmapped = (
        f"'station ' || coalesce(source_rows.station_id, '(none)') || "
        f"{sql_literal(f' is not mapped to a city in feed {feed.feed_id}')}"
    )
    dedupe = ""
    if dedupe_order:
        dedupe = (
            "QUALIFY measured_at_utc IS NULL OR row_number() OVER (PARTITION BY station_id, pollutant, "
            f"measured_at_utc ORDER BY parse_error IS NULL DESC, is_valid DESC, {dedupe_order}) = 1"
        )
    selected = ",\n        ".join(
        f"CAST({name} AS {sql_type}) AS {name}" for name, sql_type in PARSED_AIR_COLUMNS
    )
    return con.sql(f"""
    WITH checked AS (
        SELECT
            source_rows.*,
            coalesce(station_cities.city_id, {sql_literal(feed.city_id)}) AS city_id,
            source_rows.source_value * unit_factors.factor AS value,
            {sql_literal(units.CANONICAL_UNIT)} AS unit,
            nullif(concat_ws('; ',
                source_rows.row_error,
                unit_factors.unit_error,
                CASE WHEN coalesce(station_cities.city_id, {sql_literal(feed.city_id)}) IS NULL
                     THEN {unmapped} END
            ), '') AS parse_error
        FROM {rows_table} AS source_rows
        LEFT JOIN {_station_cities_sql(feed)} ON source_rows.station_id = station_cities.station_id
        LEFT JOIN {units.factor_table_sql(pairs)}
            ON source_rows.source_unit IS NOT DISTINCT FROM unit_factors.source_unit
            AND source_rows.pollutant IS NOT DISTINCT FROM unit_factors.pollutant
        WHERE {in_interval}
    ),
    kept AS (
        SELECT * FROM checked
        {dedupe}
    )
    SELECT
        {selected}
    FROM kept
    ORDER BY station_id, pollutant, measured_at_utc, payload_sha256, source_row
    """)
