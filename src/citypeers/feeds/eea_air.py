"""EEA air quality e-Reporting (E1a) time series CSV files → parsed air measurements.

The location is a path glob with `{home}` and `{year}`; each year of the interval is read.
Quirks of the real export that the parser handles (see ../shared/data/eea_ereporting/):

- every hour can appear once per SamplingProcess of the same sampling point, with the same value.
  Counting both would double the hour in every mean, so parse keeps one row per station,
  pollutant and hour: a usable row before a broken one, a valid before an invalid one, verified
  (Verification 1) before preliminary (2) and unverified (3), then the lowest SamplingProcess id
  so the choice is stable across reruns;
- timestamps carry the reporting offset (`2013-01-30 01:00:00 +01:00`): `measured_at_utc` is the
  UTC start of the hour, `local_date` the calendar date as reported (the offset's own day);
- `Validity` > 0 means valid (1 valid, 2 and 3 valid below the detection limit; -1, -99 not valid);
- rows are not in time order, and the unit is spelled `µg/m3`.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import duckdb

from citypeers.errors import FeedError
from citypeers.feeds import (
    empty_source_rows_sql,
    finish_air_rows,
    hours_in_interval_sql,
    new_table_name,
    sql_literal,
)
from citypeers.feeds.files import fetch_files
from citypeers.feeds.payloads import LandedPayload, Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed

REQUIRED_COLUMNS = (
    "AirQualityStationEoICode",
    "SamplingProcess",
    "AirPollutant",
    "AveragingTime",
    "Concentration",
    "UnitOfMeasurement",
    "DatetimeBegin",
    "Validity",
    "Verification",
)
POLLUTANT_BY_EEA_NAME = {"PM10": "pm10", "PM2.5": "pm25", "NO2": "no2"}
_DEDUPE_ORDER = "verification ASC NULLS LAST, sampling_process, payload_sha256, source_row"
_NO_ROWS = empty_source_rows_sql("NULL::INTEGER AS verification", "NULL::VARCHAR AS sampling_process")
_CSV_OPTIONS = "header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"', filename = true"


def fetch(feed: Feed, interval: Interval) -> list[Payload]:
    """Every file matching the location for each year of the interval, in path order.

    Files are per year in the station's local time, so the first UTC hours of a year sit in the
    previous year's file: the years of the interval widened by a day are read, and parse keeps
    only the interval's hours."""
    widened = Interval.of(interval.start - timedelta(days=1), interval.end + timedelta(days=1))
    return fetch_files(feed, interval, years=widened.years())


def parse(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, interval: Interval
) -> duckdb.DuckDBPyRelation:
    """Landed e-Reporting CSV files → parsed air rows for the interval (one per station, pollutant, hour)."""
    by_header: dict[tuple[str, ...], list[LandedPayload]] = {}
    for payload in payloads:
        by_header.setdefault(_header(payload, feed), []).append(payload)
    selects = [_source_rows_sql(header, group, interval) for header, group in by_header.items()]
    table = new_table_name("eea_air_rows")
    try:
        con.execute(f"CREATE TEMP TABLE {table} AS {' UNION ALL '.join(selects) or _NO_ROWS}")
    except (duckdb.InvalidInputException, duckdb.IOException, duckdb.ConversionException) as exc:
        raise _csv_error(feed, payloads, exc) from exc
    return finish_air_rows(con, table, feed, interval, dedupe_order=_DEDUPE_ORDER)


def _header(payload: LandedPayload, feed: Feed) -> tuple[str, ...]:
    """The column names of a file, checked to hold every column the parser needs."""
    with payload.path.open("rb") as handle:
        first_line = handle.readline()
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedError(
            feed.feed_id,
            "the header is not UTF-8 text",
            where=f"{payload.path} line 1",
            action="the file is not an e-Reporting CSV (binary, or another encoding); check the source",
        ) from exc
    header = tuple(name.strip() for name in next(csv.reader(io.StringIO(text)), []))
    if not header:
        raise FeedError(
            feed.feed_id,
            "empty file",
            where=str(payload.path),
            action="the download was cut off; fetch the period again",
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise FeedError(
            feed.feed_id,
            f"missing column(s) {', '.join(missing)}",
            where=f"{payload.path} line 1 (header: {','.join(header)})",
            action="the file is not in the EEA e-Reporting E1a layout; check the feed's location",
        )
    return header


def _source_rows_sql(header: tuple[str, ...], payloads: list[LandedPayload], interval: Interval) -> str:
    """One SELECT over files that share a header: every column read as text, then cast, so a bad
    cell becomes a row error instead of failing the whole file. Only the interval's hours (and rows
    without a readable hour) are kept, so a day's run over a year's file stores a day of rows."""
    by_path = {str(p.path): p.sha256 for p in payloads}  # identical payloads land at one path: read it once
    files = "[" + ", ".join(sql_literal(path) for path in by_path) + "]"
    columns = "{" + ", ".join(f"{sql_literal(name)}: 'VARCHAR'" for name in header) + "}"
    hashes = ", ".join(f"({sql_literal(path)}, {sql_literal(sha256)})" for path, sha256 in by_path.items())
    pollutants = ", ".join(f"({sql_literal(k)}, {sql_literal(v)})" for k, v in POLLUTANT_BY_EEA_NAME.items())
    return f"""
    SELECT
        station_id,
        coalesce(eea_pollutants.pollutant, lower(air_pollutant)) AS pollutant,
        timezone('UTC', begins_at) AS measured_at_utc,
        CASE WHEN begins_at IS NOT NULL THEN try_cast(left(datetime_begin, 10) AS DATE) END AS local_date,
        concentration_value AS source_value,
        "UnitOfMeasurement" AS source_unit,
        coalesce(validity_flag > 0, false) AS is_valid,
        payload_hashes.payload_sha256,
        source_row,
        nullif(concat_ws('; ',
            CASE WHEN station_id IS NULL THEN 'no AirQualityStationEoICode' END,
            CASE WHEN eea_pollutants.pollutant IS NULL
                THEN 'AirPollutant ' || coalesce(air_pollutant, '(empty)')
                    || ' is not PM10, PM2.5 or NO2' END,
            CASE WHEN begins_at IS NULL
                THEN 'unreadable DatetimeBegin ' || coalesce(datetime_begin, '(empty)') END,
            CASE WHEN coalesce(trim("AveragingTime"), '') <> 'hour'
                THEN 'AveragingTime ' || coalesce("AveragingTime", '(empty)') || ' is not hour' END,
            CASE WHEN concentration_text IS NOT NULL
                    AND (concentration_value IS NULL OR NOT isfinite(concentration_value))
                THEN 'unreadable Concentration ' || concentration_text END,
            CASE WHEN concentration_text IS NULL AND validity_flag > 0
                THEN 'valid-flagged hour without Concentration' END,
            CASE WHEN validity_flag IS NULL THEN 'unreadable Validity ' || coalesce("Validity", '(empty)') END
        ), '') AS row_error,
        try_cast("Verification" AS INTEGER) AS verification,
        "SamplingProcess" AS sampling_process
    FROM (
        SELECT
            *,
            nullif(trim("AirQualityStationEoICode"), '') AS station_id,
            nullif(trim("AirPollutant"), '') AS air_pollutant,
            trim("DatetimeBegin") AS datetime_begin,
            try_strptime(trim("DatetimeBegin"), '%Y-%m-%d %H:%M:%S %z') AS begins_at,
            nullif(trim("Concentration"), '') AS concentration_text,
            try_cast(trim("Concentration") AS DOUBLE) AS concentration_value,
            try_cast(trim("Validity") AS INTEGER) AS validity_flag,
            -- the header is line 1; the streaming row_number keeps file order (tested on the real file)
            scan_position - min(scan_position) OVER (PARTITION BY filename) + 2 AS source_row
        FROM (
            SELECT *, row_number() OVER () AS scan_position
            FROM read_csv({files}, {_CSV_OPTIONS}, columns = {columns})
        )
    ) AS cells
    LEFT JOIN (VALUES {hashes}) AS payload_hashes(filename, payload_sha256) USING (filename)
    LEFT JOIN (VALUES {pollutants}) AS eea_pollutants(eea_name, pollutant)
        ON cells.air_pollutant = eea_pollutants.eea_name
    WHERE {hours_in_interval_sql("timezone('UTC', cells.begins_at)", interval)}
    """


def _csv_error(feed: Feed, payloads: list[LandedPayload], exc: duckdb.Error) -> FeedError:
    """DuckDB's CSV error → which file and line, and what is wrong, in one readable sentence."""
    message = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", message)
    file = re.search(r"^\s*file = (.+)$", message, re.MULTILINE)
    columns = re.search(r"Expected Number of Columns: \d+ Found: \d+", message)
    where = file.group(1).strip() if file else ", ".join(str(p.path) for p in payloads)
    if line:
        where += f" line {line.group(1)}"
    problem = columns.group(0) if columns else message.splitlines()[0]
    return FeedError(
        feed.feed_id,
        f"unreadable CSV ({problem})",
        where=where,
        action="the file is truncated or not in the e-Reporting layout; fetch the period again, "
        "or fix the source file, then re-parse",
    )
