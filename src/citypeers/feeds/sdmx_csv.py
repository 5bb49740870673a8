"""SDMX-CSV files (statistical agencies' exports: OECD, Eurostat, ILO, ...) → indicator observations.

Both versions of the format are read:
- SDMX-CSV 1.0: the first column is `DATAFLOW` (e.g. `ESTAT:NA_MAIN(1.6.0)`);
- SDMX-CSV 2.0: `STRUCTURE`, `STRUCTURE_ID` and `ACTION` columns (the OECD API leaves out
  `STRUCTURE` and adds `STRUCTURE_NAME`). Rows with `ACTION` `D` (delete) carry no figure and
  are quarantined with that reason, never applied.
Then one column per dimension (`REF_AREA`, `MEASURE`, `TIME_PERIOD`, ...), `OBS_VALUE` and
attributes (`UNIT_MEASURE`, `UNIT_MULT`, `OBS_STATUS`, ...).

Real quirks handled: label columns interleaved with the code columns (`REF_AREA,Reference area,...`
in the OECD export; they are ignored), `ID: Name` headers with `code: label` cells (the `labels=both`
export; only the code is used), CRLF line ends, a last line without line end, quoted cells with
commas, `UNIT_MULT` (the value is multiplied by 10^UNIT_MULT), `NaN` or empty `OBS_VALUE` (a row
error: quarantined with its `OBS_STATUS`; a status other than `A`, normal, goes to the note).
No SDMX library is installed, so DuckDB reads the file (`read_csv`, every column as text) and the
mapping below is plain SQL.

The mapping is declared per feed in feeds.yml `options` (column names are SDMX ids, case-sensitive):

    options:
      city_dimension: REF_AREA         # the city key (mapped by the feed's `cities:`, or a city id/name);
                                       # default REF_AREA, or every row is the feed's `city_id` if set
      time_dimension: TIME_PERIOD      # 2024, 2024-03, 2024-Q1, 2024-W05 ... → the year (default)
      unit_column: UNIT_MEASURE        # default; its codes map to pint units through `units:`
      units: {PT_POP: percent, L_PER_CAP_DAY: L / resident / day}
      series:                          # first match wins; rows matching no series are skipped
        - {filter: {MEASURE: TOTTR, FREQ: A}, indicator_code: wastewater_treated_share, unit: percent}
        - {filter: {MEASURE: [NRW, NRW_EST]}, indicator_code: non_revenue_water_share}

A file without an `OBS_VALUE` column is not a file of observations: the feed fails (FeedError).
"""

from __future__ import annotations

import re
from typing import Any

import duckdb

from citypeers.errors import FeedError
from citypeers.feeds import (
    empty_indicator_rows_sql,
    finish_indicator_rows,
    new_table_name,
    sql_identifier,
    sql_literal,
)
from citypeers.feeds.files import fetch_files
from citypeers.feeds.payloads import LandedPayload, Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed

_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_@.\-]*$")
OPTIONS_HELP = "see README 'Adding a feed' (sdmx_csv options: city_dimension, time_dimension, series, units)"


def fetch(feed: Feed, interval: Interval) -> list[Payload]:
    """Every SDMX-CSV file matching the location for the interval's years."""
    return fetch_files(feed, interval)


class _Columns:
    """An SDMX-CSV header: SDMX id → the column (quoted for SQL) and whether its cells are
    `code: label` (an `ID: Name` header). Label columns have names that are not ids; they are
    never looked up."""

    def __init__(self, names: list[str]):
        self.names = names
        self.by_id: dict[str, tuple[str, bool]] = {}
        for name in names:
            sdmx_id, has_label = (name.split(":", 1)[0].strip(), True) if ":" in name else (name.strip(), False)
            if _ID.match(sdmx_id):
                self.by_id.setdefault(sdmx_id, (sql_identifier(name), has_label))

    def __contains__(self, sdmx_id: str) -> bool:
        return sdmx_id in self.by_id

    def code(self, sdmx_id: str) -> str:
        """SQL for the column's code: trimmed, without a `: label` part, NULL when empty."""
        column, has_label = self.by_id[sdmx_id]
        value = f"split_part({column}, ':', 1)" if has_label else column
        return f"nullif(trim({value}), '')"

    def raw(self, sdmx_id: str) -> str:
        return f"nullif(trim({self.by_id[sdmx_id][0]}), '')"


def _read_sql(payload: LandedPayload) -> str:
    return f"read_csv({sql_literal(str(payload.path))}, header = true, all_varchar = true)"


def _columns(con: duckdb.DuckDBPyConnection, payload: LandedPayload, feed: Feed) -> tuple[_Columns, str]:
    """The file's columns and its SDMX-CSV version ("1.0" or "2.0"); FeedError when not SDMX-CSV."""
    where = f"{payload.request} (landed as {payload.path})"
    try:
        columns = _Columns(con.sql(f"SELECT * FROM {_read_sql(payload)} LIMIT 0").columns)
    except duckdb.Error as exc:
        raise FeedError(feed.feed_id, f"cannot read the SDMX-CSV file: {exc}", where=where,
                        action="export the data again as SDMX-CSV (UTF-8, header row), then rerun") from exc
    if columns.names and columns.names[0].split(":", 1)[0].strip() == "DATAFLOW":
        version = "1.0"
    elif "STRUCTURE_ID" in columns:
        version = "2.0"
    else:
        raise FeedError(feed.feed_id, "not SDMX-CSV: the first column is not DATAFLOW (SDMX-CSV 1.0) and there is "
                        f"no STRUCTURE_ID column (2.0); columns: {', '.join(columns.names[:8])}", where=where,
                        action="export the dataset as SDMX-CSV (the agency's 'CSV with labels' or SDMX-CSV option)")
    if "OBS_VALUE" not in columns:
        raise FeedError(feed.feed_id, f"SDMX-CSV {version} file has no OBS_VALUE column, so it holds no "
                        f"observations (columns: {', '.join(columns.names)})", where=where,
                        action="export observations (data, not structure or series attributes only) "
                        "with the OBS_VALUE column, then rerun this interval")
    return columns, version


def _series(feed: Feed) -> list[dict[str, Any]]:
    series = feed.options.get("series")
    if not isinstance(series, list) or not series:
        raise FeedError(feed.feed_id, "options.series is missing or empty: nothing says which SDMX series "
                        "is which indicator", where="feeds.yml", action=OPTIONS_HELP)
    for number, entry in enumerate(series, start=1):
        if not isinstance(entry, dict) or not entry.get("indicator_code") or not isinstance(
            entry.get("filter", {}), dict
        ):
            raise FeedError(feed.feed_id, f"options.series entry {number} needs indicator_code and a filter "
                            "mapping (dimension id: code or list of codes)", where="feeds.yml", action=OPTIONS_HELP)
    return series


def _codes(codes: Any) -> list[str]:
    """A filter's code or list of codes (YAML may read a code such as 2024 as a number)."""
    return [str(code) for code in (codes if isinstance(codes, list) else [codes])]


def _need(columns: _Columns, sdmx_id: str, what: str, feed: Feed, payload: LandedPayload) -> None:
    if sdmx_id not in columns:
        ids = ", ".join(columns.by_id)
        raise FeedError(feed.feed_id, f"{what} column {sdmx_id} is not in the file (SDMX ids in it: {ids})",
                        where=f"{payload.request} (landed as {payload.path})",
                        action=f"fix the feed's options in feeds.yml; {OPTIONS_HELP}")


def _source_rows_sql(con: duckdb.DuckDBPyConnection, payload: LandedPayload, feed: Feed) -> str:
    columns, version = _columns(con, payload, feed)
    series = _series(feed)
    options = feed.options

    city_dimension = options.get("city_dimension") or (None if feed.city_id else "REF_AREA")
    if city_dimension:
        _need(columns, city_dimension, "city_dimension", feed, payload)
    time_dimension = options.get("time_dimension", "TIME_PERIOD")
    _need(columns, time_dimension, "time_dimension", feed, payload)
    unit_column = options.get("unit_column", "UNIT_MEASURE")
    units = {str(code): str(unit) for code, unit in (options.get("units") or {}).items()}
    filter_ids = list(dict.fromkeys(key for entry in series for key in entry.get("filter", {})))
    for sdmx_id in filter_ids:
        _need(columns, sdmx_id, "series filter", feed, payload)

    matches = []
    for number, entry in enumerate(series, start=1):
        conditions = [
            f"{columns.code(key)} IN ({', '.join(sql_literal(code) for code in _codes(codes))})"
            for key, codes in entry.get("filter", {}).items()
        ] or ["true"]
        matches.append(f"WHEN {' AND '.join(conditions)} THEN {number}")
    series_sql = ", ".join(
        f"({number}, {sql_literal(str(entry['indicator_code']))}, {sql_literal(entry.get('unit'))})"
        for number, entry in enumerate(series, start=1)
    )
    units_sql = ", ".join(f"({sql_literal(code)}, {sql_literal(unit)})" for code, unit in sorted(units.items()))
    unit_code = columns.code(unit_column) if unit_column in columns else "NULL"
    structure = columns.code("DATAFLOW") if version == "1.0" else columns.raw("STRUCTURE_ID")
    status = columns.code("OBS_STATUS") if "OBS_STATUS" in columns else "NULL"
    action = columns.code("ACTION") if "ACTION" in columns else "NULL"
    multiplier = (
        f"power(10, coalesce(try_cast({columns.code('UNIT_MULT')} AS INTEGER), 0))" if "UNIT_MULT" in columns else "1"
    )
    key_parts = [columns.code(city_dimension)] if city_dimension else []
    key_parts += [columns.code(sdmx_id) for sdmx_id in filter_ids if sdmx_id != city_dimension]
    series_key = f"concat_ws('.', {', '.join(key_parts)})" if key_parts else "''"
    value = columns.code("OBS_VALUE")
    period = columns.code(time_dimension)
    return f"""
    WITH file_rows AS (
        SELECT *, row_number() OVER () + 1 AS csv_line FROM {_read_sql(payload)}
    ),
    matched AS (
        SELECT *,
            CASE {' '.join(matches)} END AS series_number,
            {value} AS obs_value,
            {period} AS time_period,
            {unit_code} AS unit_code,
            {status} AS obs_status,
            {action} AS row_action
        FROM file_rows
    )
    SELECT
        {columns.code(city_dimension) if city_dimension else 'NULL::VARCHAR'} AS city_key,
        series.indicator_code,
        try_cast(regexp_extract(time_period, '^(\\d{{4}})', 1) AS INTEGER) AS year,
        CASE WHEN lower(obs_value) <> 'nan' THEN try_cast(obs_value AS DOUBLE) * {multiplier} END AS source_value,
        coalesce(series.unit, units.unit) AS source_unit,
        concat_ws(' ', {structure}, {series_key}, time_period) || ' in ' || {sql_literal(payload.request)}
            AS source_ref,
        nullif(concat_ws('; ',
            {sql_literal(f'SDMX-CSV {version}')},
            CASE WHEN obs_status <> 'A' THEN 'OBS_STATUS ' || obs_status END
        ), '') AS note,
        {sql_literal(payload.sha256)} AS payload_sha256,
        csv_line AS source_row,
        nullif(concat_ws('; ',
            CASE WHEN obs_value IS NULL OR lower(obs_value) = 'nan'
                 THEN 'empty OBS_VALUE' || coalesce(' (OBS_STATUS ' || obs_status || ')', '')
                 WHEN try_cast(obs_value AS DOUBLE) IS NULL
                 THEN 'OBS_VALUE ''' || obs_value || ''' is not a number' END,
            CASE WHEN regexp_extract(coalesce(time_period, ''), '^(\\d{{4}})', 1) = ''
                 THEN {sql_literal(time_dimension)} || ' ' || coalesce('''' || time_period || '''', '(empty)')
                      || ' is not an SDMX period such as 2024, 2024-03 or 2024-Q1' END,
            CASE WHEN coalesce(series.unit, units.unit) IS NULL
                 THEN 'no unit: series ' || series.series_number || ' in options.series has no unit and '
                      || {sql_literal(unit_column)} || ' ' || coalesce('''' || unit_code || '''', '(empty)')
                      || ' is not mapped under options.units' END,
            CASE WHEN upper(row_action) = 'D'
                 THEN 'ACTION D (delete): citypeers keeps every period as delivered; '
                      || 'send the period again without this figure' END
        ), '') AS row_error
    FROM matched
    JOIN (VALUES {series_sql}) AS series(series_number, indicator_code, unit) USING (series_number)
    LEFT JOIN {f"(VALUES {units_sql}) AS units(unit_code, unit)" if units_sql else
               "(SELECT NULL::VARCHAR AS unit_code, NULL::VARCHAR AS unit LIMIT 0) AS units"}
        USING (unit_code)
    """


def _source_table(con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed) -> str:
    selects = [_source_rows_sql(con, payload, feed) for payload in payloads] or [empty_indicator_rows_sql()]
    table = new_table_name("sdmx_csv_rows")
    con.execute(f"CREATE TEMP TABLE {table} AS {' UNION ALL '.join(f'SELECT * FROM ({s})' for s in selects)}")
    return table


def source_rows(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed
) -> duckdb.DuckDBPyRelation:
    """The indicator source rows of the landed files (before city mapping and unit conversion)."""
    return con.sql(f"SELECT * FROM {_source_table(con, payloads, feed)} ORDER BY payload_sha256, source_row")


def parse(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, interval: Interval
) -> duckdb.DuckDBPyRelation:
    """Landed SDMX-CSV files → parsed indicator observations for the interval's years.
    `source_row` is the CSV line (the header being line 1)."""
    return finish_indicator_rows(con, _source_table(con, payloads, feed), feed, interval)
