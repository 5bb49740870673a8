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


# Quarantine reasons that are no fault of the feed: rows the platform has no use for. They are kept
# in the quarantine with their reason and reported, but do not count toward the broken-feed share.
OUT_OF_SCOPE = "out of scope"  # a city outside the registry (citypeers.feeds.city_keys)
NOT_A_MEASUREMENT = "not a measurement"  # a cell the table marks as derived (wide_table not_a_measurement)


def is_exclusion(reason: str) -> bool:
    """Whether every part of a quarantine reason is an exclusion, not an error of the feed."""
    prefixes = (f"{OUT_OF_SCOPE}:", f"{NOT_A_MEASUREMENT}:")
    return all(part.strip().startswith(prefixes) for part in reason.split("; "))


def sql_literal(value: object) -> str:
    """A SQL literal for a value the feed or the registry gave us (never trusted as SQL)."""
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A column name exactly as a file spells it, quoted for SQL."""
    return '"' + name.replace('"', '""') + '"'


def new_table_name(prefix: str) -> str:
    """A temp table name no other parse on the same connection uses, so earlier relations stay valid."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def empty_source_rows_sql(*extra_columns: str) -> str:
    """Zero source rows with the right types, for a period that delivered no payload."""
    columns = [f"NULL::{sql_type} AS {name}" for name, sql_type in SOURCE_ROW_COLUMNS]
    return f"SELECT {', '.join([*columns, *extra_columns])} LIMIT 0"


def mapping_table_sql(mapping: dict[str, str], alias: str, key: str, value: str) -> str:
    """A feeds.yml mapping (station → city, sampling point → station) as an inline two-column
    VARCHAR table named `alias`, empty when the feed has none."""
    if not mapping:
        return f"(SELECT NULL::VARCHAR AS {key}, NULL::VARCHAR AS {value} LIMIT 0) AS {alias}"
    values = ", ".join(f"({sql_literal(k)}, {sql_literal(v)})" for k, v in sorted(mapping.items()))
    return f"(VALUES {values}) AS {alias}({key}, {value})"


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S}'"


def hours_in_interval_sql(column: str, interval: Interval) -> str:
    """SQL condition: the UTC hour in `column` falls in the interval, or could not be read (such a
    row has no hour to belong to and is kept for every interval, so its reason reaches the quarantine)."""
    return (
        f"{column} IS NULL OR ({column} >= {_timestamp(interval.start)} "
        f"AND {column} < {_timestamp(interval.end)})"
    )


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
    in_interval = hours_in_interval_sql("measured_at_utc", interval)
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
        LEFT JOIN {mapping_table_sql(feed.stations, 'station_cities', 'station_id', 'city_id')}
            ON source_rows.station_id = station_cities.station_id
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

# --- Indicator observations: every source that reports city figures rather than hourly readings ---

# The "Parsed indicator observations" table without source, feed_id and period (the caller adds them).
PARSED_INDICATOR_COLUMNS: tuple[tuple[str, str], ...] = (
    ("city_id", "VARCHAR"),
    ("indicator_code", "VARCHAR"),
    ("year", "INTEGER"),
    ("value", "DOUBLE"),
    ("unit", "VARCHAR"),
    ("basis", "VARCHAR"),
    ("source_value", "DOUBLE"),
    ("source_unit", "VARCHAR"),
    ("source_ref", "VARCHAR"),
    ("note", "VARCHAR"),
    ("payload_sha256", "VARCHAR"),
    ("source_row", "BIGINT"),
    ("parse_error", "VARCHAR"),
    ("left_out_share", "DOUBLE"),
)

# What an indicator parser's source rows hold before `finish_indicator_rows`.
#   city_key     the feed's own name or code for the city (NULL: the feed's `city_id`)
#   source_unit  a unit pint can read, as the feed (or its feeds.yml mapping) states it
#   source_ref   where the figure comes from, for an official to trace it (file, column, week, ...)
# A parser that validates against a standard may add `left_out_share` (DOUBLE): the share of the
# feed's rows behind the figure left out for `flagged` notices (citypeers.feeds.notices); NULL otherwise.
INDICATOR_SOURCE_ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("city_key", "VARCHAR"),
    ("indicator_code", "VARCHAR"),
    ("year", "INTEGER"),
    ("source_value", "DOUBLE"),
    ("source_unit", "VARCHAR"),
    ("source_ref", "VARCHAR"),
    ("note", "VARCHAR"),
    ("payload_sha256", "VARCHAR"),
    ("source_row", "BIGINT"),
    ("row_error", "VARCHAR"),
)


def empty_indicator_rows_sql() -> str:
    """Zero indicator source rows with the right types, for a period that delivered no payload."""
    columns = [f"NULL::{sql_type} AS {name}" for name, sql_type in INDICATOR_SOURCE_ROW_COLUMNS]
    return f"SELECT {', '.join(columns)} LIMIT 0"


def finish_indicator_rows(
    con: duckdb.DuckDBPyConnection, rows_table: str, feed: Feed, interval: Interval
) -> duckdb.DuckDBPyRelation:
    """Indicator source rows → parsed indicator rows (contract columns, order and types).

    Maps the feed's city keys to city ids (`citypeers.feeds.city_keys`: the feeds.yml mapping,
    else a city id or name, checked against the row's country when the source rows have a
    `country_key` column; rows without a key take the feed's `city_id`), converts every value to
    its indicator's canonical unit (or canonical city total, `basis = 'total'`) through
    `citypeers.units`, and keeps the observations whose year falls in the interval. A row whose
    year could not be read is kept for every interval so that its reason reaches the quarantine.
    A row of a city outside the registry carries only its "out of scope:" reason.
    """
    from citypeers.feeds.city_keys import city_matches_sql

    pairs = con.sql(f"SELECT DISTINCT indicator_code, source_unit FROM {rows_table}").fetchall()
    # An annual figure belongs to the interval holding its 1 January (use yearly schedules).
    in_interval = (
        f"year IS NULL OR (make_date(year, 1, 1) >= DATE '{interval.start:%Y-%m-%d}' "
        f"AND make_date(year, 1, 1) < DATE '{interval.end:%Y-%m-%d}')"
    )
    feed_city = sql_literal(feed.city_id)
    has_share = "left_out_share" in con.sql(f"SELECT * FROM {rows_table} LIMIT 0").columns
    has_country = "country_key" in con.sql(f"SELECT * FROM {rows_table} LIMIT 0").columns
    country = "source_rows.country_key" if has_country else "NULL::VARCHAR"
    city_pairs = con.sql(
        f"SELECT DISTINCT city_key, {country} FROM {rows_table} AS source_rows WHERE city_key IS NOT NULL"
    ).fetchall()
    no_city = sql_literal(f"no city, and feed {feed.feed_id} has no city_id")
    selected = ",\n        ".join(
        f"CAST({name if name != 'left_out_share' or has_share else 'NULL'} AS {sql_type}) AS {name}"
        for name, sql_type in PARSED_INDICATOR_COLUMNS
    )
    return con.sql(f"""
    WITH checked AS (
        SELECT
            source_rows.*,
            CASE WHEN source_rows.city_key IS NULL THEN {feed_city} ELSE city_matches.city_id END AS city_id,
            source_rows.source_value * indicator_factors.factor AS value,
            indicator_factors.unit,
            indicator_factors.basis,
            CASE WHEN starts_with(city_matches.city_problem, {sql_literal(OUT_OF_SCOPE + ":")})
                THEN city_matches.city_problem
                ELSE nullif(concat_ws('; ',
                    source_rows.row_error,
                    CASE WHEN source_rows.row_error IS NULL AND source_rows.source_value IS NULL
                         THEN 'no value' END,
                    indicator_factors.unit_error,
                    city_matches.city_problem,
                    CASE WHEN source_rows.city_key IS NULL AND {feed_city} IS NULL THEN {no_city} END
                ), '')
            END AS parse_error
        FROM {rows_table} AS source_rows
        LEFT JOIN {city_matches_sql(feed, city_pairs)}
            ON source_rows.city_key = city_matches.city_key
            AND {country} IS NOT DISTINCT FROM city_matches.country_key
        LEFT JOIN {units.indicator_factor_table_sql(pairs)}
            ON source_rows.indicator_code IS NOT DISTINCT FROM indicator_factors.indicator_code
            AND source_rows.source_unit IS NOT DISTINCT FROM indicator_factors.source_unit
        WHERE {in_interval}
    )
    SELECT
        {selected}
    FROM checked
    ORDER BY city_id, indicator_code, year, payload_sha256, source_row
    """)

# --- Practices: a registry of what cities did (source `practices`), one schema ---

# The "Parsed practices" table without source, feed_id and period (the caller adds them).
PARSED_PRACTICE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("practice_id", "VARCHAR"),
    ("city_id", "VARCHAR"),
    ("city_key", "VARCHAR"),
    ("title", "VARCHAR"),
    ("domain", "VARCHAR"),
    ("category", "VARCHAR"),
    ("indicator_codes", "VARCHAR"),
    ("start_date", "DATE"),
    ("end_date", "DATE"),
    ("scope", "VARCHAR"),
    ("description", "VARCHAR"),
    ("source_url", "VARCHAR"),
    ("contact", "VARCHAR"),
    ("is_demo", "BOOLEAN"),
    ("payload_sha256", "VARCHAR"),
    ("source_row", "BIGINT"),
    ("parse_error", "VARCHAR"),
)
